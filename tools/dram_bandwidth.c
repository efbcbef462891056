/* DRAM read bandwidth: a streaming sum over a buffer much larger than the caches.
 *
 *   cc -O3 -pthread [-mavx2] tools/dram_bandwidth.c -o dram_bandwidth
 *   ./dram_bandwidth GIB THREADS REPS      -> one line of JSON on stdout
 *
 * The buffer (GIB GiB, touched once before timing so no page faults are timed) is cut into one
 * contiguous slice per thread; every thread sums its slice as 64-bit words into 8 independent
 * accumulators (the compiler vectorizes the loop: 256-bit loads with -mavx2). A repetition is
 * timed from the first thread's start (all wait on a barrier) to the last thread's end; GB/s =
 * bytes / seconds / 1e9, best and median of REPS repetitions. bench_vs_llamacpp.py builds and
 * runs this; it is not part of the pyggml package. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const uint64_t *words;   /* this thread's slice */
    size_t n_words;
    pthread_barrier_t *start;
    uint64_t sum;            /* kept so the reads are not optimized away */
    double t_start, t_end;   /* this thread's own clock readings around its loop */
} slice_t;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *sum_slice(void *arg) {
    slice_t *s = arg;
    uint64_t acc[8] = {0};
    pthread_barrier_wait(s->start);
    s->t_start = now_seconds();
    size_t i = 0;
    for (; i + 8 <= s->n_words; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += s->words[i + k];
    for (; i < s->n_words; i++) acc[0] += s->words[i];
    uint64_t total = 0;
    for (int k = 0; k < 8; k++) total += acc[k];
    s->sum = total;
    s->t_end = now_seconds();
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s GIB THREADS REPS\n", argv[0]);
        return 2;
    }
    double gib = atof(argv[1]);
    int n_threads = atoi(argv[2]), reps = atoi(argv[3]);
    if (gib <= 0 || n_threads < 1 || n_threads > 1024 || reps < 1 || reps > 1000) {
        fprintf(stderr, "bad arguments: GIB > 0, 1 <= THREADS <= 1024, 1 <= REPS <= 1000\n");
        return 2;
    }
    size_t n_words = (size_t)(gib * (double)(1ull << 30)) / sizeof(uint64_t);
    uint64_t *words = aligned_alloc(64, n_words * sizeof(uint64_t));
    if (!words) {
        fprintf(stderr, "cannot allocate %.2f GiB\n", gib);
        return 1;
    }
    memset(words, 1, n_words * sizeof(uint64_t));

    double *seconds = malloc(sizeof(double) * (size_t)reps);
    slice_t *slices = calloc((size_t)n_threads, sizeof(slice_t));
    pthread_t *threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!seconds || !slices || !threads) return 1;
    uint64_t checksum = 0;
    for (int r = 0; r < reps; r++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)n_threads + 1);
        size_t per = (n_words + (size_t)n_threads - 1) / (size_t)n_threads;
        for (int t = 0; t < n_threads; t++) {
            size_t w0 = per * (size_t)t, w1 = w0 + per < n_words ? w0 + per : n_words;
            slices[t] = (slice_t){.words = words + w0, .n_words = w1 > w0 ? w1 - w0 : 0, .start = &start};
            pthread_create(&threads[t], NULL, sum_slice, &slices[t]);
        }
        pthread_barrier_wait(&start);
        /* timed by the workers' own clocks (first start to last end): the main thread may not
         * be scheduled again until they are done when there are no spare cores */
        double t0 = 0, t1 = 0;
        checksum = 0;
        for (int t = 0; t < n_threads; t++) {
            pthread_join(threads[t], NULL);
            checksum += slices[t].sum;
            t0 = t == 0 || slices[t].t_start < t0 ? slices[t].t_start : t0;
            t1 = slices[t].t_end > t1 ? slices[t].t_end : t1;
        }
        seconds[r] = t1 - t0;
        pthread_barrier_destroy(&start);
    }
    qsort(seconds, (size_t)reps, sizeof(double), cmp_double);
    double bytes = (double)(n_words * sizeof(uint64_t));
    printf("{\"gib\": %.3f, \"threads\": %d, \"reps\": %d, \"best_gbps\": %.2f, \"median_gbps\": %.2f, "
           "\"checksum\": %llu}\n", gib, n_threads, reps, bytes / seconds[0] / 1e9,
           bytes / seconds[reps / 2] / 1e9, (unsigned long long)checksum);
    free(threads); free(slices); free(seconds); free(words);
    return 0;
}
