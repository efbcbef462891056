/* AVX2 tiles of vec_dot (pg_vec_dot_tile_fn, kernels.h) for Q4_1, Q5_0, Q5_1, Q8_0 (Q4_0:
 * tile_q4_0_avx2.c): up to 8 weight rows x up to PG_TILE_COLS (8) activation rows per call.
 * Every output repeats the float arithmetic of its vec_dot in quants_avx2.c exactly: 8 float
 * lanes per output, lane j accumulating by FMA the integer sum of the products of elements
 * 4j..4j+3 of each block, times d = d_x * d_y; hsum_f32x8 at the end, plus the min terms
 * m_x * s_y (Q4_1, Q5_1) summed block by block on the side and added last.
 * Only how each value is reached changes:
 *   - the integer lane sums (exact in any order) come from unsigned codes times activation
 *     bytes (maddubs + madd); the offset types without a min (Q5_0: codes - 16) subtract
 *     16 * (the 4-sums of the activation block), computed once per activation block; Q8_0
 *     moves the weight's sign onto the activation;
 *   - the scale products d_x * d_y and the min terms are computed 8 rows at a time (each
 *     product rounded once, as in vec_dot; the min products are exact), before the integer
 *     work, in segments of SEG blocks;
 *   - each weight block is unpacked once for all activation rows of the pass, the weight rows
 *     taken a few at a time so that the accumulators stay in registers: 8 activation rows go
 *     one weight row at a time (each unpack serves 8 outputs), 4 two at a time, fewer more.
 * One activation row (GEMV) takes all 8 weight rows per pass and prefetches the rows ahead.
 * Rows past nr only lend their scales (repeats of row nr - 1) and are never stored. */
#include <stddef.h>

#include "arch/x86/simd_avx2.h"
#include "arch/x86/tile_avx2.h"
#include "kernels.h"
#include "quants/blocks.h"

/* how each lane's 4 products are summed, and the path these tiles fill: arch/x86_512/tile_vnni.c
 * builds this file again with one vpdpbusd instead (the same exact integers, so the same outputs) */
#ifndef TILE_LANE_SUMS
#define TILE_LANE_SUMS(codes, yq) _mm256_madd_epi16(_mm256_maddubs_epi16(codes, yq), _mm256_set1_epi16(1))
#define TILE_FN(W) pg_vec_dot_tile_##W##_avx2
#define TILE_FILL pg_fill_avx2_tile
#endif

#define ROWS PG_TILE_ROWS
#define COLS PG_TILE_COLS
#define SEG 32 /* blocks whose scales are prepared at once */
/* one activation row (GEMV): weight rows this far ahead are prefetched into L2, the rows of the
 * tiles that follow (8 interleaved short streams train the hardware prefetchers too late; into
 * L1 the prefetches measured no better than none) */
#define GEMV_PREFETCH_ROWS 32

/* the min terms' f16 fields: m follows d in Q4_1 / Q5_1, s follows d in Q8_1 */
#define MIN_FIELD 2
_Static_assert(offsetof(block_q4_1, m) == MIN_FIELD && offsetof(block_q5_1, m) == MIN_FIELD &&
                   offsetof(block_q8_1, s) == MIN_FIELD, "min fields");

static inline float f16_field(const void *block, size_t off) {
    uint16_t h;
    memcpy(&h, (const char *)block + off, 2);
    return fp16_to_f32(h);
}

/* the scale data of one segment of blocks, for all rows and activation rows of a tile */
typedef struct {
    float d[SEG][COLS][ROWS];   /* d_x * d_y of (block, activation row, weight row) */
    __m256i offset[SEG][COLS];  /* Q5_0: 16 * the 4-sums of each activation block */
} seg_scales;

/* ---- per weight block: its 32 codes as unsigned bytes ---- */

/* 16 bytes of nibbles -> low nibbles in the low half, high nibbles in the high half */
static inline __m256i nibbles_32(const uint8_t *qs) {
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0x0f));
}
/* nibbles with bit j of qh as their fifth bit, in [0, 31] */
static inline __m256i codes_5bit(const uint8_t qs[16], const uint8_t qh[4]) {
    const __m256i fifth = _mm256_and_si256(bytes_from_bits_32(qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles_32(qs), fifth);
}
static inline __m256i codes_q4_1(const block_q4_1 *x) { return nibbles_32(x->qs); }
static inline __m256i codes_q5_0(const block_q5_0 *x) { return codes_5bit(x->qs, x->qh); }
static inline __m256i codes_q5_1(const block_q5_1 *x) { return codes_5bit(x->qs, x->qh); }
/* |x| (-128 gives 128, still within maddubs' unsigned operand) */
static inline __m256i codes_q8_0(const block_q8_0 *x) {
    return _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)x->qs));
}

/* activation bytes as the partner of the codes: Q8_0 takes the weight's signs */
static inline __m256i act_q8_0(const block_q8_0 *x, __m256i y) {
    return _mm256_sign_epi8(y, _mm256_loadu_si256((const __m256i *)x->qs));
}
#define ACT_AS_IS(W)                                                                                         \
    static inline __m256i act_##W(const block_##W *x, __m256i y) { (void)x; return y; }
ACT_AS_IS(q4_1)
ACT_AS_IS(q5_0)
ACT_AS_IS(q5_1)

/* 16 * (sum of activation bytes 4j..4j+3) in lane j */
static inline __m256i offset_16x_sums(__m256i yq) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(16), yq), _mm256_set1_epi16(1));
}

/* the f16 field at byte offset off of blocks [ib0, ib1) of each weight row: h[ib - ib0][row]
 * (converted 8 at a time once all are stored). The copies stay scalar (the empty asm keeps
 * the compiler from vectorizing them): integer pipes are idle, vector ones are not. */
static inline void gather_row_f16(uint16_t h[SEG][ROWS], const char *const xr[ROWS], size_t bsize, int ib0, int ib1,
                                  size_t off) {
    for (int ib = ib0; ib < ib1; ib++)
        for (int r = 0; r < ROWS; r += 4) { /* 4 fields per 64-bit store */
            uint64_t four = 0;
            for (int k = 0; k < 4; k++) {
                uint16_t v;
                memcpy(&v, xr[r + k] + (size_t)ib * bsize + off, 2);
                four |= (uint64_t)v << (16 * k);
            }
            __asm__("" : "+r"(four));
            memcpy(&h[ib - ib0][r], &four, 8);
        }
}
static inline __m256 f16x8(const uint16_t h[ROWS]) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)); }

/* lane r = hsum_f32x8(acc[r][c]) for the 8 rows (tile_avx2.h) */
static inline __m256 hsum_rows(const __m256 acc[ROWS][COLS], int c) {
    __m256 a[ROWS];
    for (int r = 0; r < ROWS; r++) a[r] = acc[r][c];
    return hsum_f32x8_of_8(a);
}

/* One pass: weight rows r0..r0+NR-1 against NC activation rows over blocks [ib0, ib1);
 * acc[r][c] carries output (r0 + r, c) from segment to segment. */
#define DEFINE_PASS(W, A, OFFSET)                                                                            \
    TILE_INLINE void pass_##W(const seg_scales *sc, int ib0, int ib1, const char *const xr[ROWS], size_t bx, int r0, \
                              const char *y, size_t by, __m256 acc[ROWS][COLS], const int NR, const int NC) { \
        __m256 a[ROWS][COLS];                                                                                \
        for (int r = 0; r < NR; r++)                                                                         \
            for (int c = 0; c < NC; c++) a[r][c] = ib0 ? acc[r0 + r][c] : _mm256_setzero_ps();               \
        for (int ib = ib0; ib < ib1; ib++) {                                                                 \
            for (int r = 0; r < NR; r++) {                                                                   \
                const block_##W *xb = (const block_##W *)xr[r0 + r] + ib;                                    \
                const __m256i codes = codes_##W(xb);                                                         \
                if (NC == 1) _mm_prefetch((const char *)xb + GEMV_PREFETCH_ROWS * bx, _MM_HINT_T1);          \
                for (int c = 0; c < NC; c++) {                                                               \
                    const block_##A *yb = (const block_##A *)(y + c * by) + ib;                              \
                    const __m256i yq = act_##W(xb, _mm256_loadu_si256((const __m256i *)yb->qs));             \
                    __m256i lanes = TILE_LANE_SUMS(codes, yq);                                          \
                    if (OFFSET) lanes = _mm256_sub_epi32(lanes, sc->offset[ib - ib0][c]);                    \
                    const __m256 d = _mm256_broadcast_ss(&sc->d[ib - ib0][c][r0 + r]);                       \
                    a[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), a[r][c]);                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        for (int r = 0; r < NR; r++)                                                                         \
            for (int c = 0; c < NC; c++) acc[r0 + r][c] = a[r][c];                                           \
    }

/* A whole tile with NC activation rows: per segment, the scales, then the passes of NR rows. */
#define DEFINE_TILE_NC(W, A, OFFSET, MIN)                                                                    \
    TILE_INLINE void tile_nc_##W(int nb, float *s, size_t bs, int nr, const char *const xr[ROWS], size_t bx,   \
                                 const char *y,                                                          \
                                 size_t by, const int NC, const int NR) {                                    \
        typedef block_##A act_block; /* the activation blocks */                                             \
        seg_scales sc;                                                                                       \
        __m256 acc[ROWS][COLS];                                                                              \
        __m256 sum_min[COLS];                                                                                \
        for (int c = 0; c < NC; c++) {                                                                       \
            sum_min[c] = _mm256_setzero_ps();                                                                \
            for (int r = nr; r < ROWS; r++) acc[r][c] = _mm256_setzero_ps(); /* the passes skip them */      \
        }                                                                                                    \
        for (int ib0 = 0; ib0 < nb; ib0 += SEG) {                                                            \
            const int ib1 = ib0 + SEG < nb ? ib0 + SEG : nb;                                                 \
            uint16_t xd_h[SEG][ROWS], xm_h[SEG][ROWS];                                                       \
            gather_row_f16(xd_h, xr, sizeof(block_##W), ib0, ib1, offsetof(block_##W, d));                   \
            if (MIN) gather_row_f16(xm_h, xr, sizeof(block_##W), ib0, ib1, MIN_FIELD);                       \
            for (int ib = ib0; ib < ib1; ib++) {                                                             \
                const __m256 xd = f16x8(xd_h[ib - ib0]);                                                     \
                const __m256 xm = MIN ? f16x8(xm_h[ib - ib0]) : _mm256_setzero_ps();                         \
                for (int c = 0; c < NC; c++) {                                                               \
                    const act_block *yb = (const act_block *)(y + c * by) + ib;                              \
                    _mm256_storeu_ps(sc.d[ib - ib0][c], _mm256_mul_ps(xd, _mm256_set1_ps(fp16_to_f32(yb->d)))); \
                    if (OFFSET)                                                                              \
                        sc.offset[ib - ib0][c] = offset_16x_sums(_mm256_loadu_si256((const __m256i *)yb->qs)); \
                    if (MIN) /* m_x * s_y is exact: mul + add round as vec_dot's += */                       \
                        sum_min[c] = _mm256_add_ps(sum_min[c],                                           \
                                                   _mm256_mul_ps(xm, _mm256_set1_ps(f16_field(yb, MIN_FIELD)))); \
                }                                                                                            \
            }                                                                                                \
            int r0 = 0;                                                                                      \
            for (; r0 + NR <= nr; r0 += NR) pass_##W(&sc, ib0, ib1, xr, bx, r0, y, by, acc, NR, NC);         \
            if (NR > 2)                                                                                      \
                for (; r0 + 2 <= nr; r0 += 2) pass_##W(&sc, ib0, ib1, xr, bx, r0, y, by, acc, 2, NC);        \
            for (; r0 < nr; r0++) pass_##W(&sc, ib0, ib1, xr, bx, r0, y, by, acc, 1, NC);                    \
        }                                                                                                    \
        for (int c = 0; c < NC; c++) {                                                                       \
            const __m256 v = _mm256_add_ps(hsum_rows(acc, c), sum_min[c]);                                   \
            float *out = (float *)((char *)s + c * bs);                                                      \
            if (nr == ROWS) {                                                                                \
                _mm256_storeu_ps(out, v);                                                                    \
            } else {                                                                                         \
                float lanes[ROWS];                                                                           \
                _mm256_storeu_ps(lanes, v);                                                                  \
                for (int r = 0; r < nr; r++) out[r] = lanes[r];                                              \
            }                                                                                                \
        }                                                                                                    \
    }

#define DEFINE_TILE(W, A, OFFSET, MIN)                                                                       \
    DEFINE_PASS(W, A, OFFSET)                                                                                \
    DEFINE_TILE_NC(W, A, OFFSET, MIN)                                                                        \
    static void TILE_FN(W)(int n, float *s, size_t bs, const void *x, size_t bx,             \
                                           const void *y, size_t by, int nr, int nc) {                       \
        const char *rows[ROWS];                                                                              \
        for (int r = 0; r < ROWS; r++) rows[r] = (const char *)x + (size_t)(r < nr ? r : nr - 1) * bx;       \
        const int nb = n / 32;                                                                               \
        const char *yc = (const char *)y;                                                                    \
        if (nc > 4 && nc < COLS) { /* 5..7: 4 activation rows, then the rest */                             \
            tile_nc_##W(nb, s, bs, nr, rows, bx, yc, by, 4, 2);                                              \
            s = (float *)((char *)s + 4 * bs);                                                               \
            yc += 4 * by;                                                                                    \
            nc -= 4;                                                                                         \
        }                                                                                                    \
        switch (nc) {                                                                                        \
        case 1: tile_nc_##W(nb, s, bs, nr, rows, bx, yc, by, 1, 8); break;                                   \
        case 2: tile_nc_##W(nb, s, bs, nr, rows, bx, yc, by, 2, 4); break;                                   \
        case 3: tile_nc_##W(nb, s, bs, nr, rows, bx, yc, by, 3, 2); break;                                   \
        case 4: tile_nc_##W(nb, s, bs, nr, rows, bx, yc, by, 4, 2); break;                                   \
        default: tile_nc_##W(nb, s, bs, nr, rows, bx, yc, by, COLS, 1); break;                               \
        }                                                                                                    \
    }

/* weight type, activation type, 16 * 4-sums subtracted (Q5_0's offset), min terms */
DEFINE_TILE(q4_1, q8_1, 0, 1)
DEFINE_TILE(q5_0, q8_0, 1, 0)
DEFINE_TILE(q5_1, q8_1, 0, 1)
#ifndef TILE_WITHOUT_Q8_0   /* the avx512 path has its own (arch/x86_512/tile_q8_0_vnni.c) */
DEFINE_TILE(q8_0, q8_0, 0, 0)
#endif

void TILE_FILL(pg_kernels *k) {
    k->vec_dot_tile[PG_TYPE_Q4_1] = TILE_FN(q4_1);
    k->vec_dot_tile[PG_TYPE_Q5_0] = TILE_FN(q5_0);
    k->vec_dot_tile[PG_TYPE_Q5_1] = TILE_FN(q5_1);
#ifndef TILE_WITHOUT_Q8_0
    k->vec_dot_tile[PG_TYPE_Q8_0] = TILE_FN(q8_0);
#endif
}
