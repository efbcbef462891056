/* AVX2 tiles of vec_dot (pg_vec_dot_tile_fn) for the K-quants of the real models, Q4_K and
 * Q6_K with Q8_K activations. Each output repeats its vec_dot (quants_avx2_k.c) float for float;
 * only how the exact integer sums are reached changes (integers are exact in any order).
 *
 * Q4_K: up to 8 weight rows x up to PG_TILE_COLS (8) activation rows, lane r of every vector =
 * weight row r.
 * Per output, as pg_vec_dot_q4_K_q8_K_avx2 (llama.cpp's repacked GEMM order): per 64 elements
 * c of a super-block, acc = fma(isum_c, d * yd, acc) and acc_min = fma(mins_c, dmin * yd,
 * acc_min); the result is acc - acc_min.
 *   - the 8 rows' headers (d | dmin, 12 scale bytes) are transposed into lanes, and the 6-bit
 *     scales and mins unpacked for all 8 rows at once (k_scales_mins_6bit on 32-bit lanes);
 *   - chunk c's 32 code bytes of the 8 rows are transposed on the fly (16 at a time, once for
 *     all activation rows) into 8 vectors, vector k holding bytes 4k..4k+3 of every row (low
 *     nibbles: elements 64c + 4k.., high: 64c + 32 + 4k..), each multiplied (maddubs) with the
 *     matching 4 activation bytes broadcast to all lanes. A 32-element group takes 8 such
 *     products per i16 slot, each at most 2 * 15 * 128 = 3840: 8 * 3840 = 30720 < 32768, exact
 *     in i16; one madd with the row's scale (in both i16 halves of its lane) widens and scales
 *     them. The i16 adds are saturating ones, which never saturate here (same values as
 *     wrapping adds), kept in registers per activation row (in_register) rather than
 *     re-associated into spilled trees;
 *   - the chunks' integer sums are made first, then each output's two FMA chains run chunk by
 *     chunk in vec_dot's order;
 *   - mins_c = madd of the row's (min[2c], min[2c+1]) with the activation's 32-element group
 *     sums (bsums pairs), the same for all rows.
 * Rows past nr repeat row nr - 1 and their outputs are dropped.
 *
 * Q6_K: as pg_vec_dot_q6_K_q8_K_avx2, 8 int lanes per output and super-block (lane l = the
 * scaled products of bytes 4l..4l+3 of every 32-element chunk, minus 32 * the scales x bsums
 * offset), acc = fma(yd * d, lanes, acc), hsum_f32x8 at the end. The tile takes one weight row
 * at a time against up to PG_TILE_COLS (8) activation rows: each chunk's codes and scale pair
 * are unpacked once for all of them, and the FMA chains of the activation rows overlap. */
#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

/* How a Q4_K group's code x activation products are summed and scaled, and the path these tiles
 * fill: arch/x86_512/tile_k_vnni.c builds this file again with vpdpbusd into i32 lanes, scaled
 * by vpmulld (the same exact integers). Default: maddubs + i16 adds, one madd with the scale
 * pair (the scale in both i16 halves of the lane). */
#ifndef Q4_K_GROUP_ADD
#define Q4_K_GROUP_ADD(sum, codes, act) _mm256_adds_epi16(sum, _mm256_maddubs_epi16(codes, act))
#define Q4_K_GROUP_SCALE(sum, scale_pair) _mm256_madd_epi16(sum, scale_pair)
#define TILE_K_FN(T) pg_vec_dot_tile_##T##_avx2
#define TILE_K_FILL pg_fill_avx2_tile_k
#endif

#define ROWS 8

/* 4 activation bytes starting at element i, in every lane */
static inline __m256i bcast4(const int8_t *qs, int i) {
    int32_t w;
    memcpy(&w, qs + i, 4);
    return _mm256_set1_epi32(w);
}

/* ---- Q4_K ---- */

/* A super-block's header for 8 rows, lane r = row r */
typedef struct {
    __m256 d, dmin;
    __m256i scale_bytes[2];  /* scales of groups 4i..4i+3 as the 4 bytes of each lane */
    __m256i min_bytes[2];    /* mins, the same way */
} q4_K_header8;

/* 4 consecutive words of 8 rows (vector k lane r = word w + k of row r): transposed from the
 * rows xr at word w of a super-block at byte off, or (X8) loaded from the repacked group block xg */
TILE_INLINE void q4_K_words(const char *const xr[ROWS], size_t off, const char *xg, int w, __m256i out[4],
                            const int X8) {
    if (X8)
        for (int k = 0; k < 4; k++) out[k] = _mm256_loadu_si256((const __m256i *)(xg + 32 * (w + k)));
    else
        transpose_16x8(xr, off + 4 * (size_t)w, out);
}

TILE_INLINE void q4_K_header(const char *const xr[ROWS], size_t off, const char *xg, q4_K_header8 *h, const int X8) {
    __m256i w[4];   /* w[0] = d | dmin << 16; w[1..3] = the 12 packed scale bytes */
    q4_K_words(xr, off, xg, 0, w, X8);
    const __m256i lo16 = _mm256_and_si256(w[0], _mm256_set1_epi32(0xffff));
    const __m256i f16 = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo16, _mm256_srli_epi32(w[0], 16)), 0xd8);
    h->d = _mm256_cvtph_ps(_mm256_castsi256_si128(f16));
    h->dmin = _mm256_cvtph_ps(_mm256_extracti128_si256(f16, 1));
    /* k_scales_mins_6bit (arch/k_scales.h) on every lane */
    const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f), m4 = _mm256_set1_epi32(0x0f0f0f0f),
                  m2 = _mm256_set1_epi32(0x03030303);
    h->scale_bytes[0] = _mm256_and_si256(w[1], m6);
    h->scale_bytes[1] = _mm256_or_si256(_mm256_and_si256(w[3], m4),
                                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w[1], 6), m2), 4));
    h->min_bytes[0] = _mm256_and_si256(w[2], m6);
    h->min_bytes[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w[3], 4), m4),
                                      _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w[2], 6), m2), 4));
}

/* bytes a, b of every lane as i16 (a in the low half, b in the high half of the lane) */
static inline __m256i lane_bytes_i16(__m256i v, int a, int b) {
    const char z = (char)0x80;
    const __m128i pat = _mm_setr_epi8((char)a, z, (char)b, z, (char)(a + 4), z, (char)(b + 4), z, (char)(a + 8), z,
                                      (char)(b + 8), z, (char)(a + 12), z, (char)(b + 12), z);
    return _mm256_shuffle_epi8(v, _mm256_broadcastsi128_si256(pat));
}

/* one repacked stream (a lone activation row): this far ahead into L2. 1B-shaped Q4_K matrices
 * streamed from DRAM, 2 threads: 2048 B ahead 22-24 GB/s, 6144 B 33-40 GB/s (8192, 12288 no better) */
#define Q4_K_X8_PREFETCH_BYTES 6144

/* One pass over NC activation rows, acc[c] lane r = output (r, c): the 8 weight rows are xr[r],
 * or with X8 the repacked group xg (the same words, already transposed). GEMV: each output in
 * vec_dot_gemv's order (one FMA pair per super-block over its whole integer sums) instead of
 * vec_dot's (one per 64-element chunk). */
TILE_INLINE void q4_K_pass(int nb, float *s, size_t bs, int nr, const char *const xr[ROWS], const char *y, size_t by,
                           const int NC, const int X8, const char *xg, const int GEMV) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    __m256 acc[PG_TILE_COLS], acc_min[PG_TILE_COLS];
    for (int c = 0; c < NC; c++) acc[c] = acc_min[c] = _mm256_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const size_t xoff = (size_t)ib * sizeof(block_q4_K);
        const char *xb = xg + ROWS * xoff;   /* the repacked super-blocks (X8) */
        if (X8 && NC == 1)
            for (int b = 0; b < ROWS * (int)sizeof(block_q4_K); b += 64)
                _mm_prefetch(xb + Q4_K_X8_PREFETCH_BYTES + b, _MM_HINT_T1);
        q4_K_header8 h;
        q4_K_header(xr, xoff, xb, &h, X8);
        const block_q8_K *yb[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        /* integer part: isum[ch][c] lane r = scale-weighted code x activation sum of chunk ch */
        __m256i isum[4][PG_TILE_COLS];
#pragma GCC unroll 4
        for (int ch = 0; ch < 4; ch++) {
            const int j = 2 * (ch % 2);   /* groups 2ch, 2ch + 1 are bytes j, j + 1 of [ch / 2] */
            const __m256i scale_lo = lane_bytes_i16(h.scale_bytes[ch / 2], j, j);
            const __m256i scale_hi = lane_bytes_i16(h.scale_bytes[ch / 2], j + 1, j + 1);
            /* i16 sums of the first 16 bytes: groups 2ch (low nibbles), 2ch + 1 (high) */
            __m256i half_lo[PG_TILE_COLS], half_hi[PG_TILE_COLS];
#pragma GCC unroll 2
            for (int half = 0; half < 2; half++) {
                __m256i bytes[4], lo[4], hi[4];
                /* code bytes 32ch + 16half.. are words 4 + 8ch + 4half.. of the super-block */
                q4_K_words(xr, xoff, xb, 4 + 8 * ch + 4 * half, bytes, X8);
                for (int k = 0; k < 4; k++) {
                    lo[k] = _mm256_and_si256(bytes[k], mask4);
                    hi[k] = _mm256_and_si256(_mm256_srli_epi16(bytes[k], 4), mask4);
                }
                for (int c = 0; c < NC; c++) {
                    __m256i sum_lo = half ? half_lo[c] : _mm256_setzero_si256();
                    __m256i sum_hi = half ? half_hi[c] : _mm256_setzero_si256();
                    for (int k = 0; k < 4; k++) {
                        const int e = 64 * ch + 16 * half + 4 * k;
                        sum_lo = in_register(Q4_K_GROUP_ADD(sum_lo, lo[k], bcast4(yb[c]->qs, e)));
                        sum_hi = in_register(Q4_K_GROUP_ADD(sum_hi, hi[k], bcast4(yb[c]->qs, e + 32)));
                    }
                    if (half == 0) {
                        half_lo[c] = sum_lo;
                        half_hi[c] = sum_hi;
                    } else {
                        isum[ch][c] = _mm256_add_epi32(Q4_K_GROUP_SCALE(sum_lo, scale_lo),
                                                       Q4_K_GROUP_SCALE(sum_hi, scale_hi));
                    }
                }
            }
        }
        /* float part, per output in the chosen order */
        __m256i mins[4];
        for (int ch = 0; ch < 4; ch++)
            mins[ch] = lane_bytes_i16(h.min_bytes[ch / 2], 2 * (ch % 2), 2 * (ch % 2) + 1);
        for (int c = 0; c < NC; c++) {
            uint32_t group_sums[4];   /* chunk ch: i16 pair (bsums 4ch + 4ch+1, 4ch+2 + 4ch+3) */
            const __m128i bsums_lo = _mm_loadu_si128((const __m128i *)yb[c]->bsums);
            const __m128i bsums_hi = _mm_loadu_si128((const __m128i *)(yb[c]->bsums + 8));
            _mm_storeu_si128((__m128i *)group_sums, _mm_hadd_epi16(bsums_lo, bsums_hi));
            const __m256 yd = _mm256_set1_ps(yb[c]->d);
            const __m256 dd = _mm256_mul_ps(h.d, yd), dm = _mm256_mul_ps(h.dmin, yd);
            if (GEMV) {   /* the super-block's exact integer totals, one FMA each */
                __m256i isum_all = isum[0][c], msum_all = _mm256_madd_epi16(mins[0], _mm256_set1_epi32((int)group_sums[0]));
                for (int ch = 1; ch < 4; ch++) {
                    isum_all = _mm256_add_epi32(isum_all, isum[ch][c]);
                    msum_all = _mm256_add_epi32(msum_all, _mm256_madd_epi16(mins[ch], _mm256_set1_epi32((int)group_sums[ch])));
                }
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum_all), dd, acc[c]);
                acc_min[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum_all), dm, acc_min[c]);
            } else {
                for (int ch = 0; ch < 4; ch++) {
                    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[ch][c]), dd, acc[c]);
                    const __m256i msum = _mm256_madd_epi16(mins[ch], _mm256_set1_epi32((int)group_sums[ch]));
                    acc_min[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dm, acc_min[c]);
                }
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        float *out = (float *)((char *)s + c * bs);
        const __m256 v = _mm256_sub_ps(acc[c], acc_min[c]);
        if (nr == ROWS) {
            _mm256_storeu_ps(out, v);
        } else {
            float lanes[ROWS];
            _mm256_storeu_ps(lanes, v);
            for (int r = 0; r < nr; r++) out[r] = lanes[r];
        }
    }
}

/* the Q4_K tile over original rows (X8 = 0: x the first row, bx bytes per row) or a repacked
 * group (X8 = 1: x the group), in vec_dot's (GEMV = 0) or vec_dot_gemv's order */
TILE_INLINE void q4_K_tile(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                           int nc, const int X8, const int GEMV) {
    const char *rows[ROWS];
    for (int r = 0; r < ROWS; r++) rows[r] = (const char *)x + (X8 ? 0 : (size_t)(r < nr ? r : nr - 1) * bx);
    const int nb = n / QK_K;
    const char *yc = (const char *)y, *xg = (const char *)x;
    if (nc > 4 && nc < PG_TILE_COLS) { /* 5..7: 4 activation rows, then the rest */
        q4_K_pass(nb, s, bs, nr, rows, yc, by, 4, X8, xg, GEMV);
        s = (float *)((char *)s + 4 * bs);
        yc += 4 * by;
        nc -= 4;
    }
    switch (nc) {
    case 1: q4_K_pass(nb, s, bs, nr, rows, yc, by, 1, X8, xg, GEMV); break;
    case 2: q4_K_pass(nb, s, bs, nr, rows, yc, by, 2, X8, xg, GEMV); break;
    case 3: q4_K_pass(nb, s, bs, nr, rows, yc, by, 3, X8, xg, GEMV); break;
    case 4: q4_K_pass(nb, s, bs, nr, rows, yc, by, 4, X8, xg, GEMV); break;
    default: q4_K_pass(nb, s, bs, nr, rows, yc, by, PG_TILE_COLS, X8, xg, GEMV); break;
    }
}

static void TILE_K_FN(q4_K)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                                      int nr, int nc) {
    q4_K_tile(n, s, bs, x, bx, y, by, nr, nc, 0, 0);
}

static void TILE_K_FN(q4_K_x8)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                               int nr, int nc) {
    q4_K_tile(n, s, bs, x, bx, y, by, nr, nc, 1, 0);
}

static void TILE_K_FN(q4_K_gemv_x8)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                                    int nr, int nc) {
    q4_K_tile(n, s, bs, x, bx, y, by, nr, nc, 1, 1);
}

/* ---- Q6_K ---- */

/* One weight row x against NC activation rows: output c at s + c * bs. */
TILE_INLINE void q6_K_row(int nb, float *s, size_t bs, const block_q6_K *x, const char *y, size_t by, const int NC) {
    __m256 acc[PG_TILE_COLS];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        const block_q8_K *yb[PG_TILE_COLS];
        for (int c = 0; c < NC; c++) yb[c] = (const block_q8_K *)(y + c * by) + ib;
        __m256i lanes[PG_TILE_COLS];
        q6_K_superblock_lanes(x + ib, yb, NC, lanes);
        const float dx = fp16_to_f32(x[ib].d);
        for (int c = 0; c < NC; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(yb[c]->d * dx), _mm256_cvtepi32_ps(lanes[c]), acc[c]);
    }
    for (int c = 0; c < NC; c++) *(float *)((char *)s + c * bs) = hsum_f32x8(acc[c]);
}

DEFINE_Q6_K_ROWS_TILE(TILE_K_FN(q6_K), q6_K_row)

void TILE_K_FILL(pg_kernels *k) {
    k->vec_dot_tile[PG_TYPE_Q4_K] = TILE_K_FN(q4_K);
    k->vec_dot_tile_x8[PG_TYPE_Q4_K] = TILE_K_FN(q4_K_x8);
    k->vec_dot_gemv_x8[PG_TYPE_Q4_K] = TILE_K_FN(q4_K_gemv_x8);
    k->vec_dot_tile[PG_TYPE_Q6_K] = TILE_K_FN(q6_K);
}
