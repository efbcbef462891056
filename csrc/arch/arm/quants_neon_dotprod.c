/* The NEON int8 dot products with SDOT (the ARMv8.2 dotprod extension): 4 products summed
 * into each int32 lane in one instruction. Only this file is compiled for armv8.2-a+dotprod;
 * pg_fill_neon_quant installs these kernels only when the CPU reports dotprod. */
#pragma GCC target("arch=armv8.2-a+dotprod")

#include "arch/arm/quants_neon.h"

#define DOT_I8(acc, a, b) vdotq_s32((acc), (a), (b))
#define KERNEL(wa) pg_vec_dot_##wa##_neon_dotprod
#include "arch/arm/quants_neon_int8.h"
