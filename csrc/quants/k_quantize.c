/* Reference quantizers of the K-quant weight types Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
 *
 * Objective: least squared error of the dequantized block against the input (plain RMSE, no
 * importance weights). Per super-block of 256:
 *   1. fit each group (16 or 32 values) with a continuous scale (and offset): candidate scales
 *      around the range-filling one, each refined by alternating least squares / re-rounding;
 *   2. quantize the group scales to the format's integer grid under one f16 super-scale;
 *   3. for each group, search the neighbouring integer scales (and mins) with the exact
 *      dequantization arithmetic and keep the best;
 *   4. refit the f16 super-scale(s) by least squares given the chosen integers, redo 3, keep
 *      whichever total error is lower.
 * A super-block with a non-finite input is written with NaN scales (dequantizes to NaN). */
#include "quants/fp_exact.h"

#include <float.h>
#include <math.h>

#include "kernels.h"
#include "quants/k_layout.h"
#include "quants/quant_util.h"
#include "quants/quants.h"

#define N_CANDIDATES 10      /* candidate scales on each side of the range-filling one */
#define CANDIDATE_STEP 0.1f  /* in units of one quantization level */
#define ALS_ROUNDS 4         /* alternating least-squares rounds per candidate */
#define NEIGHBOURHOOD 2      /* integer scales searched around the rounded one */

static const uint16_t F16_NAN = 0x7e00;

static int all_finite(const float *x, int n) {
    for (int i = 0; i < n; i++) if (!isfinite(x[i])) return 0;
    return 1;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ================= affine groups: x ~ a*q - b, q in [0, nmax], a >= 0, b >= 0 ================= */

/* Least squares of x ~ a*q + c over the group, with c <= 0; returns 0 if q is constant. */
static int fit_affine_given_codes(const float *x, const uint8_t *q, int n, float *a, float *c) {
    double sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (int i = 0; i < n; i++) {
        sq += q[i];
        sqq += (double)q[i] * q[i];
        sx += x[i];
        sxq += (double)x[i] * q[i];
    }
    double det = n * sqq - sq * sq;
    if (det <= 0) return 0;
    double as = (n * sxq - sq * sx) / det, cs = (sx - as * sq) / n;
    if (cs > 0) { cs = 0; as = sxq / sqq; }
    if (as <= 0) return 0;
    *a = (float)as;
    *c = (float)cs;
    return 1;
}

static double affine_codes_and_error(const float *x, int n, int nmax, float a, float c, uint8_t *q) {
    const float ia = 1.0f / a;
    double err = 0;
    for (int i = 0; i < n; i++) {
        q[i] = (uint8_t)clampi(nearest_int((x[i] - c) * ia), 0, nmax);
        double diff = x[i] - ((double)a * q[i] + c);
        err += diff * diff;
    }
    return err;
}

/* Continuous best (a, b) for one group: x ~ a*q - b. */
static void fit_affine_group(const float *x, int n, int nmax, float *out_a, float *out_b) {
    float lo = 0.0f, hi = -FLT_MAX;
    for (int i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    *out_a = 0.0f;
    *out_b = -lo;
    if (hi <= lo) return;
    uint8_t q[32], q2[32];
    double best = DBL_MAX;
    for (int t = -N_CANDIDATES; t <= N_CANDIDATES; t++) {
        float a = (hi - lo) / ((float)nmax + CANDIDATE_STEP * t), c = lo;
        double err = affine_codes_and_error(x, n, nmax, a, c, q);
        for (int r = 0; r < ALS_ROUNDS; r++) {
            float a2, c2;
            if (!fit_affine_given_codes(x, q, n, &a2, &c2)) break;
            double e2 = affine_codes_and_error(x, n, nmax, a2, c2, q2);
            if (e2 >= err) break;
            a = a2;
            c = c2;
            err = e2;
            memcpy(q, q2, (size_t)n);
        }
        if (err < best) {
            best = err;
            *out_a = a;
            *out_b = -c;
        }
    }
}

typedef struct {
    int n_groups, group_len; /* 16 x 16 or 8 x 32 */
    int nmax;                /* largest code */
    int smax;                /* largest integer scale / min */
} affine_format;

/* Exact dequantized error of one group for integer scale sc and min m; fills the best codes. */
static double affine_group_error(const float *x, int n, int nmax, float d, float dmin, int sc, int m,
                                 uint8_t *q) {
    const float d1 = d * (float)sc, m1 = dmin * (float)m;
    const float id1 = d1 != 0.0f ? 1.0f / d1 : 0.0f;
    double err = 0;
    for (int i = 0; i < n; i++) {
        int c = clampi(nearest_int((x[i] + m1) * id1), 0, nmax);
        /* the nearest level may be one off after rounding of id1; check both neighbours */
        float best_y = d1 * (float)c - m1;
        for (int dc = -1; dc <= 1; dc += 2) {
            int c2 = c + dc;
            if (c2 < 0 || c2 > nmax) continue;
            float y2 = d1 * (float)c2 - m1;
            if (fabsf(x[i] - y2) < fabsf(x[i] - best_y)) { c = c2; best_y = y2; }
        }
        q[i] = (uint8_t)c;
        double diff = (double)x[i] - best_y;
        err += diff * diff;
    }
    return err;
}

/* Step 3: per group, best integer (sc, m) near the given ones under f16 super-scales. */
static double refine_affine_groups(const float *x, const affine_format *f, uint16_t d16, uint16_t dmin16,
                                   int *sc, int *mn, uint8_t *code) {
    const float d = PG_F16(d16), dmin = PG_F16(dmin16);
    uint8_t q[32];
    double total = 0;
    for (int g = 0; g < f->n_groups; g++) {
        const float *xg = x + g * f->group_len;
        double best = DBL_MAX;
        int best_sc = sc[g], best_m = mn[g];
        for (int s = sc[g] - NEIGHBOURHOOD; s <= sc[g] + NEIGHBOURHOOD; s++) {
            if (s < 0 || s > f->smax) continue;
            for (int m = mn[g] - NEIGHBOURHOOD; m <= mn[g] + NEIGHBOURHOOD; m++) {
                if (m < 0 || m > f->smax) continue;
                double e = affine_group_error(xg, f->group_len, f->nmax, d, dmin, s, m, q);
                if (e < best) { best = e; best_sc = s; best_m = m; }
            }
        }
        sc[g] = best_sc;
        mn[g] = best_m;
        total += affine_group_error(xg, f->group_len, f->nmax, d, dmin, best_sc, best_m, code + g * f->group_len);
    }
    return total;
}

/* Step 4: least squares of x ~ d * (sc*q) - dmin * m over the super-block. */
static int refit_super_scales(const float *x, const affine_format *f, const int *sc, const int *mn,
                              const uint8_t *code, float *d, float *dmin) {
    double suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
    for (int g = 0; g < f->n_groups; g++) {
        for (int l = 0; l < f->group_len; l++) {
            int i = g * f->group_len + l;
            double u = (double)sc[g] * code[i], v = -(double)mn[g];
            suu += u * u; suv += u * v; svv += v * v; sxu += x[i] * u; sxv += x[i] * v;
        }
    }
    double det = suu * svv - suv * suv;
    if (det <= 0) return 0;
    double dd = (sxu * svv - sxv * suv) / det, dm = (suu * sxv - suv * sxu) / det;
    if (!(dd >= 0 && dm >= 0)) return 0;
    *d = (float)dd;
    *dmin = (float)dm;
    return 1;
}

/* Quantizes one super-block. Outputs the f16 scales, integer group scales/mins, codes. */
static void quantize_affine_superblock(const float *x, const affine_format *f, uint16_t *d16,
                                       uint16_t *dmin16, int *sc, int *mn, uint8_t *code) {
    float a[16], b[16], amax = 0.0f, bmax = 0.0f;
    for (int g = 0; g < f->n_groups; g++) {
        fit_affine_group(x + g * f->group_len, f->group_len, f->nmax, &a[g], &b[g]);
        amax = fmaxf(amax, a[g]);
        bmax = fmaxf(bmax, b[g]);
    }
    *d16 = pg_fp32_to_fp16(amax / (float)f->smax);
    *dmin16 = pg_fp32_to_fp16(bmax / (float)f->smax);
    const float d = PG_F16(*d16), dmin = PG_F16(*dmin16);
    for (int g = 0; g < f->n_groups; g++) {
        sc[g] = d > 0 ? clampi(nearest_int(a[g] / d), 0, f->smax) : 0;
        mn[g] = dmin > 0 ? clampi(nearest_int(b[g] / dmin), 0, f->smax) : 0;
    }
    double err = refine_affine_groups(x, f, *d16, *dmin16, sc, mn, code);

    int sc2[16], mn2[16];
    uint8_t code2[QK_K];
    for (int round = 0; round < 2; round++) {
        float dr, dminr;
        if (!refit_super_scales(x, f, sc, mn, code, &dr, &dminr)) break;
        uint16_t d2 = pg_fp32_to_fp16(dr), dmin2 = pg_fp32_to_fp16(dminr);
        if (!isfinite(PG_F16(d2)) || !isfinite(PG_F16(dmin2))) break;
        memcpy(sc2, sc, sizeof sc2);
        memcpy(mn2, mn, sizeof mn2);
        double e2 = refine_affine_groups(x, f, d2, dmin2, sc2, mn2, code2);
        if (e2 >= err) break;
        err = e2;
        *d16 = d2;
        *dmin16 = dmin2;
        memcpy(sc, sc2, sizeof sc2);
        memcpy(mn, mn2, sizeof mn2);
        memcpy(code, code2, QK_K);
    }
}

static const affine_format Q2_K_FORMAT = {16, 16, 3, 15};
static const affine_format Q4_K_FORMAT = {8, 32, 15, 63};
static const affine_format Q5_K_FORMAT = {8, 32, 31, 63};

void pg_quantize_row_q2_K_ref(const float *x, void *vy, int64_t n) {
    block_q2_K *y = vy;
    int sc[16], mn[16];
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        memset(&y[ib], 0, sizeof y[ib]);
        if (!all_finite(x, QK_K)) { y[ib].d = y[ib].dmin = F16_NAN; continue; }
        quantize_affine_superblock(x, &Q2_K_FORMAT, &y[ib].d, &y[ib].dmin, sc, mn, code);
        for (int g = 0; g < 16; g++) y[ib].scales[g] = (uint8_t)(sc[g] | mn[g] << 4);
        pack_q2_K(&y[ib], code);
    }
}

void pg_quantize_row_q4_K_ref(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    int sc[16], mn[16];
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        memset(&y[ib], 0, sizeof y[ib]);
        if (!all_finite(x, QK_K)) { y[ib].d = y[ib].dmin = F16_NAN; continue; }
        quantize_affine_superblock(x, &Q4_K_FORMAT, &y[ib].d, &y[ib].dmin, sc, mn, code);
        pack_k_scale_min(y[ib].scales, sc, mn);
        pack_q4_K_codes(y[ib].qs, code);
    }
}

void pg_quantize_row_q5_K_ref(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    int sc[16], mn[16];
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        memset(&y[ib], 0, sizeof y[ib]);
        if (!all_finite(x, QK_K)) { y[ib].d = y[ib].dmin = F16_NAN; continue; }
        quantize_affine_superblock(x, &Q5_K_FORMAT, &y[ib].d, &y[ib].dmin, sc, mn, code);
        pack_k_scale_min(y[ib].scales, sc, mn);
        pack_q5_K(&y[ib], code);
    }
}

/* ================= symmetric groups: x ~ a*v, v in [vmin, vmax] (signed codes) ================= */

typedef struct {
    int n_groups, group_len; /* 16 x 16 */
    int vmin, vmax;          /* signed code range: [-4, 3] or [-32, 31] */
    int lmin, lmax;          /* signed integer group scale range */
} scaled_format;

static double scaled_codes_and_error(const float *x, int n, int vmin, int vmax, float a, int8_t *v) {
    const float ia = a != 0.0f ? 1.0f / a : 0.0f;
    double err = 0;
    for (int i = 0; i < n; i++) {
        v[i] = (int8_t)clampi(nearest_int(x[i] * ia), vmin, vmax);
        double diff = x[i] - (double)a * v[i];
        err += diff * diff;
    }
    return err;
}

/* Continuous best signed scale a of one group (x ~ a*v). */
static float fit_scaled_group(const float *x, int n, int vmin, int vmax) {
    const float max = signed_absmax(x, n);
    if (max == 0.0f) return 0.0f;
    int8_t v[16];
    double best = DBL_MAX;
    float best_a = 0.0f;
    /* the extreme element maps near vmin, or near vmax (the other sign of the scale) */
    const int targets[2] = {vmin, vmax};
    for (int k = 0; k < 2; k++) {
        for (int t = -N_CANDIDATES; t <= N_CANDIDATES; t++) {
            float a = max / ((float)targets[k] + CANDIDATE_STEP * t);
            double err = scaled_codes_and_error(x, n, vmin, vmax, a, v);
            for (int r = 0; r < ALS_ROUNDS; r++) {
                double sxv = 0, svv = 0;
                for (int i = 0; i < n; i++) { sxv += (double)x[i] * v[i]; svv += (double)v[i] * v[i]; }
                if (svv == 0) break;
                float a2 = (float)(sxv / svv);
                int8_t v2[16];
                double e2 = scaled_codes_and_error(x, n, vmin, vmax, a2, v2);
                if (e2 >= err) break;
                err = e2;
                a = a2;
                memcpy(v, v2, (size_t)n);
            }
            if (err < best) { best = err; best_a = a; }
        }
    }
    return best_a;
}

static double scaled_group_error(const float *x, int n, const scaled_format *f, float d, int l, int8_t *v) {
    const float d1 = d * (float)l;
    const float id1 = d1 != 0.0f ? 1.0f / d1 : 0.0f;
    double err = 0;
    for (int i = 0; i < n; i++) {
        int c = clampi(nearest_int(x[i] * id1), f->vmin, f->vmax);
        float best_y = d1 * (float)c;
        for (int dc = -1; dc <= 1; dc += 2) {
            int c2 = c + dc;
            if (c2 < f->vmin || c2 > f->vmax) continue;
            float y2 = d1 * (float)c2;
            if (fabsf(x[i] - y2) < fabsf(x[i] - best_y)) { c = c2; best_y = y2; }
        }
        v[i] = (int8_t)c;
        double diff = (double)x[i] - best_y;
        err += diff * diff;
    }
    return err;
}

static double refine_scaled_groups(const float *x, const scaled_format *f, uint16_t d16, int *l, int8_t *v) {
    const float d = PG_F16(d16);
    int8_t tmp[16];
    double total = 0;
    for (int g = 0; g < f->n_groups; g++) {
        const float *xg = x + g * f->group_len;
        double best = DBL_MAX;
        int best_l = l[g];
        for (int s = l[g] - NEIGHBOURHOOD; s <= l[g] + NEIGHBOURHOOD; s++) {
            if (s < f->lmin || s > f->lmax) continue;
            double e = scaled_group_error(xg, f->group_len, f, d, s, tmp);
            if (e < best) { best = e; best_l = s; }
        }
        l[g] = best_l;
        total += scaled_group_error(xg, f->group_len, f, d, best_l, v + g * f->group_len);
    }
    return total;
}

/* One super-block: f16 d, integer group scales l, signed codes v. */
static void quantize_scaled_superblock(const float *x, const scaled_format *f, uint16_t *d16, int *l, int8_t *v) {
    float a[16], amax = 0.0f;
    for (int g = 0; g < f->n_groups; g++) {
        a[g] = fit_scaled_group(x + g * f->group_len, f->group_len, f->vmin, f->vmax);
        if (fabsf(a[g]) > fabsf(amax)) amax = a[g];
    }
    *d16 = 0;
    memset(l, 0, sizeof(int) * (size_t)f->n_groups);
    memset(v, 0, QK_K);
    if (amax == 0.0f) return;
    double best = DBL_MAX;
    int lt[16];
    int8_t vt[QK_K];
    /* the largest group scale maps to lmin or to lmax; keep the better */
    const int ends[2] = {f->lmin, f->lmax};
    for (int k = 0; k < 2; k++) {
        uint16_t dt = pg_fp32_to_fp16(amax / (float)ends[k]);
        float d = PG_F16(dt);
        for (int g = 0; g < f->n_groups; g++) lt[g] = d != 0.0f ? clampi(nearest_int(a[g] / d), f->lmin, f->lmax) : 0;
        double err = refine_scaled_groups(x, f, dt, lt, vt);
        for (int round = 0; round < 3; round++) {
            if (err < best) {
                best = err;
                *d16 = dt;
                memcpy(l, lt, sizeof lt);
                memcpy(v, vt, QK_K);
            }
            double sxu = 0, suu = 0; /* least squares of x ~ d * (l*v) */
            for (int i = 0; i < QK_K; i++) {
                double u = (double)lt[i / f->group_len] * vt[i];
                sxu += x[i] * u;
                suu += u * u;
            }
            if (suu == 0) break;
            dt = pg_fp32_to_fp16((float)(sxu / suu));
            if (!isfinite(PG_F16(dt))) break;
            err = refine_scaled_groups(x, f, dt, lt, vt);
        }
        if (err < best) {
            best = err;
            *d16 = dt;
            memcpy(l, lt, sizeof lt);
            memcpy(v, vt, QK_K);
        }
    }
}

static const scaled_format Q3_K_FORMAT = {16, 16, -4, 3, -32, 31};
static const scaled_format Q6_K_FORMAT = {16, 16, -32, 31, -128, 127};

void pg_quantize_row_q3_K_ref(const float *x, void *vy, int64_t n) {
    block_q3_K *y = vy;
    int l[16];
    int8_t v[QK_K];
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        memset(&y[ib], 0, sizeof y[ib]);
        if (!all_finite(x, QK_K)) { y[ib].d = F16_NAN; continue; }
        quantize_scaled_superblock(x, &Q3_K_FORMAT, &y[ib].d, l, v);
        for (int i = 0; i < QK_K; i++) code[i] = (uint8_t)(v[i] + 4);
        pack_q3_K(&y[ib], code);
        pack_q3_K_scales(y[ib].scales, l);
    }
}

void pg_quantize_row_q6_K_ref(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    int l[16];
    int8_t v[QK_K];
    uint8_t code[QK_K];
    for (int64_t ib = 0; ib < n / QK_K; ib++, x += QK_K) {
        memset(&y[ib], 0, sizeof y[ib]);
        if (!all_finite(x, QK_K)) { y[ib].d = F16_NAN; continue; }
        quantize_scaled_superblock(x, &Q6_K_FORMAT, &y[ib].d, l, v);
        for (int i = 0; i < QK_K; i++) code[i] = (uint8_t)(v[i] + 32);
        pack_q6_K(&y[ib], code);
        for (int g = 0; g < 16; g++) y[ib].scales[g] = (int8_t)l[g];
    }
}
