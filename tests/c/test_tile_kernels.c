/* Tiles of dot products (pg_vec_dot_tile, kernels.h) on every SIMD path this build has: each
 * output must be bit-identical to the same path's vec_dot on that (weight row, activation row)
 * pair — for every type with a vec_dot, every tile shape nr x nc up to PG_TILE_ROWS x
 * PG_TILE_COLS, row lengths of 1 to 18 blocks, strided rows and outputs, quantized and raw-byte
 * weights. Outputs outside the tile must stay untouched. A SIMD path must carry its own tile
 * kernels for the types of the real models, or the comparison would prove nothing.
 * Batch kernels (vec_dot_batch, llama.cpp's order for batches of 8+ rows; Q6_K) are held to
 * that order written out below from the block layout, for the same shapes. Tiles over weights
 * repacked by 8 rows (vec_dot_tile_x8, pg_repack_x8) must give vec_dot's values too, and the GEMV
 * kernels over them (vec_dot_gemv_x8) vec_dot_gemv's; so must tiles over two repacked groups at once
 * (vec_dot_tile_x16), for every nr 1..16 (lanes of the second group wrong would show). */
#include <stdlib.h>

#include "harness.h"
#include "kernels.h"
#include "quants/blocks.h"
#if defined(__aarch64__)
#include "arch/arm/quants_neon.h"
#endif

#define MAX_N (18 * 256)
#define ROW_PAD 40                 /* bytes between rows beyond the row itself: strides tested */
#define OUT_STRIDE_FLOATS (PG_TILE_ROWS + 3)

static const pg_type_traits *traits(int type) { return &pg_type_traits_table[type]; }

/* the types of the real models (SmolLM2, Gemma 3 Q4_K_M), which a SIMD path must tile itself;
 * the K-quant tiles must repeat their vec_dot's llama.cpp float orders (Q4_K's repacked GEMM,
 * Q6_K's 8-lane vec_dot) */
static const int MODEL_TYPES[] = {PG_TYPE_Q4_0, PG_TYPE_Q4_1, PG_TYPE_Q5_0, PG_TYPE_Q8_0, PG_TYPE_Q4_K, PG_TYPE_Q6_K};
#define N_MODEL_TYPES (int)(sizeof MODEL_TYPES / sizeof MODEL_TYPES[0])

enum { DATA_QUANTIZED, DATA_RAW, N_DATA };

/* byte offsets of a block's f16 scale fields (block layouts in quants/blocks.h); -1 ends */
static const int *f16_fields(int type) {
    static const int D0[] = {0, -1}, D0_M2[] = {0, 2, -1}, Q2_K[] = {80, 82, -1}, Q3_K[] = {108, -1},
                     Q6_K[] = {208, -1}, NONE[] = {-1};
    switch (type) {
    case PG_TYPE_Q4_0: case PG_TYPE_Q5_0: case PG_TYPE_Q8_0: return D0;
    case PG_TYPE_Q4_1: case PG_TYPE_Q5_1: case PG_TYPE_Q4_K: case PG_TYPE_Q5_K: return D0_M2;
    case PG_TYPE_Q2_K: return Q2_K;
    case PG_TYPE_Q3_K: return Q3_K;
    case PG_TYPE_Q6_K: return Q6_K;
    default: return NONE;
    }
}

/* one weight row: the type's quantizer on gaussian floats of a random magnitude per row, or
 * (quantized types) random bytes everywhere but finite f16 scale fields */
static void make_weight_row(int type, uint8_t *row, int n, int kind) {
    static float f[MAX_N];
    const float scale = powf(10.0f, rand_uniform(-2.0f, 2.0f));
    if (kind == DATA_RAW && traits(type)->is_quantized) {
        const size_t bsize = traits(type)->type_size;
        const int nblocks = n / (int)traits(type)->blck_size;
        rand_bytes(row, pg_row_size(type, n));
        for (int b = 0; b < nblocks; b++)
            for (const int *off = f16_fields(type); *off >= 0; off++) {
                const uint16_t h = pg_fp32_to_fp16(rand_uniform(-2.0f, 2.0f) * scale * 0.01f);
                memcpy(row + b * bsize + *off, &h, 2);
            }
        return;
    }
    for (int i = 0; i < n; i++) f[i] = rand_normal() * scale;
    traits(type)->from_float_ref(f, row, n);
}

/* Q6_K x Q8_K in llama.cpp's order for batches (kernels.h vec_dot_batch), per super-block:
 * isum = sum_i scale[i / 16] * (code_i - 32) * q8_i (exact), acc = fma(yd, d * (float)isum, acc).
 * Element i = 128h + 32j + l takes the low (j < 2) or high nibble of ql[64h + 32 (j % 2) + l]
 * and bits 2j, 2j+1 of qh[32h + l] as its bits 4, 5. */
static float q6_K_batch_order(int n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float acc = 0.0f;
    for (int b = 0; b < n / QK_K; b++) {
        int32_t isum = 0;
        for (int i = 0; i < QK_K; i++) {
            const int h = i / 128, j = (i % 128) / 32, l = i % 32;
            const uint8_t ql = x[b].ql[64 * h + 32 * (j % 2) + l];
            const int nibble = j < 2 ? ql & 15 : ql >> 4;
            const int high = (x[b].qh[32 * h + l] >> (2 * j)) & 3;
            isum += x[b].scales[i / 16] * ((nibble | high << 4) - 32) * y[b].qs[i];
        }
        acc = fmaf(y[b].d, pg_fp16_to_fp32(x[b].d) * (float)isum, acc);
    }
    return acc;
}

/* the reference of a batch kernel, or NULL */
static float (*batch_order(int type))(int, const void *, const void *) {
    return type == PG_TYPE_Q6_K ? q6_K_batch_order : NULL;
}

/* vec_dot_tile_x16 over 16 weight rows repacked as two groups: output (r, c) = vec_dot of row r and
 * activation row c, for nr 1..16 and nc 1..PG_TILE_COLS; nothing written outside the tile */
static int test_x16(const pg_kernels *k, int type, int n, int kind) {
    enum { R16 = 2 * PG_TILE_ROWS, OUT16 = R16 + 3 };
    static uint8_t w[R16][MAX_N * 4], a[PG_TILE_COLS][MAX_N * 4];
    static uint8_t wbuf[R16 * (MAX_N * 4 + ROW_PAD)], packed[R16 * (MAX_N * 4 + ROW_PAD)];
    static uint8_t xact[PG_TILE_COLS * (MAX_N * 4 + ROW_PAD)];
    static float act[MAX_N];
    const pg_vec_dot_tile_fn x16 = k->vec_dot_tile_x16[type];
    const int partner = traits(type)->vec_dot_type, sums = type == PG_TYPE_Q4_0;
    const size_t wrow = pg_row_size(type, n) + ROW_PAD;
    const size_t xrow = (sums ? pg_x8_activation_row_bytes(n) : pg_row_size(partner, n)) + ROW_PAD;
    for (int r = 0; r < R16; r++) {
        make_weight_row(type, w[r], n, kind);
        memcpy(wbuf + r * wrow, w[r], wrow - ROW_PAD);
    }
    check(pg_repack_x8(type, wbuf, wrow, packed, R16, n) == 0, "%s repack %s n=%d (16 rows) failed", k->path,
          traits(type)->name, n);
    for (int c = 0; c < PG_TILE_COLS; c++) {
        for (int i = 0; i < n; i++) act[i] = rand_normal() * 2.0f;
        k->from_float[partner](act, a[c], n);
        memcpy(xact + c * xrow, a[c], pg_row_size(partner, n));
        if (sums) pg_x8_activation_sums(xact + c * xrow, n);
    }
    float want[PG_TILE_COLS][R16];
    for (int c = 0; c < PG_TILE_COLS; c++)
        for (int r = 0; r < R16; r++) k->vec_dot[type](n, &want[c][r], w[r], a[c]);
    int all_ok = 1;
    for (int nr = 1; nr <= R16; nr++)
        for (int nc = 1; nc <= PG_TILE_COLS; nc++) {
            float out[PG_TILE_COLS * OUT16];
            const size_t bs = OUT16 * sizeof(float);
            for (int i = 0; i < PG_TILE_COLS * OUT16; i++) out[i] = -12345.0f;
            x16(n, out, bs, packed, (wrow - ROW_PAD) * PG_TILE_ROWS, xact, xrow, nr, nc);
            int ok = 1;
            for (int c = 0; c < PG_TILE_COLS; c++)
                for (int i = 0; i < OUT16; i++) {
                    const float got = out[c * OUT16 + i];
                    ok &= c < nc && i < nr ? same_float(got, want[c][i]) : got == -12345.0f;
                }
            check(ok, "%s tile_x16 %s n=%d %dx%d %s: differs from vec_dot (or wrote outside)", k->path,
                  traits(type)->name, n, nr, nc, kind == DATA_RAW ? "raw codes" : "quantized");
            all_ok &= ok;
        }
    return all_ok;
}

static void test_type(const pg_kernels *k, int type) {
    static uint8_t w[PG_TILE_ROWS][MAX_N * 4 + ROW_PAD], a[PG_TILE_COLS][MAX_N * 4 + ROW_PAD];
    static float act[MAX_N];
    static const int BLOCKS[] = {1, 2, 3, 5, 17, 18};
    static const int FLOAT_N[] = {8, 16, 24, 37, 69, 576};
    const int partner = traits(type)->vec_dot_type;
    const int blck = (int)traits(type)->blck_size;
    int worst_ok = 1;
    for (int bi = 0; bi < 6; bi++) {
        const int n = blck == 1 ? FLOAT_N[bi] : BLOCKS[bi] * blck;
        if (n > MAX_N) continue;
        const size_t wrow = pg_row_size(type, n) + ROW_PAD, arow = pg_row_size(partner, n) + ROW_PAD;
        /* rows in one buffer each, at the padded strides */
        static uint8_t wbuf[PG_TILE_ROWS * (MAX_N * 4 + ROW_PAD)], abuf[PG_TILE_COLS * (MAX_N * 4 + ROW_PAD)];
        for (int kind = 0; kind < N_DATA; kind++) {
            for (int r = 0; r < PG_TILE_ROWS; r++) {
                make_weight_row(type, w[r], n, kind);
                memcpy(wbuf + r * wrow, w[r], wrow - ROW_PAD);
            }
            for (int c = 0; c < PG_TILE_COLS; c++) {
                for (int i = 0; i < n; i++) act[i] = rand_normal() * 2.0f;
                k->from_float[partner](act, a[c], n);
                memcpy(abuf + c * arow, a[c], arow - ROW_PAD);
            }
            float want[PG_TILE_COLS][PG_TILE_ROWS], want_batch[PG_TILE_COLS][PG_TILE_ROWS];
            const pg_vec_dot_tile_fn batch = k->vec_dot_batch[type];
            for (int c = 0; c < PG_TILE_COLS; c++)
                for (int r = 0; r < PG_TILE_ROWS; r++) {
                    k->vec_dot[type](n, &want[c][r], w[r], a[c]);
                    if (batch) want_batch[c][r] = batch_order(type)(n, w[r], a[c]);
                }
            /* weights repacked by 8 rows (vec_dot_tile_x8, vec_dot_gemv_x8): the values of vec_dot and
             * vec_dot_gemv from the repacked copy */
            const pg_vec_dot_tile_fn x8 = k->vec_dot_tile_x8[type];
            if (x8) {
                static uint8_t packed[PG_TILE_ROWS * (MAX_N * 4 + ROW_PAD)];
                check(pg_repack_x8(type, wbuf, wrow, packed, PG_TILE_ROWS, n) == 0, "%s repack %s n=%d failed", k->path,
                      traits(type)->name, n);
                /* Q4_0's x8 activation rows: the Q8_0 blocks, then 8 * each block's code sum */
                const int sums = type == PG_TYPE_Q4_0;
                static uint8_t xact[PG_TILE_COLS * (MAX_N * 4 + ROW_PAD)];
                const size_t xrow = (sums ? pg_x8_activation_row_bytes(n) : pg_row_size(partner, n)) + ROW_PAD;
                for (int c = 0; c < PG_TILE_COLS; c++) {
                    memcpy(xact + c * xrow, a[c], pg_row_size(partner, n));
                    if (sums) pg_x8_activation_sums(xact + c * xrow, n);
                }
                float want_gemv[PG_TILE_COLS][PG_TILE_ROWS];
                const pg_vec_dot_fn gemv = k->vec_dot_gemv[type] ? k->vec_dot_gemv[type] : k->vec_dot[type];
                for (int c = 0; c < PG_TILE_COLS; c++)
                    for (int r = 0; r < PG_TILE_ROWS; r++) gemv(n, &want_gemv[c][r], w[r], a[c]);
                check(!k->vec_dot_gemv[type] || k->vec_dot_gemv_x8[type], "%s has vec_dot_gemv and vec_dot_tile_x8 for %s "
                      "but no vec_dot_gemv_x8", k->path, traits(type)->name);
                for (int is_gemv = 0; is_gemv <= (k->vec_dot_gemv_x8[type] != NULL); is_gemv++)
                    for (int nc = 1; nc <= PG_TILE_COLS; nc++) {
                        float out[PG_TILE_COLS * OUT_STRIDE_FLOATS];
                        const size_t bs = OUT_STRIDE_FLOATS * sizeof(float);
                        for (int i = 0; i < PG_TILE_COLS * OUT_STRIDE_FLOATS; i++) out[i] = -12345.0f;
                        (is_gemv ? k->vec_dot_gemv_x8[type] : x8)(n, out, bs, packed, (wrow - ROW_PAD) * PG_TILE_ROWS, xact,
                                                                  xrow, PG_TILE_ROWS, nc);
                        int ok = 1;
                        for (int c = 0; c < PG_TILE_COLS; c++)
                            for (int i = 0; i < OUT_STRIDE_FLOATS; i++) {
                                const float got = out[c * OUT_STRIDE_FLOATS + i];
                                ok &= c < nc && i < PG_TILE_ROWS ? same_float(got, is_gemv ? want_gemv[c][i] : want[c][i])
                                                                 : got == -12345.0f;
                            }
                        check(ok, "%s %s %s n=%d 8x%d %s: differs from %s (or wrote outside)", k->path,
                              is_gemv ? "gemv_x8" : "tile_x8", traits(type)->name, n, nc,
                              kind == DATA_RAW ? "raw codes" : "quantized", is_gemv ? "vec_dot_gemv" : "vec_dot");
                        worst_ok &= ok;
                    }
            }
            if (k->vec_dot_tile_x16[type]) worst_ok &= test_x16(k, type, n, kind);
            for (int nr = 1; nr <= PG_TILE_ROWS; nr++) {
                for (int nc = 1; nc <= PG_TILE_COLS; nc++) {
                    for (int is_batch = 0; is_batch <= (batch != NULL); is_batch++) {
                        float out[PG_TILE_COLS * OUT_STRIDE_FLOATS];
                        const float sentinel = -12345.0f;
                        const size_t bs = OUT_STRIDE_FLOATS * sizeof(float);
                        for (int i = 0; i < PG_TILE_COLS * OUT_STRIDE_FLOATS; i++) out[i] = sentinel;
                        if (is_batch) batch(n, out, bs, wbuf, wrow, abuf, arow, nr, nc);
                        else pg_vec_dot_tile(k, type, n, out, bs, wbuf, wrow, abuf, arow, nr, nc);
                        int ok = 1, untouched = 1;
                        for (int c = 0; c < PG_TILE_COLS; c++)
                            for (int i = 0; i < OUT_STRIDE_FLOATS; i++) {
                                const float got = out[c * OUT_STRIDE_FLOATS + i];
                                if (c < nc && i < nr) ok &= same_float(got, is_batch ? want_batch[c][i] : want[c][i]);
                                else untouched &= got == sentinel;
                            }
                        const char *what = is_batch ? "batch" : "tile";
                        check(ok, "%s %s %s n=%d %dx%d %s: differs from %s", k->path, what, traits(type)->name, n,
                              nr, nc, kind == DATA_RAW ? "raw codes" : "quantized",
                              is_batch ? "the batch order" : "vec_dot");
                        check(untouched, "%s %s %s n=%d %dx%d: wrote outside the tile", k->path, what,
                              traits(type)->name, n, nr, nc);
                        worst_ok &= ok;
                    }
                }
            }
        }
    }
    printf("  %-6s tile %-5s %s%s%s%s: %s\n", k->path, traits(type)->name,
           k->vec_dot_tile[type] ? "own kernel" : "vec_dot loop", k->vec_dot_batch[type] ? " + batch order" : "",
           k->vec_dot_tile_x8[type] ? (k->vec_dot_gemv_x8[type] ? " + repacked by 8 (tile, gemv)" : " + repacked by 8") : "",
           k->vec_dot_tile_x16[type] ? " + two groups (x16)" : "", worst_ok ? "bit-identical" : "DIFFERS");
}

static void test_path(const pg_kernels *k, int must_have_tiles) {
    printf("path %s\n", k->path);
    if (must_have_tiles)
        for (int i = 0; i < N_MODEL_TYPES; i++)
            check(k->vec_dot_tile[MODEL_TYPES[i]] != NULL, "%s has no tile kernel for %s", k->path,
                  traits(MODEL_TYPES[i])->name);
    for (int t = 0; t < PG_TYPE_COUNT; t++)
        if (k->vec_dot[t] && traits(t)->vec_dot_type >= 0) test_type(k, t);
}

int main(void) {
    static pg_kernels scalar;
    rand_seed(20250107);
    pg_kernels_fill_scalar(&scalar);
    test_path(&scalar, 0);
#if defined(__x86_64__)
    static const char *const X86_PATHS[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        const pg_kernels *k = pg_simd_path_kernels(X86_PATHS[i]);
        if (k)
            test_path(k, 1);
        else
            printf("note: path %s not available here (needs %s): not tested\n", X86_PATHS[i],
                   pg_simd_path_needs(X86_PATHS[i]));
    }
#elif defined(__aarch64__)
    static pg_kernels simd;
    simd = scalar;
    pg_kernels_fill_neon(&simd);
    test_path(&simd, 0);
    if (pg_cpu_has_arm_dotprod()) {
        static pg_kernels widen;
        widen = scalar;
        pg_kernels_fill_neon(&widen);
        pg_fill_neon_quant_flavour(&widen, 0);
        widen.path = "neon-widen";
        test_path(&widen, 0);
    }
#endif
    return harness_report();
}
