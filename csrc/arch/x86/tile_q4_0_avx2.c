/* AVX2 tile of vec_dot for Q4_0 x Q8_0 (pg_vec_dot_tile_fn): up to 8 weight rows x up to
 * PG_TILE_COLS (8) activation rows, lane r of every vector = weight row r; each block's codes
 * are transposed once for all the activation rows.
 * Per output the arithmetic of pg_vec_dot_q4_0_q8_0_avx2 (llama.cpp's repacked Q4_0 order):
 * one FMA chain over the blocks, acc = fma(isum, d_x * d_y, acc), isum the block's exact
 * integer dot product. Only how isum is reached changes, and integers are exact in any order:
 *   - the 8 rows' 16 code bytes are transposed on the fly into 4 vectors, vector k holding
 *     bytes 4k..4k+3 of every row (low nibbles: elements 4k..4k+3, high: 16+4k..16+4k+3);
 *   - each is multiplied (maddubs, codes unsigned in [0, 15]) with the matching 4 activation
 *     bytes broadcast to all lanes; the 8 products per i16 slot stay within
 *     8 * 2 * 15 * 128 = 30720, so they add up exactly in i16 before one madd to i32;
 *   - the codes' offset 8 comes off as 8 * (sum of the activation block), the same for all rows.
 * Rows past nr repeat row nr - 1 and their outputs are dropped. The same passes read weights
 * repacked by 8 rows (vec_dot_tile_x8: the transposed bytes and the 8 scales stored as the tile
 * builds them, one stream per group; rows past nr then hold whatever the group holds, their
 * outputs dropped too), with activation rows that carry 8 * each block's sum (kernels.h). */
#include <string.h>

#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

/* the block's integer sums of 8 rows from the 8 code vectors (lo[k] with activation bytes 4k..,
 * hi[k] with 16 + 4k..) and the activation block, and the path these tiles fill:
 * arch/x86_512/tile_q4_0_vnni.c builds this file again with vpdpbusd (the same exact integers) */
#ifndef Q4_0_BLOCK_SUMS
#define Q4_0_BLOCK_SUMS q4_0_block_sums_maddubs
#define Q4_0_TILE_FN pg_vec_dot_tile_q4_0_avx2
#define Q4_0_TILE_X8_FN pg_vec_dot_tile_x8_q4_0_avx2
#define Q4_0_TILE_FILL pg_fill_avx2_tile_q4_0
#endif

#define ROWS 8
/* one activation row (GEMV): weight rows this far ahead are prefetched into L2 (8 interleaved
 * short streams train the hardware prefetchers too late; prefetched into L1 instead, a 142 MB
 * matrix streamed at 11 GB/s on one Zen 4 core, into L2 at 17-20 GB/s) */
#define GEMV_PREFETCH_ROWS 32

/* 8 * (sum of the 32 activation bytes), in every i32 lane */
static inline __m256i offset_8x_sum(__m256i yq) {
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), yq), _mm256_set1_epi16(1));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm256_add_epi32(s, _mm256_permute2x128_si256(s, s, 0x01));
}

/* 4 activation bytes starting at element i, in every lane */
static inline __m256i bcast4(const int8_t *qs, int i) {
    int32_t w;
    memcpy(&w, qs + i, 4);
    return _mm256_set1_epi32(w);
}

/* the 8 products per i16 slot stay within 8 * 2 * 15 * 128 = 30720: exact in i16, then one madd */
static inline __m256i q4_0_block_sums_maddubs(const __m256i lo[4], const __m256i hi[4], const int8_t *yqs) {
    __m256i sum16 = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(lo[k], bcast4(yqs, 4 * k)));
        sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(hi[k], bcast4(yqs, 16 + 4 * k)));
    }
    return _mm256_madd_epi16(sum16, _mm256_set1_epi16(1));
}

#define X8_BLOCK_BYTES (16 + 4 * 32)   /* a block of 8 repacked rows (kernels.h's vec_dot_tile_x8) */
/* one repacked stream: this far ahead into L2 (1B-shaped matrices streamed from DRAM, 2 threads:
 * 1024 B ahead 23-31 GB/s, 6144 B 31-33 GB/s) */
#define X8_PREFETCH_BYTES 6144

/* One pass over NC activation rows, acc[c] lane r = output (r, c): the 8 weight rows are xr[r],
 * or with X8 the repacked group xg (the same bytes, already transposed). */
TILE_INLINE void q4_0_pass(int nb, float *s, size_t bs, int nr, const char *const xr[ROWS], size_t bx, const char *y,
                           size_t by, const int NC, const int X8, const char *xg) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f);
    __m256 acc[PG_TILE_COLS];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int ib = 0; ib < nb; ib++) {
        __m256i bytes[4];
        __m256 xd;
        if (X8) {
            const char *blk = xg + (size_t)ib * X8_BLOCK_BYTES;
            if (NC == 1)
                for (int b = 0; b < X8_BLOCK_BYTES; b += 64) _mm_prefetch(blk + X8_PREFETCH_BYTES + b, _MM_HINT_T1);
            xd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
            for (int k = 0; k < 4; k++) bytes[k] = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * k));
        } else {
            const block_q4_0 *xb[ROWS];
            for (int r = 0; r < ROWS; r++) xb[r] = (const block_q4_0 *)xr[r] + ib;
            if (NC == 1)
                for (int r = 0; r < ROWS; r++) _mm_prefetch((const char *)xb[r] + GEMV_PREFETCH_ROWS * bx, _MM_HINT_T1);
            transpose_16x8(xr, (size_t)ib * sizeof(block_q4_0) + offsetof(block_q4_0, qs), bytes);
            /* lanes 0..3 rows 0..3, lanes 4..7 rows 4..7 (the halves of the transpose) */
            xd = _mm256_cvtph_ps(_mm_setr_epi16((short)xb[0]->d, (short)xb[1]->d, (short)xb[2]->d, (short)xb[3]->d,
                                                (short)xb[4]->d, (short)xb[5]->d, (short)xb[6]->d, (short)xb[7]->d));
        }
        __m256i lo[4], hi[4];
        for (int k = 0; k < 4; k++) {
            lo[k] = _mm256_and_si256(bytes[k], mask4);
            hi[k] = _mm256_and_si256(_mm256_srli_epi16(bytes[k], 4), mask4);
        }
        for (int c = 0; c < NC; c++) {
            const block_q8_0 *yb = (const block_q8_0 *)(y + c * by) + ib;
            __m256i offset;   /* 8 * (sum of the activation block) */
            if (X8) {         /* made once per matmul, after the row's blocks */
                int32_t eight_sum;
                memcpy(&eight_sum, y + c * by + (size_t)nb * sizeof(block_q8_0) + (size_t)ib * sizeof(int32_t), 4);
                offset = _mm256_set1_epi32(eight_sum);
            } else {
                offset = offset_8x_sum(_mm256_loadu_si256((const __m256i *)yb->qs));
            }
            const __m256i isum = _mm256_sub_epi32(Q4_0_BLOCK_SUMS(lo, hi, yb->qs), offset);
            const __m256 d = _mm256_mul_ps(xd, _mm256_set1_ps(_cvtsh_ss(yb->d)));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        float *out = (float *)((char *)s + c * bs);
        if (nr == ROWS) {
            _mm256_storeu_ps(out, acc[c]);
        } else {
            float lanes[ROWS];
            _mm256_storeu_ps(lanes, acc[c]);
            for (int r = 0; r < nr; r++) out[r] = lanes[r];
        }
    }
}

/* the tile over original rows (X8 = 0: x the first row, bx bytes per row) or a repacked group
 * (X8 = 1: x the group) */
TILE_INLINE void q4_0_tile(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                           int nc, const int X8) {
    const char *rows[ROWS];
    for (int r = 0; r < ROWS; r++) rows[r] = (const char *)x + (X8 ? 0 : (size_t)(r < nr ? r : nr - 1) * bx);
    const int nb = n / QK4_0;
    const char *yc = (const char *)y, *xg = (const char *)x;
    if (nc > 4 && nc < PG_TILE_COLS) { /* 5..7: 4 activation rows, then the rest */
        q4_0_pass(nb, s, bs, nr, rows, bx, yc, by, 4, X8, xg);
        s = (float *)((char *)s + 4 * bs);
        yc += 4 * by;
        nc -= 4;
    }
    switch (nc) {
    case 1: q4_0_pass(nb, s, bs, nr, rows, bx, yc, by, 1, X8, xg); break;
    case 2: q4_0_pass(nb, s, bs, nr, rows, bx, yc, by, 2, X8, xg); break;
    case 3: q4_0_pass(nb, s, bs, nr, rows, bx, yc, by, 3, X8, xg); break;
    case 4: q4_0_pass(nb, s, bs, nr, rows, bx, yc, by, 4, X8, xg); break;
    default: q4_0_pass(nb, s, bs, nr, rows, bx, yc, by, PG_TILE_COLS, X8, xg); break;
    }
}

static void Q4_0_TILE_FN(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                         int nc) {
    q4_0_tile(n, s, bs, x, bx, y, by, nr, nc, 0);
}

static void Q4_0_TILE_X8_FN(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nr,
                            int nc) {
    q4_0_tile(n, s, bs, x, bx, y, by, nr, nc, 1);
}

void Q4_0_TILE_FILL(pg_kernels *k) {
    k->vec_dot_tile[PG_TYPE_Q4_0] = Q4_0_TILE_FN;
    k->vec_dot_tile_x8[PG_TYPE_Q4_0] = Q4_0_TILE_X8_FN;
}
