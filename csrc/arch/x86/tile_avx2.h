/* Shared parts of the AVX2 tile kernels (tile*_avx2.c, quants_avx2_q6k_batch.c): row pointers,
 * output stores, register pinning, Q6_K code unpacking. */
#ifndef PG_TILE_AVX2_H
#define PG_TILE_AVX2_H

#include <stddef.h>

#include "arch/x86/simd_avx2.h"
#include "quants/blocks.h"

#define TILE_INLINE static inline __attribute__((always_inline))

/* the 4 weight rows of a tile; rows past nr repeat row nr - 1 */
TILE_INLINE void tile_rows(const void *x, size_t bx, int nr, const char *rows[4]) {
    for (int r = 0; r < 4; r++) rows[r] = (const char *)x + (size_t)(r < nr ? r : nr - 1) * bx;
}

/* 16 bytes at byte offset off of 8 rows -> 4 vectors, vector k lane r = bytes 4k..4k+3 of row r */
TILE_INLINE void transpose_16x8(const char *const xr[8], size_t off, __m256i out[4]) {
    __m256i p[4];    /* [row j | row j + 4]; dword transposes within each 128-bit half */
    for (int j = 0; j < 4; j++)
        p[j] = _mm256_loadu2_m128i((const __m128i *)(xr[j + 4] + off), (const __m128i *)(xr[j] + off));
    const __m256i t0 = _mm256_unpacklo_epi32(p[0], p[1]), t1 = _mm256_unpackhi_epi32(p[0], p[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(p[2], p[3]), t3 = _mm256_unpackhi_epi32(p[2], p[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2);
    out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3);
    out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* the first nr (<= 8) lanes of v to out[0..nr) */
TILE_INLINE void store_first_rows(float *out, int nr, __m256 v) {
    if (nr == 8) {
        _mm256_storeu_ps(out, v);
    } else {
        float tmp[8];
        _mm256_storeu_ps(tmp, v);
        for (int r = 0; r < nr; r++) out[r] = tmp[r];
    }
}

/* A tile of up to PG_TILE_ROWS (8) weight rows through a kernel of 4: rows 0..3, then 4..nr-1 */
#define TILE_IN_FOURS(FN, n, s, bs, x, bx, y, by, nr, nc)                                             \
    do {                                                                                              \
        FN(n, s, bs, x, bx, y, by, (nr) < 4 ? (nr) : 4, nc);                                          \
        if ((nr) > 4) FN(n, (s) + 4, bs, (const char *)(x) + 4 * (bx), bx, y, by, (nr) - 4, nc);      \
    } while (0)

/* v as computed, from a register: an empty asm the compiler cannot see through, so it keeps a
 * chain of integer adds as written instead of re-associating it into a tree of stored partial
 * sums (register spills) */
TILE_INLINE __m256i in_register(__m256i v) {
    __asm__("" : "+x"(v));
    return v;
}

/* the 32 codes (0..63, offset 32 not removed) of chunk ch (elements 32ch..32ch+31) of a Q6_K
 * super-block: in half h = ch / 4, chunk j = ch % 4 takes the low (j < 2) or high nibble of
 * ql[64h + 32 (j % 2) + l] and bits 2j, 2j+1 of qh[32h + l] (moved to bits 4, 5) */
TILE_INLINE __m256i q6_K_codes(const block_q6_K *xb, const int ch) {
    const int h = ch / 4, j = ch % 4;
    const __m256i ql = _mm256_loadu_si256((const __m256i *)(xb->ql + 64 * h + 32 * (j % 2)));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(xb->qh + 32 * h));
    const __m256i nibble = j < 2 ? ql : _mm256_srli_epi16(ql, 4);
    const __m256i high = j == 0 ? _mm256_slli_epi16(qh, 4) : j == 1 ? _mm256_slli_epi16(qh, 2)
                       : j == 2 ? qh : _mm256_srli_epi16(qh, 2);
    return _mm256_or_si256(_mm256_and_si256(nibble, _mm256_set1_epi8(0x0f)),
                           _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
}

/* acc + the scaled 8-lane sums of one chunk (mul_sum_scaled_16); arch/x86_512 files that build a
 * Q6_K kernel again define it as maddubs + vpdpwssd (the same exact integers) */
#ifndef Q6_K_SCALED_ADD
#define Q6_K_SCALED_ADD(acc, codes, q8, scale_pair) _mm256_add_epi32(acc, mul_sum_scaled_16(codes, q8, scale_pair))
#endif

/* One Q6_K super-block against NC activation blocks yb[c]: lanes[c] = vec_dot's 8 int lanes
 * (lane l: the scaled products of bytes 4l..4l+3 of every 32-element chunk, codes unsigned)
 * minus the codes' offset 32 * (scale_g * bsums_g), each chunk's codes unpacked once for all c */
TILE_INLINE void q6_K_superblock_lanes(const block_q6_K *xb, const block_q8_K *const yb[], const int NC,
                                       __m256i lanes[]) {
    const __m128i scales = _mm_loadu_si128((const __m128i *)xb->scales);
    for (int c = 0; c < NC; c++) lanes[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int ch = 0; ch < 8; ch++) {
        const __m256i codes = q6_K_codes(xb, ch);
        const __m256i scale_pair = scale_pair_i16(scales, 2 * ch, 2 * ch + 1);
        for (int c = 0; c < NC; c++)
            lanes[c] = in_register(Q6_K_SCALED_ADD(lanes[c], codes, yb[c]->qs + 32 * ch, scale_pair));
    }
    const __m256i scales_i16 = _mm256_cvtepi8_epi16(scales);
    for (int c = 0; c < NC; c++) {
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)yb[c]->bsums);
        lanes[c] = _mm256_sub_epi32(lanes[c], _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales_i16), 5));
    }
}

/* A Q6_K tile (pg_vec_dot_tile_fn) from a one-row kernel ROW(nb, s, bs, row, y, by, NC), NC a
 * constant: each weight row against the activation rows in passes of 8 (5..7: 4, then the rest) */
#define DEFINE_Q6_K_ROWS_TILE(NAME, ROW)                                                             \
    static void NAME(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr, \
                     int nc) {                                                                       \
        const int nb = n / QK_K;                                                                     \
        for (int r = 0; r < nr; r++) {                                                               \
            const block_q6_K *row = (const block_q6_K *)((const char *)x + (size_t)r * bx);         \
            float *sr = s + r;                                                                       \
            const char *yc = y;                                                                      \
            int left = nc;                                                                           \
            if (left > 4 && left < PG_TILE_COLS) {                                                   \
                ROW(nb, sr, bs, row, yc, by, 4);                                                     \
                sr = (float *)((char *)sr + 4 * bs);                                                 \
                yc += 4 * by;                                                                        \
                left -= 4;                                                                           \
            }                                                                                        \
            switch (left) {                                                                          \
            case 1: ROW(nb, sr, bs, row, yc, by, 1); break;                                          \
            case 2: ROW(nb, sr, bs, row, yc, by, 2); break;                                          \
            case 3: ROW(nb, sr, bs, row, yc, by, 3); break;                                          \
            case 4: ROW(nb, sr, bs, row, yc, by, 4); break;                                          \
            default: ROW(nb, sr, bs, row, yc, by, PG_TILE_COLS); break;                              \
            }                                                                                        \
        }                                                                                            \
    }

/* output (r, c) of the tile at s; rows past nr (repeats) are dropped */
/* the avx2 F32 / F16 tiles (tile_float_avx2.c), also the avx512 path's for short odd shapes */
void pg_vec_dot_tile_f32_avx2(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                              int nc);
void pg_vec_dot_tile_f16_avx2(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                              int nc);

/* lane r = hsum_f32x8(a[r]) for 8 vectors, with hsum_f32x8's additions:
 * ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)) */
TILE_INLINE __m256 hsum_f32x8_of_8(const __m256 a[8]) {
    __m256 h[4]; /* h[k] = [a_k lo + hi | a_{k+4} lo + hi] */
    for (int k = 0; k < 4; k++)
        h[k] = _mm256_add_ps(_mm256_permute2f128_ps(a[k], a[k + 4], 0x20), _mm256_permute2f128_ps(a[k], a[k + 4], 0x31));
    /* lanes i, i + 2 of each: [r0: 0+2, 1+3, r1: 0+2, 1+3 | r4.., r5..] and the same for 2, 3, 6, 7 */
    const __m256 t01 = _mm256_add_ps(_mm256_shuffle_ps(h[0], h[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(h[0], h[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 t23 = _mm256_add_ps(_mm256_shuffle_ps(h[2], h[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm256_shuffle_ps(h[2], h[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_shuffle_ps(t01, t23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm256_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
}

TILE_INLINE void store_out(float *s, size_t bs, int nr, int c, int r, float v) {
    if (r < nr) ((float *)((char *)s + c * bs))[r] = v;
}

#endif
