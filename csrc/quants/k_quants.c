/* K-quants (super-blocks of 256): reference dequantizers of Q2_K..Q6_K, the Q8_K activation
 * format (quantize + dequantize), and the reference dot products q{2..6}_K · q8_K.
 * The quantizers of Q2_K..Q6_K are in k_quantize.c. Each dequantizer computes, per element,
 * exactly gguf-py's f32 expression (scale products first, then one multiply and a subtract),
 * so results are bit-identical. The scalar path uses these functions as they are. */
#include "quants/fp_exact.h"

#include <math.h>

#include "kernels.h"
#include "quants/k_layout.h"
#include "quants/quant_util.h"
#include "quants/quants.h"

/* ---------------- dequantizers ---------------- */

/* Q2_K: 16 groups of 16; x = (d * sc) * q - (dmin * m), sc/m 4-bit, q in [0, 3] */
void pg_dequantize_row_q2_K_ref(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, y += QK_K) {
        const float d = PG_F16(x[ib].d), dmin = PG_F16(x[ib].dmin);
        unpack_q2_K(&x[ib], code);
        for (int g = 0; g < QK_K / 16; g++) {
            const float dl = d * (float)(x[ib].scales[g] & 0x0f);
            const float ml = dmin * (float)(x[ib].scales[g] >> 4);
            for (int l = 0; l < 16; l++) y[g * 16 + l] = dl * (float)code[g * 16 + l] - ml;
        }
    }
}

/* Q3_K: 16 groups of 16; x = (d * s) * q, s 6-bit signed, q in [-4, 3] */
void pg_dequantize_row_q3_K_ref(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    uint8_t code[QK_K];
    int scale[16];
    for (int64_t ib = 0; ib < n / QK_K; ib++, y += QK_K) {
        const float d = PG_F16(x[ib].d);
        unpack_q3_K(&x[ib], code);
        unpack_q3_K_scales(x[ib].scales, scale);
        for (int g = 0; g < QK_K / 16; g++) {
            const float dl = d * (float)scale[g];
            for (int l = 0; l < 16; l++) y[g * 16 + l] = dl * (float)(code[g * 16 + l] - 4);
        }
    }
}

/* Q4_K / Q5_K: 8 groups of 32; x = (d * sc) * q - (dmin * m), sc/m 6-bit */
static void dequantize_k_groups_of_32(const uint8_t code[QK_K], const uint8_t scales[12], float d,
                                      float dmin, float *y) {
    int sc[8], mn[8];
    unpack_k_scale_min(scales, sc, mn);
    for (int g = 0; g < 8; g++) {
        const float d1 = d * (float)sc[g], m1 = dmin * (float)mn[g];
        for (int l = 0; l < 32; l++) y[g * 32 + l] = d1 * (float)code[g * 32 + l] - m1;
    }
}

void pg_dequantize_row_q4_K_ref(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, y += QK_K) {
        unpack_q4_K_codes(x[ib].qs, code);
        dequantize_k_groups_of_32(code, x[ib].scales, PG_F16(x[ib].d), PG_F16(x[ib].dmin), y);
    }
}

void pg_dequantize_row_q5_K_ref(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, y += QK_K) {
        unpack_q5_K(&x[ib], code);
        dequantize_k_groups_of_32(code, x[ib].scales, PG_F16(x[ib].d), PG_F16(x[ib].dmin), y);
    }
}

/* Q6_K: 16 groups of 16; x = (d * s) * q, s int8, q in [-32, 31] */
void pg_dequantize_row_q6_K_ref(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, y += QK_K) {
        const float d = PG_F16(x[ib].d);
        unpack_q6_K(&x[ib], code);
        for (int g = 0; g < QK_K / 16; g++) {
            const float dl = d * (float)x[ib].scales[g];
            for (int l = 0; l < 16; l++) y[g * 16 + l] = dl * (float)(code[g * 16 + l] - 32);
        }
    }
}

/* ---------------- Q8_K: x = d * q, f32 d, q in [-127, 127], bsums = sum of q per 16 ---------------- */

/* As ggml: the element of largest magnitude maps to -127 exactly (d = max / -127), codes round
 * half to even. A NaN in the block makes d NaN. */
void pg_quantize_row_q8_K_ref(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        const float max = signed_absmax(x, QK_K);
        memset(&y[ib], 0, sizeof y[ib]);
        if (max == 0.0f) continue;
        const float iscale = -127.0f / max;
        if (iscale != iscale) { y[ib].d = iscale; continue; }
        for (int j = 0; j < QK_K; j++) {
            int q = nearest_int(iscale * x[j]);
            y[ib].qs[j] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[ib].qs[g * 16 + l];
            y[ib].bsums[g] = (int16_t)sum;
        }
        y[ib].d = 1.0f / iscale;
    }
}

void pg_dequantize_row_q8_K_ref(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t ib = 0; ib < n / QK_K; ib++, y += QK_K) {
        for (int j = 0; j < QK_K; j++) y[j] = x[ib].d * (float)x[ib].qs[j];
    }
}

/* ---------------- dot products with Q8_K: integer sums per group, then the scales ---------------- */

static inline int dot_codes_16(const uint8_t *code, int offset, const int8_t *q8) {
    int s = 0;
    for (int l = 0; l < 16; l++) s += (code[l] - offset) * q8[l];
    return s;
}

/* sum (dl*q - ml) * d8*q8 = d*d8 * sum_g sc_g * sum(q*q8) - dmin*d8 * sum_g m_g * bsum_g */
void pg_vec_dot_q2_K_q8_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    uint8_t code[QK_K];
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        unpack_q2_K(&x[ib], code);
        int isum = 0, summs = 0;
        for (int g = 0; g < QK_K / 16; g++) {
            isum += (x[ib].scales[g] & 0x0f) * dot_codes_16(code + g * 16, 0, y[ib].qs + g * 16);
            summs += (x[ib].scales[g] >> 4) * y[ib].bsums[g];
        }
        const float dall = y[ib].d * PG_F16(x[ib].d), dmin = y[ib].d * PG_F16(x[ib].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void pg_vec_dot_q3_K_q8_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    uint8_t code[QK_K];
    int scale[16];
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        unpack_q3_K(&x[ib], code);
        unpack_q3_K_scales(x[ib].scales, scale);
        int isum = 0;
        for (int g = 0; g < QK_K / 16; g++) isum += scale[g] * dot_codes_16(code + g * 16, 4, y[ib].qs + g * 16);
        sumf += (PG_F16(x[ib].d) * y[ib].d) * (float)isum;
    }
    *s = sumf;
}

/* Q4_K / Q5_K share the scale layout: 8 groups of 32, mins via bsums (2 per group) */
static float dot_k_groups_of_32(const uint8_t code[QK_K], const uint8_t scales[12], uint16_t d,
                                uint16_t dmin, const block_q8_K *y) {
    int sc[8], mn[8];
    unpack_k_scale_min(scales, sc, mn);
    int sumi = 0, summs = 0;
    for (int g = 0; g < 8; g++) {
        int dot = dot_codes_16(code + g * 32, 0, y->qs + g * 32) + dot_codes_16(code + g * 32 + 16, 0, y->qs + g * 32 + 16);
        sumi += sc[g] * dot;
        summs += mn[g] * (y->bsums[2 * g] + y->bsums[2 * g + 1]);
    }
    return (y->d * PG_F16(d)) * (float)sumi - (y->d * PG_F16(dmin)) * (float)summs;
}

void pg_vec_dot_q4_K_q8_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    uint8_t code[QK_K];
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        unpack_q4_K_codes(x[ib].qs, code);
        sumf += dot_k_groups_of_32(code, x[ib].scales, x[ib].d, x[ib].dmin, &y[ib]);
    }
    *s = sumf;
}

void pg_vec_dot_q5_K_q8_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    uint8_t code[QK_K];
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        unpack_q5_K(&x[ib], code);
        sumf += dot_k_groups_of_32(code, x[ib].scales, x[ib].d, x[ib].dmin, &y[ib]);
    }
    *s = sumf;
}

void pg_vec_dot_q6_K_q8_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    uint8_t code[QK_K];
    float sumf = 0.0f;
    for (int ib = 0; ib < n / QK_K; ib++) {
        unpack_q6_K(&x[ib], code);
        int isum = 0;
        for (int g = 0; g < QK_K / 16; g++) isum += x[ib].scales[g] * dot_codes_16(code + g * 16, 32, y[ib].qs + g * 16);
        sumf += (PG_F16(x[ib].d) * y[ib].d) * (float)isum;
    }
    *s = sumf;
}
