/* The single-query attention kernels (pg_kernels.attn_scores_f16 / attn_pv_f16) of every SIMD
 * path available here that has them, bit for bit against their refs (csrc/ops/vec_pv_ref.c) and
 * the scores against the path's own vec_dot_gemv[F16] (their contract): odd key counts (the
 * 8-key blocks and the double tail past n & ~31), GQA groups of 1..5 heads, head dims 32..256,
 * strided K/V rows. A path without them is named (attention.c then loops over its gemv/mad; its
 * F16 gemv is then checked against the scores ref); P·V over keys from a multiple of 32 equals P·V
 * over all keys with the ones before it at probability zero (the masked prefix attention.c skips).
 * The refs themselves are checked against
 * exact double sums on every host.
 * Prints "N passed, N failed"; exits non-zero on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels.h"
#include "ops/vec_ref.h"

#define MAX_KEYS 300
#define MAX_DIM 256
#define MAX_HEADS 5

static const int KEYS[] = {1, 7, 8, 31, 32, 33, 100, 257, 300};
static const int DIMS[] = {32, 64, 96, 128, 256};

static uint16_t f16(float x) { return pg_fp32_to_fp16(x); }

static void test_scores(const pg_kernels *k) {
    static uint16_t K[MAX_KEYS * (MAX_DIM + 16)], q[MAX_HEADS * MAX_DIM];
    static float want[MAX_HEADS * MAX_KEYS], got[MAX_HEADS * MAX_KEYS], own[MAX_HEADS * MAX_KEYS];
    for (size_t ki = 0; ki < sizeof KEYS / sizeof KEYS[0]; ki++)
        for (size_t di = 0; di < sizeof DIMS / sizeof DIMS[0]; di++)
            for (int nq = 1; nq <= MAX_HEADS; nq++) {
                const int n = KEYS[ki], dk = DIMS[di];
                const size_t stride = (size_t)dk + 16;   /* rows of a wider cache */
                for (size_t i = 0; i < (size_t)n * stride; i++) K[i] = f16(rand_uniform(-2.0f, 2.0f));
                for (int i = 0; i < nq * dk; i++) q[i] = f16(rand_uniform(-2.0f, 2.0f));
                memset(got, 0xff, sizeof got);
                pg_attn_scores_f16_ref(n, dk, nq, want, MAX_KEYS, K, stride, q);
                /* without the fused kernel, attention.c loops over vec_dot_gemv[F16]: that must be the ref */
                if (k->attn_scores_f16) k->attn_scores_f16(n, dk, nq, got, MAX_KEYS, K, stride, q);
                else memcpy(got, want, sizeof got);
                int ok = 1, ok_own = 1;
                for (int c = 0; c < nq; c++)
                    for (int j = 0; j < n; j++) {
                        k->vec_dot_gemv[PG_TYPE_F16](dk, &own[c * MAX_KEYS + j], K + j * stride, q + c * dk);
                        ok &= same_float(want[c * MAX_KEYS + j], got[c * MAX_KEYS + j]);
                        ok_own &= same_float(own[c * MAX_KEYS + j], got[c * MAX_KEYS + j]);
                    }
                check(ok, "%-6s attn_scores_f16 n=%d dk=%d nq=%d: == ref", k->path, n, dk, nq);
                check(ok_own, "%-6s attn_scores_f16 n=%d dk=%d nq=%d: == vec_dot_gemv[F16]", k->path, n, dk, nq);
            }
}

static void test_pv(const pg_kernels *k) {
    static uint16_t V[MAX_KEYS * (MAX_DIM + 8)];
    static float p[MAX_HEADS * MAX_KEYS], want[MAX_HEADS * MAX_DIM], got[MAX_HEADS * MAX_DIM];
    static const int ND[] = {8, 16, 24, 40, 64, 128};
    for (size_t ki = 0; ki < sizeof KEYS / sizeof KEYS[0]; ki++)
        for (size_t di = 0; di < sizeof ND / sizeof ND[0]; di++)
            for (int nh = 1; nh <= MAX_HEADS; nh++) {
                const int n = KEYS[ki], nd = ND[di];
                const size_t stride = (size_t)nd + 8;
                for (size_t i = 0; i < (size_t)n * stride; i++) V[i] = f16(rand_uniform(-3.0f, 3.0f));
                for (int i = 0; i < nh * MAX_KEYS; i++)   /* probabilities as F16 values, some zero */
                    p[i] = i % 5 == 0 ? 0.0f : pg_fp16_to_fp32(f16(rand_uniform(0.0f, 0.05f)));
                memset(got, 0xff, sizeof got);
                pg_attn_pv_f16_ref(n, nd, nh, want, MAX_DIM, V, stride, p, MAX_KEYS);
                k->attn_pv_f16(n, nd, nh, got, MAX_DIM, V, stride, p, MAX_KEYS);
                int ok = 1;
                for (int h = 0; h < nh; h++)
                    for (int d = 0; d < nd; d++) ok &= same_float(want[h * MAX_DIM + d], got[h * MAX_DIM + d]);
                check(ok, "%-6s attn_pv_f16 n=%d nd=%d nh=%d: == ref", k->path, n, nd, nh);
                /* attention.c skips a masked prefix of whole blocks of 32 keys (a sliding window):
                 * with their probabilities zero, the keys from 32b on alone give the same bits */
                for (int b = 1; 32 * b < n; b++) {
                    for (int h = 0; h < nh; h++) memset(p + h * MAX_KEYS, 0, (size_t)(32 * b) * sizeof(float));
                    k->attn_pv_f16(n, nd, nh, want, MAX_DIM, V, stride, p, MAX_KEYS);
                    k->attn_pv_f16(n - 32 * b, nd, nh, got, MAX_DIM, V + (size_t)(32 * b) * stride, stride, p + 32 * b,
                                   MAX_KEYS);
                    ok = 1;
                    for (int h = 0; h < nh; h++)
                        for (int d = 0; d < nd; d++) ok &= same_float(want[h * MAX_DIM + d], got[h * MAX_DIM + d]);
                    check(ok, "%-6s attn_pv_f16 n=%d nd=%d nh=%d: keys from %d alone == all, the first zero", k->path, n,
                          nd, nh, 32 * b);
                }
            }
}

/* The refs themselves (every path falls back to their order or checks against them) against the
 * exact sums in double: error within float rounding of the sum of |products|. */
static void test_refs_against_double(void) {
    static uint16_t K[MAX_KEYS * MAX_DIM], q[MAX_HEADS * MAX_DIM];
    static float scores[MAX_HEADS * MAX_KEYS], p[MAX_HEADS * MAX_KEYS], out[MAX_HEADS * MAX_DIM];
    for (size_t ki = 0; ki < sizeof KEYS / sizeof KEYS[0]; ki++)
        for (size_t di = 0; di < sizeof DIMS / sizeof DIMS[0]; di++) {
            const int n = KEYS[ki], dk = DIMS[di], nq = 1 + (int)(ki % MAX_HEADS);
            for (int i = 0; i < n * dk; i++) K[i] = f16(rand_uniform(-2.0f, 2.0f));
            for (int i = 0; i < nq * dk; i++) q[i] = f16(rand_uniform(-2.0f, 2.0f));
            for (int i = 0; i < nq * MAX_KEYS; i++) p[i] = pg_fp16_to_fp32(f16(rand_uniform(0.0f, 0.05f)));
            pg_attn_scores_f16_ref(n, dk, nq, scores, MAX_KEYS, K, (size_t)dk, q);
            pg_attn_pv_f16_ref(n, dk, nq, out, MAX_DIM, K, (size_t)dk, p, MAX_KEYS);   /* K as V */
            int ok_scores = 1, ok_pv = 1;
            for (int c = 0; c < nq; c++) {
                for (int j = 0; j < n; j++) {
                    double exact = 0.0, size = 0.0;
                    for (int d = 0; d < dk; d++) {
                        const double t = (double)pg_fp16_to_fp32(K[j * dk + d]) * pg_fp16_to_fp32(q[c * dk + d]);
                        exact += t;
                        size += t < 0 ? -t : t;
                    }
                    const double err = scores[c * MAX_KEYS + j] - exact;
                    ok_scores &= (err < 0 ? -err : err) <= 1e-6 * size + 1e-30;
                }
                for (int d = 0; d < dk; d++) {
                    double exact = 0.0, size = 0.0;
                    for (int j = 0; j < n; j++) {
                        const double t = (double)p[c * MAX_KEYS + j] * pg_fp16_to_fp32(K[j * dk + d]);
                        exact += t;
                        size += t < 0 ? -t : t;
                    }
                    const double err = out[c * MAX_DIM + d] - exact;
                    ok_pv &= (err < 0 ? -err : err) <= 1e-6 * size + 1e-30;
                }
            }
            check(ok_scores, "ref    attn_scores_f16 n=%d dk=%d nq=%d: within 1e-6 of the exact sums", n, dk, nq);
            check(ok_pv, "ref    attn_pv_f16 n=%d nd=%d nh=%d: within 1e-6 of the exact sums", n, dk, nq);
        }
}

int main(void) {
    rand_seed(7);
    test_refs_against_double();
    static const char *paths[] = {"scalar", "avx2", "avx512", "neon"};
    int tested = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const pg_kernels *k = pg_simd_path_kernels(paths[i]);
        if (!k) {
            if (pg_simd_path_built(paths[i])) printf("note: %s not available on this CPU, not tested\n", paths[i]);
            continue;
        }
        rand_seed(42 + i);
        if (!k->attn_scores_f16)
            printf("note: %s has no attn_scores_f16: attention loops over %s\n", paths[i],
                   k->vec_dot_gemv[PG_TYPE_F16] ? "vec_dot_gemv[F16] (checked against the ref)" : "vec_dot[F16] (no F16 gemv)");
        if (k->vec_dot_gemv[PG_TYPE_F16]) { test_scores(k); tested++; }
        if (k->attn_pv_f16) { test_pv(k); tested++; }
        else printf("note: %s has no attn_pv_f16 (attention loops over vec_mad_f16)\n", paths[i]);
    }
    if (!tested) printf("note: no path with single-query attention kernels or an F16 gemv here\n");
    return harness_report();
}
