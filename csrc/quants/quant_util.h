/* Small rounding/packing helpers shared by the reference converters (private to csrc/quants). */
#ifndef PG_QUANT_UTIL_H
#define PG_QUANT_UTIL_H

#include <math.h>
#include <string.h>
#include <stdint.h>

#include "kernels.h"

#define PG_F16(h) pg_fp16_to_fp32(h)

/* trunc(v) clamped to [0, hi]; NaN -> 0 (no undefined float->int conversion). */
static inline int trunc_clamp(float v, int hi) {
    if (!(v > 0.0f)) return 0;
    return v >= (float)hi ? hi : (int)v;
}

/* roundf(v) (half away from zero) clamped to [lo, hi]; NaN -> 0. */
static inline int round_away_clamp(float v, int lo, int hi) {
    if (v != v) return 0;
    float r = roundf(v);
    return r <= (float)lo ? lo : r >= (float)hi ? hi : (int)r;
}

/* Round to nearest, ties to even, for |v| < 2^22 (ggml's nearest_int): adding 1.5*2^23 leaves
 * the rounded integer in the low mantissa bits. Callers clamp the result. */
static inline int nearest_int(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* The element of largest magnitude, with its sign (the first one on ties, so an all -0.0 block
 * gives -0.0). A NaN anywhere makes the result NaN, so the block's scale becomes NaN (numpy's
 * argmax does the same). */
static inline float signed_absmax(const float *x, int n) {
    float amax = fabsf(x[0]), max = x[0];
    if (x[0] != x[0]) return x[0];
    for (int j = 1; j < n; j++) {
        float a = fabsf(x[j]);
        if (x[j] != x[j]) return x[j];
        if (a > amax) { amax = a; max = x[j]; }
    }
    return max;
}

#endif
