/* The NEON int8 dot products for any ARMv8 CPU: products widened to int16 (vmull, exact for
 * int8 x int8), then added pairwise into int32 lanes (vpadal). */
#include "arch/arm/quants_neon.h"
#include "arch/arm/simd_neon.h"

static inline int32x4_t dot_i8_widen(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

#define DOT_I8(acc, a, b) dot_i8_widen((acc), (a), (b))
#define KERNEL(wa) pg_vec_dot_##wa##_neon_widen
#include "arch/arm/quants_neon_int8.h"
