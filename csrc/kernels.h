/* The kernel dispatch table: one set of function pointers, filled once at import from CPUID
 * (or PYGGML_SIMD), read by every op. Three tiers per kernel:
 *   _ref    portable ground truth (csrc/quants/, csrc/ops/vec_ref.c), never dispatched to directly
 *           unless the scalar path is documented to be the ref itself;
 *   scalar  baseline C, the "scalar" path;
 *   avx2 / neon in csrc/arch/x86, csrc/arch/arm; avx512 (+VNNI) in csrc/arch/x86_512, over avx2.
 * The paths and their parents are registered in csrc/cpu_features.c.
 * Naming: pg_vec_dot_<weight>_<activation>_<path>, pg_quantize_row_<type>_<path>. */
#ifndef PG_KERNELS_H
#define PG_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "pyggml.h"

/* s = dot(x[0..n), y[0..n)); x is a row of the weight type, y of its vec_dot partner type.
 * n is a multiple of the weight type's block size. */
typedef void (*pg_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* A tile of dot products: for r < nr, c < nc
 *   s[c * bs / 4 + r] = dot(weight row r at x + r * bx, activation row c at y + c * by),
 * i.e. bs is the byte stride between output columns (dst->nb[1] in mul_mat). Each output is
 * bit-identical to vec_dot[type] of the same table on that pair: a tile kernel only overlaps
 * independent outputs and reuses each loaded block, never reorders one output's arithmetic.
 * 1 <= nr <= PG_TILE_ROWS, 1 <= nc <= PG_TILE_COLS. */
typedef void (*pg_vec_dot_tile_fn)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y,
                                   size_t by, int nr, int nc);
#define PG_TILE_ROWS 8
#define PG_TILE_COLS 8
/* activation rows per matrix (src1->ne[1]) from which mul_mat uses vec_dot_batch */
#define PG_BATCH_MIN_ROWS 8
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
    const char *path;                          /* "scalar", "avx2", "avx512", "neon" */
    /* per type: quant family (csrc/quants, arch/{x86,arm}/quants_*.c) */
    pg_vec_dot_fn vec_dot[PG_TYPE_COUNT];      /* indexed by weight type */
    /* tiles of vec_dot (csrc/arch/x86/tile_avx2*.c); NULL where a path has none: then
     * pg_vec_dot_tile() loops over vec_dot */
    pg_vec_dot_tile_fn vec_dot_tile[PG_TYPE_COUNT];
    /* llama.cpp's order for batches of >= PG_BATCH_MIN_ROWS activation rows where it differs
     * (its "tiled" K-quant mul_mat; arch/x86/quants_avx2_q6k_batch.c); same contract as
     * vec_dot_tile but with that order. NULL: vec_dot_tile / vec_dot. */
    pg_vec_dot_tile_fn vec_dot_batch[PG_TYPE_COUNT];
    /* vec_dot_tile's values from weights repacked by 8 rows (pg_repack_x8; the tensor's
     * `repacked` copy): x = the group of rows 8g..8g+7, bx = bytes per group; NULL: the path reads
     * the original rows. Group layouts, per block b (8 blocks' bytes at b * 8 * block size):
     * Q4_0: the 8 rows' f16 scales d[r] (16 bytes), then 4 vectors of 32 bytes, vector k holding
     *   code bytes 4k..4k+3 of row r at bytes 4r..4r+3 (low nibbles: elements 4k.., high: 16 + 4k..).
     *   Its activation rows (by bytes apart) are the Q8_0 blocks followed by one int32 per block,
     *   8 * the sum of the block's 32 codes (the codes' offset 8 times the activations: made once
     *   per matmul, pg_x8_activation_sums, instead of once per tile and block).
     * Q4_1: the 8 rows' f16 d[r] (16 bytes), their f16 m[r] (16 bytes), then the codes as Q4_0's;
     *   plain Q8_1 rows.
     * Q5_0: the 8 rows' f16 d[r] (16 bytes), their high-bit words (32 bytes: byte b of row r's word
     *   holds bit k = the fifth bit of element 4k + b, bit 4 + k that of element 16 + 4k + b), then
     *   the codes as Q4_0's; plain Q8_0 rows.
     * Q4_K: the super-block's 36 32-bit words interleaved, word w of row r at bytes 32w + 4r
     *   (word 0 = d | dmin << 16, 1..3 the packed scales, 4..35 the codes); plain Q8_K rows. */
    pg_vec_dot_tile_fn vec_dot_tile_x8[PG_TYPE_COUNT];
    /* vec_dot_tile_x8's values over two consecutive groups at once (x and x + bx: weight rows
     * 0..15, 1 <= nr <= 16): for paths whose vectors hold 16 lanes (avx512). NULL: groups one at
     * a time through vec_dot_tile_x8, as mul_mat does for tiles of one activation row anyway. */
    pg_vec_dot_tile_fn vec_dot_tile_x16[PG_TYPE_COUNT];
    /* vec_dot_gemv's values (per output, the single-row order) from a repacked group, tile-shaped
     * as vec_dot_tile_x8: for the activation rows mul_mat sends to vec_dot_gemv. NULL where the
     * type has no vec_dot_gemv (vec_dot_tile_x8 then serves every row) or the path no such kernel
     * (mul_mat then reads the original rows for those). */
    pg_vec_dot_tile_fn vec_dot_gemv_x8[PG_TYPE_COUNT];
    /* single-row products (mul_mat with one activation row, attention of one query):
     * llama.cpp's ggml computes these with its vec_dot (four 8-lane accumulators) where a batch
     * goes through its GEMM (one accumulator), so F32/F16 need their own order to match it bit
     * for bit (csrc/quants/gemv_ref.c, arch/x86/gemv_avx2.c). NULL: same as vec_dot. */
    pg_vec_dot_fn vec_dot_gemv[PG_TYPE_COUNT];
    /* which activation rows take vec_dot_gemv: 0 = only a lone row (M == 1); g > 0 = the last
     * M % g rows (llama.cpp's repacked GEMM takes rows in groups of g, its GEMV the rest) */
    uint8_t gemv_group[PG_TYPE_COUNT];
    pg_from_float_fn from_float[PG_TYPE_COUNT];/* quantize a row (activations, F16 cache) */
    pg_to_float_fn to_float[PG_TYPE_COUNT];    /* dequantize a row (get_rows, cpy) */
    /* F32 vector primitives used by the ops (csrc/ops/vec_scalar.c, arch/{x86,arm}/vec_*.c).
     * All arrays are contiguous; n is any length >= 0 (SIMD versions handle the tail). */
    void (*vec_add_f32)(int n, float *z, const float *x, const float *y);   /* z = x + y */
    void (*vec_mul_f32)(int n, float *z, const float *x, const float *y);   /* z = x * y */
    void (*vec_scale_f32)(int n, float *y, float v);                        /* y *= v */
    void (*vec_mad_f32)(int n, float *y, const float *x, float v);          /* y += x * v */
    void (*vec_mad_f16)(int n, float *y, const uint16_t *x, float v);       /* y += f32(x) * v */
    float (*vec_max_f32)(int n, const float *x);                            /* -INF if n == 0 */
    double (*vec_sum_sq_f32)(int n, const float *x);                        /* sum x^2 */
    /* s[r] = vec_sum_sq_f32(n, x[r]) bit for bit for 8 rows (rms_norm: an in-order double sum
     * does not vectorise along a row, but does across rows); NULL: row by row */
    void (*vec_sum_sq_f32_x8)(int n, double s[8], const float *const x[8]);
    /* y = exp(x - max); returns sum(y) */
    double (*vec_soft_max_f32)(int n, float *y, const float *x, float max);
    void (*vec_silu_f32)(int n, float *y, const float *x);                  /* x * sigmoid(x) */
    /* y = silu(x) * g: the gated FFN's fused step */
    void (*vec_swiglu_f32)(int n, float *y, const float *x, const float *g);
    void (*vec_cvt_f32_f16)(int n, uint16_t *y, const float *x);            /* F32 -> F16 */
    void (*vec_cvt_f16_f32)(int n, float *y, const uint16_t *x);            /* F16 -> F32 */
    /* RoPE of one contiguous head: its first n_dims floats rotated in pairs — normal (2i, 2i+1)
     * or neox (i, i + n_dims/2) — by cache = (cos_i, sin_i) interleaved per pair:
     * y0 = fma(x0, c, -(x1 * s)), y1 = fma(x0, s, x1 * c) (llama.cpp's contraction). */
    void (*vec_rope_f32)(int n_dims, int neox, float *y, const float *x, const float *cache);
    /* P·V of one attention query: out[d] = sum over j < n of p[j] * V[j][d], dv % 8 == 0, in
     * llama.cpp's batched order: position j feeds lane j % 8 by FMA (every j, as ggml: p[j] = 0 too),
     * lanes reduced as (l0+l4 + l2+l6) + (l1+l5 + l3+l7) — see csrc/ops/attention.c.
     * V blocked by 8 dims (each block streams contiguously): V[j][d] at
     * v[(d / 8) * block_stride + j * 8 + d % 8]. */
    void (*vec_pv8_f32)(int n, int dv, float *out, const float *v, size_t block_stride, const float *p);
    /* One query (a decode step) over an F16 cache, in ggml's single-row (vec_dot_f16) order; NULL:
     * csrc/ops/attention.c loops over vec_dot_gemv[F16] / vec_mad_f16, same values (refs in
     * csrc/ops/vec_pv_ref.c).
     * attn_scores_f16: s[c * s_stride + j] = vec_dot_gemv[F16](dk, K row j, q row c) bit for bit,
     *   for j < n, c < nq; K row j at k + j * k_stride, q row c at q + c * dk (both F16); dk % 32 == 0.
     * attn_pv_f16: out[h * out_stride + d] = sum over j < n of p[h * p_stride + j] * V[j][d] for
     *   d < nd (nd % 8 == 0), h < nh, V[j][d] = v[j * v_stride + d]: position j < n & ~31 feeds
     *   lane j % 8 of accumulator (j / 8) % 4 by FMA, reduced as vec_dot_gemv; the positions after
     *   that are added afterwards in double, (double)(V * p) each, in order. */
    void (*attn_scores_f16)(int n, int dk, int nq, float *s, size_t s_stride, const uint16_t *k, size_t k_stride,
                            const uint16_t *q);
    void (*attn_pv_f16)(int n, int nd, int nh, float *out, size_t out_stride, const uint16_t *v, size_t v_stride,
                        const float *p, size_t p_stride);
    /* A block of attention rows (a prompt batch: some queries x the heads of a GQA group) over one
     * kv head converted to F32 in blocks of 16 (csrc/ops/attention_block.c); NULL: attention.c's
     * query-by-query path. Refs in csrc/ops/vec_pv_ref.c.
     * attn_block_scores: s[r * s_stride + j] for r < nr, j < 16 * nb: dot * scale (+ mask[r][j] where
     *   mask and mask[r] are not NULL) for j < n_valid, -INF after; dot = vec_dot_tile[F32] of q row
     *   r (q + r * dk) and key j bit for bit: lane l = FMA chain over t < dk / 8 of q[8t + l] * k[8t + l],
     *   then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)); dk % 8 == 0. K transposed in blocks
     *   of 16 keys: key 16b + i, dim d at kt[(b * dk + d) * 16 + i].
     * attn_block_pv: out[r * out_stride + d] for r < nr, d < dv (dv % 16 == 0) = vec_pv8_f32's value
     *   over positions j < n with p row r at p + r * p_stride; V in blocks of 16 dims: V[j][d] at
     *   v[(d / 16) * block_stride + j * 16 + d % 16]. */
    void (*attn_block_scores)(int dk, int nb, int nr, float *s, size_t s_stride, const float *q, const float *kt,
                              float scale, const float *const *mask, int n_valid);
    void (*attn_block_pv)(int n, int dv, int nr, float *out, size_t out_stride, const float *v, size_t block_stride,
                          const float *p, size_t p_stride);
} pg_kernels;

/* The active table. Valid after pg_kernels_init(); never NULL afterwards. */
extern const pg_kernels *pg_active_kernels;

/* Each path fills a table: scalar fills every entry it can; an ISA path starts from a copy of
 * its parent's filled table (cpu_features.c) and overrides what it accelerates. */
void pg_kernels_fill_scalar(pg_kernels *k);
void pg_kernels_fill_avx2(pg_kernels *k);   /* only linked on x86 */
void pg_kernels_fill_avx512(pg_kernels *k); /* only linked on x86 (csrc/arch/x86_512) */
void pg_kernels_fill_neon(pg_kernels *k);   /* only linked on aarch64 */
/* The per-family parts those call. */
void pg_fill_scalar_quant(pg_kernels *k);   /* csrc/quants/scalar_table.c */
void pg_fill_scalar_vec(pg_kernels *k);     /* csrc/ops/vec_scalar.c */
void pg_fill_avx2_quant(pg_kernels *k);     /* csrc/arch/x86/quants_avx2.c */
void pg_fill_avx2_vec(pg_kernels *k);       /* csrc/arch/x86/vec_avx2.c */
void pg_fill_neon_quant(pg_kernels *k);     /* csrc/arch/arm/quants_neon.c */
void pg_fill_neon_vec(pg_kernels *k);       /* csrc/arch/arm/vec_neon.c */
void pg_fill_avx2_tile(pg_kernels *k);      /* csrc/arch/x86/tile_avx2.c */
void pg_fill_avx2_tile_q4_0(pg_kernels *k); /* csrc/arch/x86/tile_q4_0_avx2.c */
void pg_fill_avx2_tile_q4_1_x8(pg_kernels *k); /* csrc/arch/x86/tile_q4_1_x8_avx2.c */
void pg_fill_avx2_tile_k(pg_kernels *k);    /* csrc/arch/x86/tile_k_avx2.c */
void pg_fill_avx2_q6k_batch(pg_kernels *k); /* csrc/arch/x86/quants_avx2_q6k_batch.c */
void pg_fill_avx2_gemv(pg_kernels *k);      /* csrc/arch/x86/gemv_avx2.c */
void pg_fill_avx2_gemv_q4_K(pg_kernels *k); /* csrc/arch/x86/gemv_q4_K_avx2.c */
void pg_fill_avx2_rope(pg_kernels *k);      /* csrc/arch/x86/rope_avx2.c */
void pg_fill_avx2_pv(pg_kernels *k);        /* csrc/arch/x86/pv_avx2.c */
void pg_fill_avx2_float_tile(pg_kernels *k); /* csrc/arch/x86/tile_float_avx2.c */
void pg_fill_neon_rope(pg_kernels *k);      /* csrc/arch/arm/rope_neon.c */
void pg_fill_avx512_tile_vnni(pg_kernels *k); /* csrc/arch/x86_512/tile_vnni.c */
void pg_fill_avx512_tile_q4_0_vnni(pg_kernels *k); /* csrc/arch/x86_512/tile_q4_0_vnni.c */
void pg_fill_avx512_tile_q4_0_x16_vnni(pg_kernels *k); /* csrc/arch/x86_512/tile_q4_0_x16_vnni.c */
void pg_fill_avx512_tile_q4_1_x8_vnni(pg_kernels *k); /* csrc/arch/x86_512/tile_q4_1_x8_vnni.c */
void pg_fill_avx512_tile_q5_0_x8_vnni(pg_kernels *k); /* csrc/arch/x86_512/tile_q5_0_x8_vnni.c */
void pg_fill_avx512_one_query(pg_kernels *k); /* csrc/arch/x86_512/one_query_avx512.c */
void pg_fill_avx512_vec(pg_kernels *k);      /* csrc/arch/x86_512/vec_avx512.c */
void pg_fill_avx512_tile_q8_0_vnni(pg_kernels *k); /* csrc/arch/x86_512/tile_q8_0_vnni.c */
void pg_fill_avx512_tile_f32(pg_kernels *k); /* csrc/arch/x86_512/tile_f32_avx512.c */
void pg_fill_avx512_q6k_batch_vnni(pg_kernels *k); /* csrc/arch/x86_512/q6k_batch_vnni.c */
void pg_fill_avx512_tile_k_vnni(pg_kernels *k);    /* csrc/arch/x86_512/tile_k_vnni.c */
void pg_fill_avx512_tile_q4_k_x16(pg_kernels *k);  /* csrc/arch/x86_512/tile_q4_k_x16_vnni.c */
void pg_fill_avx512_attn_block(pg_kernels *k);     /* csrc/arch/x86_512/attn_block_avx512.c */

/* The tile of k for a weight type: k->vec_dot_tile[type], or a loop over k->vec_dot[type]
 * where the path has no tile kernel (csrc/ops/vec_dot_tile.c). Same contract as the fn type. */
void pg_vec_dot_tile(const pg_kernels *k, int type, int n, float *s, size_t bs, const void *x, size_t bx,
                     const void *y, size_t by, int nr, int nc);

/* Best path this CPU supports; 1 if the aarch64 CPU has the dotprod extension. */
const char *pg_best_simd_path(void);
/* The filled table of a path, NULL if unknown or unavailable here (the C harness's way in). */
const pg_kernels *pg_simd_path_kernels(const char *name);
/* Comma-separated path names: every known one / the ones this CPU and build can run. */
const char *pg_simd_paths_known(void);
const char *pg_simd_paths_available(void);
/* 1 if this build has the path's kernels (known paths of another platform, or without kernels
 * yet such as amx, are not built); what a path needs (for the error naming a missing path). */
int pg_simd_path_built(const char *name);
const char *pg_simd_path_needs(const char *name);
int pg_cpu_has_arm_dotprod(void);

/* F16 <-> F32 scalar conversions (exact, round-to-nearest-even). */
float pg_fp16_to_fp32(uint16_t h);
uint16_t pg_fp32_to_fp16(float f);
float pg_bf16_to_fp32(uint16_t h);
uint16_t pg_fp32_to_bf16(float f);

#endif
