/* Persistent worker threads and the graph executor.
 *
 * The caller is thread 0; n_threads-1 workers wait for a job (spin briefly, then sleep on a
 * condition variable, so an idle engine burns no CPU). A job is a node list: every thread walks
 * it, runs its share of each node (ith/nth), and meets the others at a barrier after each node. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define pg_cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define pg_cpu_relax() __asm__ volatile("yield" ::: "memory")
#else
#define pg_cpu_relax() ((void)0)
#endif

#define PG_SPIN_BEFORE_SLEEP 20000   /* pauses a worker spins on an empty queue before sleeping */
#define PG_SPIN_BEFORE_YIELD 2000    /* pauses at a barrier before yielding the core */

typedef struct {
    pg_tensor *const *nodes;
    int n_nodes;
    void *work;
    size_t work_size;
    pg_profile *profile;
} pg_job;

struct pg_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    pthread_mutex_t run_lock;      /* one job at a time: callers on other threads wait here */
    atomic_int job_gen;            /* bumped once per posted job */
    atomic_int stop;
    pg_job job;
    /* barrier: arrivals and generation, each on its own cache line */
    _Alignas(PG_CACHE_LINE) atomic_int barrier_count;
    _Alignas(PG_CACHE_LINE) atomic_int barrier_gen;
    _Alignas(PG_CACHE_LINE) atomic_llong chunk_next;   /* shared work counter for mul_mat */
    atomic_int error;              /* first PG_ERR_* a node reported in this job, 0 if none */
    const pg_tensor *error_node;   /* the node that reported it */
};

void pg_barrier(const pg_compute_params *p) {
    if (p->nth == 1) return;
    pg_threadpool *tp = p->tp;
    int gen = atomic_load_explicit(&tp->barrier_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&tp->barrier_count, 1, memory_order_acq_rel) == p->nth - 1) {
        atomic_store_explicit(&tp->barrier_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&tp->barrier_gen, 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&tp->barrier_gen, memory_order_acquire) == gen; spins++) {
        if (spins < PG_SPIN_BEFORE_YIELD) pg_cpu_relax();
        else sched_yield();
    }
}

atomic_llong *pg_threadpool_chunk_counter(pg_threadpool *tp) { return &tp->chunk_next; }

void pg_compute_error(const pg_compute_params *p, const pg_tensor *node, int code) {
    int none = 0;
    if (atomic_compare_exchange_strong(&p->tp->error, &none, code)) p->tp->error_node = node;
}

int pg_graph_error_node(const pg_threadpool *tp) {
    for (int i = 0; i < tp->job.n_nodes; i++)
        if (tp->job.nodes[i] == tp->error_node) return i;
    return -1;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define PG_PREFETCH_AHEAD 12   /* graph nodes */

static int is_noop(int op) {
    return op == PG_OP_NONE || op == PG_OP_VIEW || op == PG_OP_RESHAPE || op == PG_OP_PERMUTE ||
           op == PG_OP_TRANSPOSE;
}

static void run_job(pg_threadpool *tp, int ith) {
    const pg_job job_now = tp->job;   /* a copy: the caller may post the next job while we finish */
    const pg_job *job = &job_now;
    pg_compute_params p = {
        .ith = ith, .nth = tp->n_threads, .wdata = job->work, .wsize = job->work_size,
        .k = pg_active_kernels, .tp = tp,
    };
    int n_run = 0, prefetched = -1;
    for (int i = 0; i < job->n_nodes; i++) {
        pg_tensor *node = job->nodes[i];
        if (is_noop(node->op)) continue;
        n_run++;
        /* the first attention within PG_PREFETCH_AHEAD nodes, once: its cache on the way while
         * the projections before it run */
        for (int j = i + 1; j < job->n_nodes && j <= i + PG_PREFETCH_AHEAD && prefetched < i + PG_PREFETCH_AHEAD; j++)
            if (j > prefetched && job->nodes[j]->op == PG_OP_FLASH_ATTN_EXT) {
                pg_prefetch_ahead(&p, job->nodes[j]);
                prefetched = j;
                break;
            }
        uint64_t t0 = (ith == 0 && job->profile) ? now_ns() : 0;
        pg_compute_forward(&p, node);
        pg_barrier(&p);
        if (ith == 0 && job->profile) {
            job->profile->ns[node->op] += now_ns() - t0;
            job->profile->count[node->op] += 1;
        }
        if (atomic_load_explicit(&tp->error, memory_order_relaxed)) break;   /* the same for all: set before the barrier */
    }
    /* A job with nothing to run still meets once, so no worker copies the job slot late (after
     * the caller has posted the next job). */
    if (n_run == 0) pg_barrier(&p);
}

static void *worker_main(void *arg) {
    void **a = arg;
    pg_threadpool *tp = a[0];
    int ith = (int)(intptr_t)a[1];
    free(arg);
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&tp->job_gen, memory_order_acquire) == seen &&
               !atomic_load(&tp->stop)) {
            if (++spins < PG_SPIN_BEFORE_SLEEP) { pg_cpu_relax(); continue; }
            pthread_mutex_lock(&tp->mutex);
            while (atomic_load(&tp->job_gen) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cond, &tp->mutex);
            pthread_mutex_unlock(&tp->mutex);
        }
        if (atomic_load(&tp->stop)) return NULL;
        seen = atomic_load(&tp->job_gen);
        run_job(tp, ith);
    }
}

pg_threadpool *pg_threadpool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    pg_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->mutex, NULL);
    pthread_cond_init(&tp->cond, NULL);
    pthread_mutex_init(&tp->run_lock, NULL);
    tp->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    for (int i = 1; i < n_threads; i++) {
        void **arg = malloc(2 * sizeof(void *));
        arg[0] = tp;
        arg[1] = (void *)(intptr_t)i;
        if (pthread_create(&tp->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            tp->n_threads = i;  /* run with the threads we got */
            break;
        }
    }
    return tp;
}

int pg_threadpool_n_threads(const pg_threadpool *tp) { return tp->n_threads; }

void pg_threadpool_free(pg_threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mutex);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cond);
    pthread_mutex_unlock(&tp->mutex);
    for (int i = 1; i < tp->n_threads; i++) pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->mutex);
    pthread_cond_destroy(&tp->cond);
    pthread_mutex_destroy(&tp->run_lock);
    free(tp->threads);
    free(tp);
}

size_t pg_graph_work_size(pg_tensor *const *nodes, int n_nodes, int n_threads) {
    size_t need = 0;
    for (int i = 0; i < n_nodes; i++) {
        size_t w = pg_op_work_size(nodes[i], n_threads);
        if (w > need) need = w;
    }
    return need;
}

int pg_graph_compute(pg_threadpool *tp, pg_tensor *const *nodes, int n_nodes, void *work,
                     size_t work_size, pg_profile *profile) {
    if (!pg_active_kernels) return -1;
    /* The workers, the job slot, the barrier and the chunk counter serve one job at a time: a
     * second caller (another thread sharing the pool) waits for the running graph to finish. */
    pthread_mutex_lock(&tp->run_lock);
    tp->job = (pg_job){nodes, n_nodes, work, work_size, profile};
    atomic_store(&tp->error, 0);
    tp->error_node = NULL;
    if (tp->n_threads > 1) {
        pthread_mutex_lock(&tp->mutex);
        atomic_fetch_add_explicit(&tp->job_gen, 1, memory_order_release);
        pthread_cond_broadcast(&tp->cond);
        pthread_mutex_unlock(&tp->mutex);
    }
    run_job(tp, 0);
    int rc = atomic_load(&tp->error);
    pthread_mutex_unlock(&tp->run_lock);
    return rc;
}
