/* Weights repacked for the paths' x8 kernels (vec_dot_tile_x8 / vec_dot_gemv_x8, layouts in
 * csrc/kernels.h): one sequential stream per group of 8 rows, each block already in the
 * transposed order the 8-row tiles would build on the fly (arch/x86/tile_q4_0_avx2.c,
 * tile_q4_1_x8_avx2.c, tile_k_avx2.c, arch/x86_512/tile_q5_0_x8_vnni.c); and the activation rows
 * the Q4_0 kernels take (Q8_0 blocks, then 8 * each block's code sum). */
#include <stddef.h>
#include <string.h>

#include "pyggml.h"
#include "quants/blocks.h"

#define GROUP 8

/* Q4_0 / Q4_1 (32 elements, 16 code bytes after n_f16 f16 fields: d, or d and m): per block, each
 * f16 field of the 8 rows side by side (16 bytes a field), then 4 vectors of 32 bytes, vector k
 * holding code bytes 4k..4k+3 of row r at bytes 4r..4r+3 */
static void repack_nibbles(const void *src, size_t row_bytes, uint8_t *out, int64_t n_rows, int64_t nb,
                           size_t block_bytes, int n_f16) {
    const size_t codes = 2 * (size_t)n_f16;   /* the code bytes' offset in a block */
    for (int64_t g = 0; g < n_rows / GROUP; g++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *x[GROUP];
            for (int r = 0; r < GROUP; r++) x[r] = (const uint8_t *)src + (size_t)(g * GROUP + r) * row_bytes + (size_t)b * block_bytes;
            for (int f = 0; f < n_f16; f++)
                for (int r = 0; r < GROUP; r++) memcpy(out + 16 * f + 2 * r, x[r] + 2 * f, 2);
            out += 16 * n_f16;
            for (int kk = 0; kk < 4; kk++)
                for (int r = 0; r < GROUP; r++) memcpy(out + 32 * kk + 4 * r, x[r] + codes + 4 * kk, 4);
            out += 4 * 32;
        }
}
_Static_assert(offsetof(block_q4_0, qs) == 2 && offsetof(block_q4_1, m) == 2 && offsetof(block_q4_1, qs) == 4,
               "Q4_0 / Q4_1 field offsets");

/* Q5_0: per block, the 8 rows' d (16 bytes), their high-bit words rearranged (32 bytes: byte b
 * of a row's word holds bit k = qh bit 4k + b and bit 4 + k = qh bit 16 + 4k + b, so that one
 * shift puts a code's fifth bit at bit 4 of its byte), then the codes transposed as Q4_0's */
static void repack_q5_0(const void *src, size_t row_bytes, uint8_t *out, int64_t n_rows, int64_t nb) {
    for (int64_t g = 0; g < n_rows / GROUP; g++)
        for (int64_t b = 0; b < nb; b++) {
            const block_q5_0 *x[GROUP];
            for (int r = 0; r < GROUP; r++)
                x[r] = (const block_q5_0 *)((const uint8_t *)src + (size_t)(g * GROUP + r) * row_bytes) + b;
            for (int r = 0; r < GROUP; r++) memcpy(out + 2 * r, &x[r]->d, 2);
            for (int r = 0; r < GROUP; r++) {
                const uint32_t qh = (uint32_t)x[r]->qh[0] | (uint32_t)x[r]->qh[1] << 8 | (uint32_t)x[r]->qh[2] << 16 |
                                    (uint32_t)x[r]->qh[3] << 24;
                for (int byte = 0; byte < 4; byte++) {
                    uint8_t v = 0;
                    for (int k = 0; k < 4; k++)
                        v |= (uint8_t)(((qh >> (4 * k + byte)) & 1u) << k | ((qh >> (16 + 4 * k + byte)) & 1u) << (4 + k));
                    out[16 + 4 * r + byte] = v;
                }
            }
            for (int kk = 0; kk < 4; kk++)
                for (int r = 0; r < GROUP; r++) memcpy(out + 48 + 32 * kk + 4 * r, x[r]->qs + 4 * kk, 4);
            out += GROUP * sizeof(block_q5_0);
        }
}

/* Q4_K: per super-block, its 36 32-bit words interleaved: word w of row r at bytes 32w + 4r
 * (word 0 = d | dmin << 16, words 1..3 the packed scales, 4..35 the code bytes) */
static void repack_q4_K(const void *src, size_t row_bytes, uint8_t *out, int64_t n_rows, int64_t nb) {
    enum { WORDS = sizeof(block_q4_K) / 4 };
    for (int64_t g = 0; g < n_rows / GROUP; g++)
        for (int64_t b = 0; b < nb; b++) {
            for (int r = 0; r < GROUP; r++) {
                const uint8_t *x = (const uint8_t *)src + (size_t)(g * GROUP + r) * row_bytes + (size_t)b * sizeof(block_q4_K);
                for (int w = 0; w < WORDS; w++) memcpy(out + 32 * w + 4 * r, x + 4 * w, 4);
            }
            out += GROUP * sizeof(block_q4_K);
        }
}

int pg_repack_x8(int type, const void *src, size_t row_bytes, void *dst, int64_t n_rows, int64_t k) {
    if (!pg_repack_x8_supported(type) || n_rows <= 0 || n_rows % GROUP || k <= 0 || k % pg_blck_size(type) ||
        row_bytes < pg_row_size(type, k))
        return -1;
    const int64_t nb = k / pg_blck_size(type);
    if (type == PG_TYPE_Q4_0) repack_nibbles(src, row_bytes, dst, n_rows, nb, sizeof(block_q4_0), 1);
    else if (type == PG_TYPE_Q4_1) repack_nibbles(src, row_bytes, dst, n_rows, nb, sizeof(block_q4_1), 2);
    else if (type == PG_TYPE_Q5_0) repack_q5_0(src, row_bytes, dst, n_rows, nb);
    else repack_q4_K(src, row_bytes, dst, n_rows, nb);
    return 0;
}

bool pg_repack_x8_supported(int type) {
    return type == PG_TYPE_Q4_0 || type == PG_TYPE_Q4_1 || type == PG_TYPE_Q5_0 || type == PG_TYPE_Q4_K;
}

size_t pg_x8_activation_row_bytes(int64_t k) {
    return (size_t)(k / QK8_0) * (sizeof(block_q8_0) + sizeof(int32_t));
}

void pg_x8_activation_sums(void *row, int64_t k) {
    const int64_t nb = k / QK8_0;
    const block_q8_0 *blocks = row;
    int32_t *sums = (int32_t *)((char *)row + (size_t)nb * sizeof(block_q8_0));
    for (int64_t b = 0; b < nb; b++) {
        int32_t sum = 0;
        for (int i = 0; i < QK8_0; i++) sum += blocks[b].qs[i];
        const int32_t eight_sum = 8 * sum;
        memcpy(&sums[b], &eight_sum, sizeof eight_sum);
    }
}
