/* Rotary position embedding (RoPE), ggml's numerics, with YaRN.
 *   src0 x (head_dim, n_head, n_tokens, ne3) F32, any strides; dst same shape, contiguous
 *   src1 positions I32 (n_tokens)
 *   src2 frequency factors F32 (>= n_dims/2) or NULL: pair i turns by theta_i / factors[i]
 *        (Llama 3.1's rope_freqs, Phi-3's LongRoPE short/long factors), as ggml does
 * The first n_dims of each head are rotated in pairs — mode 0 (normal): (2i, 2i+1); mode 2
 * (NeoX): (i, i + n_dims/2) — by theta_i = pos * freq_base^(-2i/n_dims), computed as ggml
 * does (theta_scale = powf(base, -2/n_dims) multiplied iteratively in float); the rest of the
 * head is copied. Rows (head, token) are split across threads; each thread keeps a cache of
 * cos/sin for the token it is on (n_dims floats of scratch) and reuses it for every head. */
#include <math.h>

#include "ops/op_util.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define ROPE_MODE_NEOX 2

typedef struct {
    int n_dims, mode;
    float freq_scale, ext_factor, attn_factor, theta_scale;
    float corr_dims[2];   /* YaRN: pairs below [0] extrapolate, above [1] interpolate */
} rope_params;

/* YaRN: the pair index at which a wavelength spans n_rot turns over the original context. */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * logf(n_ctx_orig / (n_rot * 2 * (float)M_PI)) / (2 * logf(base));
}

static float yarn_ramp(float low, float high, int64_t i0) {
    const float y = (float)(i0 / 2 - low) / fmaxf(0.001f, high - low);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

static rope_params read_params(const pg_tensor *dst) {
    rope_params r;
    r.n_dims = dst->op_params[0];
    r.mode = dst->op_params[1];
    const int n_ctx_orig = dst->op_params[2];
    const float freq_base = pg_get_op_param_f32(dst, 3);
    r.freq_scale = pg_get_op_param_f32(dst, 4);
    r.ext_factor = pg_get_op_param_f32(dst, 5);
    r.attn_factor = pg_get_op_param_f32(dst, 6);
    const float beta_fast = pg_get_op_param_f32(dst, 7), beta_slow = pg_get_op_param_f32(dst, 8);
    r.theta_scale = powf(freq_base, -2.0f / r.n_dims);
    const float start = floorf(yarn_corr_dim(r.n_dims, n_ctx_orig, beta_fast, freq_base));
    const float end = ceilf(yarn_corr_dim(r.n_dims, n_ctx_orig, beta_slow, freq_base));
    r.corr_dims[0] = fmaxf(0.0f, start);
    r.corr_dims[1] = fminf((float)(r.n_dims - 1), end);
    return r;
}

/* cache[2i] = cos(theta_i) * mscale, cache[2i+1] = sin(theta_i) * mscale, i < n_dims/2;
 * factors (NULL = all 1) divide each pair's angle before scaling */
static void fill_cache(const rope_params *r, float pos, const float *factors, float *cache) {
    float theta_base = pos;
    for (int i0 = 0; i0 < r->n_dims; i0 += 2) {
        const float theta_extrap = factors ? theta_base / factors[i0 / 2] : theta_base;
        float theta = r->freq_scale * theta_extrap;
        float mscale = r->attn_factor;
        if (r->ext_factor != 0.0f) {
            const float ramp_mix = yarn_ramp(r->corr_dims[0], r->corr_dims[1], i0) * r->ext_factor;
            theta = theta * (1 - ramp_mix) + theta_extrap * ramp_mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / r->freq_scale);
        }
        cache[i0] = cosf(theta) * mscale;
        cache[i0 + 1] = sinf(theta) * mscale;
        theta_base *= r->theta_scale;
    }
}

/* one head: y = rotate(x); x has element stride s0 (in floats). A contiguous head goes through
 * the dispatched vec_rope_f32; a strided one (a permuted view) is gathered into y first. */
static void rotate_head(const pg_kernels *k, const rope_params *r, const float *cache, int64_t head_dim,
                        float *y, const float *x, int64_t s0) {
    if (s0 != 1) {
        for (int64_t i = 0; i < head_dim; i++) y[i] = x[i * s0];
        x = y;
    }
    k->vec_rope_f32(r->n_dims, r->mode == ROPE_MODE_NEOX, y, x, cache);
    if (x != y)
        for (int64_t i = r->n_dims; i < head_dim; i++) y[i] = x[i];
}

size_t pg_rope_work_size(const pg_tensor *dst, int n_threads) {
    return pg_scratch_size((size_t)dst->op_params[0] * sizeof(float), n_threads);
}

void pg_forward_rope(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0], *pos = dst->src[1];
    const float *factors = dst->src[2] ? (const float *)dst->src[2]->data : NULL;
    const rope_params r = read_params(dst);
    float *cache = pg_thread_scratch(p, (size_t)r.n_dims * sizeof(float));
    const int64_t s0 = (int64_t)(src0->nb[0] / sizeof(float));
    int64_t cached_token = -1;
    int64_t ir0, ir1;
    pg_thread_rows(pg_nrows(src0), p->ith, p->nth, &ir0, &ir1);
    for (int64_t ir = ir0; ir < ir1; ir++) {
        int64_t i1, i2, i3;
        pg_row_coords(src0, ir, &i1, &i2, &i3);
        if (i2 != cached_token) {
            fill_cache(&r, (float)*(const int32_t *)((const char *)pos->data + i2 * pos->nb[0]), factors, cache);
            cached_token = i2;
        }
        rotate_head(p->k, &r, cache, src0->ne[0], (float *)pg_row_ptr(dst, i1, i2, i3),
                    (const float *)pg_row_ptr(src0, i1, i2, i3), s0);
    }
}
