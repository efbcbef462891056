/* Weights repacked for the paths' vec_dot_tile_x8 kernels (layout: csrc/kernels.h): one
 * sequential stream per group of 8 rows, each block's codes already in the transposed order
 * the 8-row tiles build on the fly (arch/x86/tile_q4_0_avx2.c), and the 8 scales side by side. */
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
