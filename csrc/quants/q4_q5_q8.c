/* Reference converters and dot products of the 32-element block types:
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (weights) and Q8_1 (activation partner of Q4_1/Q5_1).
 * Quantizers follow gguf-py's numpy reference bit for bit: scale from the block's extreme
 * value, f32 arithmetic, codes by truncation of (x*id + offset + 0.5) for the 4/5-bit types
 * and by round-half-away-from-zero for Q8. The scalar path uses these functions as they are.
 * Activations (Q8_0 as a vec_dot partner, Q8_1) use ggml's x86 activation quantizer instead:
 * id = 127 / amax and round half to even (see docs/fidelity.md). */
#include "quants/fp_exact.h"

#include <math.h>

#include "kernels.h"
#include "quants/quant_util.h"
#include "quants/quants.h"

/* ---- element layout: in a 32-block, byte j of qs holds element j (low nibble) and element
 * j + 16 (high nibble); bit j of the 32-bit qh is the fifth bit of element j ---- */

static void block_min_max(const float *x, int n, float *min, float *max) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] != x[j]) { lo = hi = x[j]; break; } /* NaN -> NaN scale, as numpy */
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    if (lo != lo) hi = lo;
    *min = lo;
    *max = hi;
}

static float block_abs_max(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a != a) return a; /* NaN -> NaN scale, as numpy */
        if (a > amax) amax = a;
    }
    return amax;
}

/* 1/d, or 0 when d == 0. When 1/d overflows (subnormal d) or d is NaN this returns NaN, which
 * turns every code of the block into 0: gguf-py's result on x86, where numpy's conversion of
 * inf/NaN codes to integers yields 0. (The f16 scale is 0 or NaN then, so the values agree.) */
static inline float inverse_scale(float d) {
    if (d == 0.0f) return 0.0f;
    const float id = 1.0f / d;
    return isfinite(id) ? id : NAN;
}

static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

/* ---------------- Q4_0: x = d * (q - 8), d = (signed extreme) / -8 ---------------- */

void pg_quantize_row_q4_0_ref(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t ib = 0; ib < n / QK4_0; ib++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8.0f;
        const float id = inverse_scale(d);
        y[ib].d = pg_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int lo = trunc_clamp(x[j] * id + 8.5f, 15);
            int hi = trunc_clamp(x[j + QK4_0 / 2] * id + 8.5f, 15);
            y[ib].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void pg_dequantize_row_q4_0_ref(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t ib = 0; ib < n / QK4_0; ib++, y += QK4_0) {
        const float d = PG_F16(x[ib].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = d * (float)((x[ib].qs[j] & 0x0f) - 8);
            y[j + QK4_0 / 2] = d * (float)((x[ib].qs[j] >> 4) - 8);
        }
    }
}

/* ---------------- Q4_1: x = d * q + m, d = (max - min) / 15, m = min ---------------- */

void pg_quantize_row_q4_1_ref(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t ib = 0; ib < n / QK4_1; ib++, x += QK4_1) {
        float min, max;
        block_min_max(x, QK4_1, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = inverse_scale(d);
        y[ib].d = pg_fp32_to_fp16(d);
        y[ib].m = pg_fp32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int lo = trunc_clamp((x[j] - min) * id + 0.5f, 15);
            int hi = trunc_clamp((x[j + QK4_1 / 2] - min) * id + 0.5f, 15);
            y[ib].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void pg_dequantize_row_q4_1_ref(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t ib = 0; ib < n / QK4_1; ib++, y += QK4_1) {
        const float d = PG_F16(x[ib].d), m = PG_F16(x[ib].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = d * (float)(x[ib].qs[j] & 0x0f) + m;
            y[j + QK4_1 / 2] = d * (float)(x[ib].qs[j] >> 4) + m;
        }
    }
}

/* ---------------- Q5_0: x = d * (q - 16), d = (signed extreme) / -16 ---------------- */

void pg_quantize_row_q5_0_ref(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    for (int64_t ib = 0; ib < n / QK5_0; ib++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16.0f;
        const float id = inverse_scale(d);
        y[ib].d = pg_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = trunc_clamp(x[j] * id + 16.5f, 31);
            int hi = trunc_clamp(x[j + QK5_0 / 2] * id + 16.5f, 31);
            y[ib].qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + QK5_0 / 2);
        }
        store_qh(y[ib].qh, qh);
    }
}

void pg_dequantize_row_q5_0_ref(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t ib = 0; ib < n / QK5_0; ib++, y += QK5_0) {
        const float d = PG_F16(x[ib].d);
        const uint32_t qh = load_qh(x[ib].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (x[ib].qs[j] & 0x0f) | ((qh >> j) & 1) << 4;
            int hi = (x[ib].qs[j] >> 4) | ((qh >> (j + QK5_0 / 2)) & 1) << 4;
            y[j] = d * (float)(lo - 16);
            y[j + QK5_0 / 2] = d * (float)(hi - 16);
        }
    }
}

/* ---------------- Q5_1: x = d * q + m, d = (max - min) / 31 ---------------- */

void pg_quantize_row_q5_1_ref(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    for (int64_t ib = 0; ib < n / QK5_1; ib++, x += QK5_1) {
        float min, max;
        block_min_max(x, QK5_1, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = inverse_scale(d);
        y[ib].d = pg_fp32_to_fp16(d);
        y[ib].m = pg_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = trunc_clamp((x[j] - min) * id + 0.5f, 31);
            int hi = trunc_clamp((x[j + QK5_1 / 2] - min) * id + 0.5f, 31);
            y[ib].qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + QK5_1 / 2);
        }
        store_qh(y[ib].qh, qh);
    }
}

void pg_dequantize_row_q5_1_ref(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t ib = 0; ib < n / QK5_1; ib++, y += QK5_1) {
        const float d = PG_F16(x[ib].d), m = PG_F16(x[ib].m);
        const uint32_t qh = load_qh(x[ib].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (x[ib].qs[j] & 0x0f) | ((qh >> j) & 1) << 4;
            int hi = (x[ib].qs[j] >> 4) | ((qh >> (j + QK5_1 / 2)) & 1) << 4;
            y[j] = d * (float)lo + m;
            y[j + QK5_1 / 2] = d * (float)hi + m;
        }
    }
}

/* ---------------- Q8_0 / Q8_1: x = d * q, d = amax / 127, q = round(x / d) ---------------- */

/* Quantizes one 32-block into qs; returns d (f32) and the sum of the codes. */
static float quantize_block_8bit(const float *x, int8_t *qs, int *sum) {
    const float d = block_abs_max(x, QK8_0) / 127.0f;
    const float id = inverse_scale(d);
    int s = 0;
    for (int j = 0; j < QK8_0; j++) {
        qs[j] = (int8_t)round_away_clamp(x[j] * id, -127, 127);
        s += qs[j];
    }
    *sum = s;
    return d;
}

void pg_quantize_row_q8_0_ref(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_0; ib++, x += QK8_0) {
        int sum;
        y[ib].d = pg_fp32_to_fp16(quantize_block_8bit(x, y[ib].qs, &sum));
    }
}

/* Activation blocks (llama.cpp's AVX2 quantize_row_q8_0/q8_1): the same d = amax / 127, but
 * codes x * (127 / amax) rounded half to even. Differs from the weight quantizer above in the
 * last bit of some codes; matching it is what makes our matmuls equal llama.cpp's. A block
 * whose 127 / amax is not finite (Inf/NaN input, subnormal amax) gets all-zero codes. */
static float quantize_block_8bit_act(const float *x, int8_t *qs, int *sum) {
    const float amax = block_abs_max(x, QK8_0);
    const float d = amax / 127.0f;
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    if (!isfinite(id)) id = 0.0f;
    int s = 0;
    for (int j = 0; j < QK8_0; j++) {
        const float v = x[j] * id;
        qs[j] = (int8_t)(v != v ? 0 : v <= -127.0f ? -127 : v >= 127.0f ? 127 : nearest_int(v));
        s += qs[j];
    }
    *sum = s;
    return d;
}

void pg_quantize_row_q8_0_act_ref(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_0; ib++, x += QK8_0) {
        int sum;
        y[ib].d = pg_fp32_to_fp16(quantize_block_8bit_act(x, y[ib].qs, &sum));
    }
}

void pg_dequantize_row_q8_0_ref(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t ib = 0; ib < n / QK8_0; ib++, y += QK8_0) {
        const float d = PG_F16(x[ib].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[ib].qs[j] * d;
    }
}

/* Q8_1 (an activation format only): codes as pg_quantize_row_q8_0_act_ref, plus
 * s = d * sum(q) (d before its f16 rounding) for the min term of Q4_1/Q5_1. */
void pg_quantize_row_q8_1_ref(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t ib = 0; ib < n / QK8_1; ib++, x += QK8_1) {
        int sum;
        const float d = quantize_block_8bit_act(x, y[ib].qs, &sum);
        y[ib].d = pg_fp32_to_fp16(d);
        y[ib].s = pg_fp32_to_fp16((float)sum * d);
    }
}

void pg_dequantize_row_q8_1_ref(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t ib = 0; ib < n / QK8_1; ib++, y += QK8_1) {
        const float d = PG_F16(x[ib].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[ib].qs[j] * d;
    }
}

/* ---------------- dot products: integer sum per block, then one scale multiply ---------------- */

void pg_vec_dot_q4_0_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[ib].qs[j] & 0x0f) - 8) * y[ib].qs[j];
            sumi += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + QK4_0 / 2];
        }
        sumf += (float)sumi * (PG_F16(x[ib].d) * PG_F16(y[ib].d));
    }
    *s = sumf;
}

/* sum_j (dx*qx_j + mx) * dy*qy_j = dx*dy*sum(qx*qy) + mx * (dy*sum(qy)) = ... + mx * s_y */
void pg_vec_dot_q4_1_q8_1_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK8_1; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (x[ib].qs[j] & 0x0f) * y[ib].qs[j];
            sumi += (x[ib].qs[j] >> 4) * y[ib].qs[j + QK4_1 / 2];
        }
        sumf += (float)sumi * (PG_F16(x[ib].d) * PG_F16(y[ib].d)) + PG_F16(x[ib].m) * PG_F16(y[ib].s);
    }
    *s = sumf;
}

void pg_vec_dot_q5_0_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK8_0; ib++) {
        const uint32_t qh = load_qh(x[ib].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (x[ib].qs[j] & 0x0f) | ((qh >> j) & 1) << 4;
            int hi = (x[ib].qs[j] >> 4) | ((qh >> (j + QK5_0 / 2)) & 1) << 4;
            sumi += (lo - 16) * y[ib].qs[j] + (hi - 16) * y[ib].qs[j + QK5_0 / 2];
        }
        sumf += (float)sumi * (PG_F16(x[ib].d) * PG_F16(y[ib].d));
    }
    *s = sumf;
}

void pg_vec_dot_q5_1_q8_1_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK8_1; ib++) {
        const uint32_t qh = load_qh(x[ib].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (x[ib].qs[j] & 0x0f) | ((qh >> j) & 1) << 4;
            int hi = (x[ib].qs[j] >> 4) | ((qh >> (j + QK5_1 / 2)) & 1) << 4;
            sumi += lo * y[ib].qs[j] + hi * y[ib].qs[j + QK5_1 / 2];
        }
        sumf += (float)sumi * (PG_F16(x[ib].d) * PG_F16(y[ib].d)) + PG_F16(x[ib].m) * PG_F16(y[ib].s);
    }
    *s = sumf;
}

void pg_vec_dot_q8_0_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += (float)sumi * (PG_F16(x[ib].d) * PG_F16(y[ib].d));
    }
    *s = sumf;
}
