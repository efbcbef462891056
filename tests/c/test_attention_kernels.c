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
    static const int ND[] = {8, 16, 24, 40, 64, 88, 120, 128};   /* avx512: 16-dim vectors, 8 left over */
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


/* The prompt-batch block kernels (attn_block_scores / attn_block_pv) against their refs, bit for
 * bit: key counts 16..320 (whole 16-key blocks; P·V any count), rows 1..13 (row groups of 3 and
 * the rest), head dims 16..256. */
#define BLOCK_MAX_KEYS 320
#define BLOCK_MAX_ROWS 13
static void test_block(const pg_kernels *k) {
    static float kt[BLOCK_MAX_KEYS * MAX_DIM], q[BLOCK_MAX_ROWS * MAX_DIM];
    static float want[BLOCK_MAX_ROWS * BLOCK_MAX_KEYS], got[BLOCK_MAX_ROWS * BLOCK_MAX_KEYS];
    static const int N[] = {16, 48, 160, 320}, ROWS[] = {1, 2, 3, 4, 5, 12, 13}, D[] = {16, 64, 80, 256};
    for (size_t ni = 0; ni < sizeof N / sizeof N[0]; ni++)
        for (size_t ri = 0; ri < sizeof ROWS / sizeof ROWS[0]; ri++)
            for (size_t di = 0; di < sizeof D / sizeof D[0]; di++) {
                const int n = N[ni], nr = ROWS[ri], d = D[di];
                for (int i = 0; i < n * d; i++) kt[i] = pg_fp16_to_fp32(f16(rand_uniform(-2.0f, 2.0f)));
                for (int i = 0; i < nr * d; i++) q[i] = pg_fp16_to_fp32(f16(rand_uniform(-2.0f, 2.0f)));
                if (d % 8 == 0) {
                    memset(got, 0xff, sizeof got);
                    pg_attn_block_scores_ref(d, n / 16, nr, want, BLOCK_MAX_KEYS, q, kt, 1.0f, NULL, n);
                    k->attn_block_scores(d, n / 16, nr, got, BLOCK_MAX_KEYS, q, kt, 1.0f, NULL, n);
                    int ok = 1;
                    for (int r = 0; r < nr; r++)
                        for (int j = 0; j < n; j++) ok &= same_float(want[r * BLOCK_MAX_KEYS + j], got[r * BLOCK_MAX_KEYS + j]);
                    check(ok, "%-6s attn_block_scores n=%d rows=%d dk=%d: == ref", k->path, n, nr, d);
                    /* the contract: vec_dot_tile[F32] of the path (key j as a row, q rows as activations) */
                    static float krows[BLOCK_MAX_KEYS * MAX_DIM], tile[BLOCK_MAX_ROWS * BLOCK_MAX_KEYS];
                    for (int j = 0; j < n; j++)
                        for (int e = 0; e < d; e++) krows[j * d + e] = kt[((j / 16) * d + e) * 16 + j % 16];
                    for (int j = 0; j < n; j += 8)
                        for (int r = 0; r < nr; r += 8)
                            pg_vec_dot_tile(k, PG_TYPE_F32, d, tile + r * BLOCK_MAX_KEYS + j, BLOCK_MAX_KEYS * sizeof(float),
                                            krows + j * d, d * sizeof(float), q + r * d, d * sizeof(float), 8,
                                            nr - r < 8 ? nr - r : 8);
                    ok = 1;
                    for (int r = 0; r < nr; r++)
                        for (int j = 0; j < n; j++) ok &= same_float(tile[r * BLOCK_MAX_KEYS + j], got[r * BLOCK_MAX_KEYS + j]);
                    check(ok, "%-6s attn_block_scores n=%d rows=%d dk=%d: == vec_dot_tile[F32]", k->path, n, nr, d);
                    /* scaled and masked (a row without a mask, -INF holes), keys past n - 5 -INF */
                    static float mask_data[BLOCK_MAX_ROWS][BLOCK_MAX_KEYS];
                    const float *masks[BLOCK_MAX_ROWS];
                    for (int r = 0; r < nr; r++) {
                        for (int j = 0; j < n; j++) mask_data[r][j] = j % 11 == r % 11 ? -INFINITY : rand_uniform(-1.0f, 0.0f);
                        masks[r] = r % 4 == 1 ? NULL : mask_data[r];
                    }
                    memset(got, 0xff, sizeof got);
                    pg_attn_block_scores_ref(d, n / 16, nr, want, BLOCK_MAX_KEYS, q, kt, 0.125f, masks, n - 5);
                    k->attn_block_scores(d, n / 16, nr, got, BLOCK_MAX_KEYS, q, kt, 0.125f, masks, n - 5);
                    ok = 1;
                    for (int r = 0; r < nr; r++)
                        for (int j = 0; j < n; j++) {
                            ok &= same_float(want[r * BLOCK_MAX_KEYS + j], got[r * BLOCK_MAX_KEYS + j]);
                            if (j < n - 5)
                                ok &= same_float(got[r * BLOCK_MAX_KEYS + j], masks[r] ? tile[r * BLOCK_MAX_KEYS + j] * 0.125f + masks[r][j]
                                                                                      : tile[r * BLOCK_MAX_KEYS + j] * 0.125f);
                            else ok &= got[r * BLOCK_MAX_KEYS + j] == -INFINITY;
                        }
                    check(ok, "%-6s attn_block_scores n=%d rows=%d dk=%d: scaled, masked, -INF past n_valid", k->path, n, nr, d);
                }
                /* P·V: kt as V ([d / 16][n][16] with block stride n * 16), probabilities some zero,
                 * over n - 5 positions (a count off the lanes) */
                if (d % 16 == 0) {
                    const int np = n - 5;
                    for (int i = 0; i < nr * BLOCK_MAX_KEYS; i++)
                        want[i] = i % 7 == 0 ? 0.0f : pg_fp16_to_fp32(f16(rand_uniform(0.0f, 0.05f)));
                    memcpy(got, want, sizeof got);   /* the probabilities, kept in both */
                    static float o_want[BLOCK_MAX_ROWS * MAX_DIM], o_got[BLOCK_MAX_ROWS * MAX_DIM];
                    memset(o_got, 0xff, sizeof o_got);
                    pg_attn_block_pv_ref(np, d, nr, o_want, MAX_DIM, kt, (size_t)n * 16, want, BLOCK_MAX_KEYS);
                    k->attn_block_pv(np, d, nr, o_got, MAX_DIM, kt, (size_t)n * 16, got, BLOCK_MAX_KEYS);
                    int ok = 1;
                    for (int r = 0; r < nr; r++)
                        for (int j = 0; j < d; j++) ok &= same_float(o_want[r * MAX_DIM + j], o_got[r * MAX_DIM + j]);
                    check(ok, "%-6s attn_block_pv n=%d rows=%d dv=%d: == ref", k->path, np, nr, d);
                }
            }
}

/* The block refs compute the query-by-query values: scores == vec_dot_f32's tinyBLAS form (one
 * 8-lane FMA accumulator, hsum) as pg_vec_pv8_f32_ref reduces it, P·V == pg_vec_pv8_f32_ref on
 * the same V blocked by 8 dims. Portable: checked on every host. */
static void test_block_refs(void) {
    static float kt[64 * 96], rows[64 * 96], v8[64 * 96], q[3 * 96], s[3 * 64], p[3 * 64], out[3 * 96], one[96];
    const int n = 64, d = 96, nr = 3;
    for (int i = 0; i < n * d; i++) kt[i] = pg_fp16_to_fp32(f16(rand_uniform(-2.0f, 2.0f)));
    for (int i = 0; i < nr * d; i++) q[i] = pg_fp16_to_fp32(f16(rand_uniform(-2.0f, 2.0f)));
    for (int j = 0; j < n; j++)   /* key j as a row; the same values as V blocked by 8 dims */
        for (int e = 0; e < d; e++) {
            rows[j * d + e] = kt[((j / 16) * d + e) * 16 + j % 16];
            v8[(e / 8) * n * 8 + j * 8 + e % 8] = kt[(e / 16) * n * 16 + j * 16 + e % 16];
        }
    pg_attn_block_scores_ref(d, n / 16, nr, s, n, q, kt, 1.0f, NULL, n);
    int ok = 1;
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            float lane[8];   /* the 8-lane pv8 reduction over "positions" e = the dot's terms */
            for (int l = 0; l < 8; l++) lane[l] = 0.0f;
            for (int e = 0; e < d; e++) lane[e % 8] = fmaf(q[r * d + e], rows[j * d + e], lane[e % 8]);
            const float t0 = lane[0] + lane[4], t1 = lane[1] + lane[5], t2 = lane[2] + lane[6], t3 = lane[3] + lane[7];
            ok &= same_float((t0 + t2) + (t1 + t3), s[r * n + j]);
        }
    check(ok, "ref    attn_block_scores: == the one-accumulator dot with tinyBLAS's hsum");
    for (int i = 0; i < nr * n; i++) p[i] = i % 5 == 0 ? 0.0f : pg_fp16_to_fp32(f16(rand_uniform(0.0f, 0.05f)));
    pg_attn_block_pv_ref(n - 3, d, nr, out, d, kt, (size_t)n * 16, p, n);
    ok = 1;
    for (int r = 0; r < nr; r++) {
        pg_vec_pv8_f32_ref(n - 3, d, one, v8, (size_t)n * 8, p + r * n);
        for (int e = 0; e < d; e++) ok &= same_float(one[e], out[r * d + e]);
    }
    check(ok, "ref    attn_block_pv: == pg_vec_pv8_f32_ref row by row");
}

int main(void) {
    rand_seed(7);
    test_refs_against_double();
    test_block_refs();
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
        if (k->attn_block_scores) { test_block(k); tested++; }
        else printf("note: %s has no attn_block kernels (a prompt's attention goes query by query)\n", paths[i]);
        if (k->attn_pv_f16) { test_pv(k); tested++; }
        else printf("note: %s has no attn_pv_f16 (attention loops over vec_mad_f16)\n", paths[i]);
    }
    if (!tested) printf("note: no path with single-query attention kernels or an F16 gemv here\n");
    return harness_report();
}
