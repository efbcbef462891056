/* pg_vec_dot_tile: a tile of dot products through the path's tile kernel, or, for a type the
 * path has none for, one vec_dot per output (the same values by definition). */
#include "kernels.h"

void pg_vec_dot_tile(const pg_kernels *k, int type, int n, float *s, size_t bs, const void *x, size_t bx,
                     const void *y, size_t by, int nr, int nc) {
    if (k->vec_dot_tile[type]) {
        k->vec_dot_tile[type](n, s, bs, x, bx, y, by, nr, nc);
        return;
    }
    const pg_vec_dot_fn dot = k->vec_dot[type];
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            dot(n, (float *)((char *)s + c * bs) + r, (const char *)x + r * bx, (const char *)y + c * by);
}
