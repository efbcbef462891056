/* Weights repacked for the paths' vec_dot_tile_x8 kernels (layout: csrc/kernels.h): one
 * sequential stream per group of 8 rows, each block's codes already in the transposed order
 * the 8-row tiles build on the fly (arch/x86/tile_q4_0_avx2.c), and the 8 scales side by side;
 * and the activation rows those kernels take (Q8_0 blocks, then 8 * each block's code sum). */
#include <string.h>

#include "pyggml.h"
#include "quants/blocks.h"

#define GROUP 8

int pg_repack_q4_0_x8(const void *src, size_t row_bytes, void *dst, int64_t n_rows, int64_t k) {
    if (n_rows <= 0 || n_rows % GROUP || k <= 0 || k % QK4_0 || row_bytes < (size_t)(k / QK4_0) * sizeof(block_q4_0))
        return -1;
    const int64_t nb = k / QK4_0;
    uint8_t *out = dst;
    for (int64_t g = 0; g < n_rows / GROUP; g++)
        for (int64_t b = 0; b < nb; b++) {
            const block_q4_0 *x[GROUP];
            for (int r = 0; r < GROUP; r++) x[r] = (const block_q4_0 *)((const char *)src + (size_t)(g * GROUP + r) * row_bytes) + b;
            for (int r = 0; r < GROUP; r++) memcpy(out + 2 * r, &x[r]->d, 2);
            for (int kk = 0; kk < 4; kk++)
                for (int r = 0; r < GROUP; r++) memcpy(out + 16 + 32 * kk + 4 * r, x[r]->qs + 4 * kk, 4);
            out += 16 + 4 * 32;
        }
    return 0;
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
