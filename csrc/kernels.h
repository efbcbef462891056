/* The kernel dispatch table: one set of function pointers, filled once at import from CPUID
 * (or PYGGML_SIMD), read by every op. Three tiers per kernel:
 *   _ref    portable ground truth (csrc/quants/, csrc/ops/*_ref), never dispatched to directly
 *           unless the scalar path is documented to be the ref itself;
 *   scalar  baseline C, the "scalar" path;
 *   avx2 / neon in csrc/arch/x86, csrc/arch/arm.
 * Naming: pg_vec_dot_<weight>_<activation>_<path>, pg_quantize_row_<type>_<path>. */
#ifndef PG_KERNELS_H
#define PG_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "pyggml.h"

/* s = dot(x[0..n), y[0..n)); x is a row of the weight type, y of its vec_dot partner type.
 * n is a multiple of the weight type's block size. */
typedef void (*pg_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* Convert n floats into n elements of a type (n a multiple of its block size). */
typedef void (*pg_from_float_fn)(const float *x, void *y, int64_t n);
/* Convert n elements of a type into n floats. */
typedef void (*pg_to_float_fn)(const void *x, float *y, int64_t n);

/* Static traits of a type (portable, not dispatched). */
typedef struct {
    const char *name;
    int64_t blck_size;
    size_t type_size;
    bool is_quantized;
    bool known;                    /* false for holes in the id space */
    pg_to_float_fn to_float_ref;   /* NULL if pyggml cannot dequantize it */
    pg_from_float_fn from_float_ref; /* NULL if pyggml cannot quantize to it */
    int vec_dot_type;              /* activation partner for mul_mat; -1 if none */
} pg_type_traits;

extern const pg_type_traits pg_type_traits_table[PG_TYPE_COUNT];

/* The dispatched kernels of one SIMD path. */
typedef struct {
    const char *path;                          /* "scalar", "avx2", "neon" */
    pg_vec_dot_fn vec_dot[PG_TYPE_COUNT];      /* indexed by weight type */
    pg_from_float_fn from_float[PG_TYPE_COUNT];/* quantize a row (activations, F16 cache) */
    pg_to_float_fn to_float[PG_TYPE_COUNT];    /* dequantize a row (get_rows, cpy) */
} pg_kernels;

/* The active table. Valid after pg_kernels_init(); never NULL afterwards. */
extern const pg_kernels *pg_active_kernels;

/* Each path fills a table: scalar fills every entry it can; an ISA path starts from the
 * scalar table and overrides what it accelerates. */
void pg_kernels_fill_scalar(pg_kernels *k);
void pg_kernels_fill_avx2(pg_kernels *k);   /* only linked on x86 */
void pg_kernels_fill_neon(pg_kernels *k);   /* only linked on aarch64 */

/* Best path this CPU supports; 1 if the aarch64 CPU has the dotprod extension. */
const char *pg_best_simd_path(void);
int pg_cpu_has_arm_dotprod(void);

/* F16 <-> F32 scalar conversions (exact, round-to-nearest-even). */
float pg_fp16_to_fp32(uint16_t h);
uint16_t pg_fp32_to_fp16(float f);
float pg_bf16_to_fp32(uint16_t h);
uint16_t pg_fp32_to_bf16(float f);

#endif
