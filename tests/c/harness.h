/* Tiny shared helpers of the C kernel tests (header-only; one test program per test_*.c):
 * deterministic random data, comparisons, and the tally every program ends with:
 * one line "N passed, N failed", exit status non-zero on any failure. */
#ifndef PG_TEST_HARNESS_H
#define PG_TEST_HARNESS_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int harness_passed = 0, harness_failed = 0;

/* Count one check; on failure print "FAIL " and the printf-style description. */
static void check(int ok, const char *fmt, ...) {
    if (ok) { harness_passed++; return; }
    harness_failed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

/* Print the summary line; the program's exit status. */
static int harness_report(void) {
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    return harness_failed ? 1 : 0;
}

/* ---- deterministic random data (xorshift64*) ---- */

static uint64_t harness_rng = 0x9e3779b97f4a7c15ull;

static void rand_seed(uint64_t seed) { harness_rng = seed * 0x9e3779b97f4a7c15ull + 1; }

static uint32_t rand_u32(void) {
    harness_rng ^= harness_rng >> 12;
    harness_rng ^= harness_rng << 25;
    harness_rng ^= harness_rng >> 27;
    return (uint32_t)((harness_rng * 0x2545f4914f6cdd1dull) >> 32);
}

/* uniform in [lo, hi) */
static float rand_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(rand_u32() >> 8) * (1.0f / 16777216.0f);
}

/* standard normal (Box-Muller) */
static float rand_normal(void) {
    const double u1 = ((double)rand_u32() + 1.0) / 4294967297.0, u2 = (double)rand_u32() / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void rand_bytes(void *p, size_t n) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rand_u32();
}

/* ---- comparisons ---- */

/* The same float, or both NaN. */
static int same_float(float a, float b) {
    if (a != a || b != b) return a != a && b != b;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua == ub;
}

/* |got - want| <= tol; NaN matches NaN, an infinity only the same infinity. */
static int close_within(double got, double want, double tol) {
    if (got != got || want != want) return got != got && want != want;
    if (isinf(got) || isinf(want)) return got == want;
    return fabs(got - want) <= tol;
}

/* Index of the first differing byte, or -1. */
static long first_byte_difference(const void *a, const void *b, size_t n) {
    const uint8_t *pa = a, *pb = b;
    for (size_t i = 0; i < n; i++)
        if (pa[i] != pb[i]) return (long)i;
    return -1;
}

#endif
