/* The F32 vector primitives of every SIMD path this build has (scalar + AVX2 on x86, scalar +
 * NEON on aarch64) against the reference versions (csrc/ops/vec_ref.c), on odd lengths and
 * extreme values. Also measures the SIMD exp polynomial against libm's expf and against exp in
 * double (via vec_soft_max_f32 with max = 0) and prints the max error in ulp.
 * Prints "N passed, N failed"; exits non-zero on failure. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "kernels.h"
#include "ops/vec_ref.h"

static void report(const char *path, const char *kernel, int n, const char *what, int ok) {
    check(ok, "%-6s %-16s n=%-4d %s", path, kernel, n, what);
}

/* ---- data ---- */

static const int LENGTHS[] = {0, 1, 7, 8, 9, 31, 33, 1000};
#define N_LENGTHS (int)(sizeof LENGTHS / sizeof LENGTHS[0])
#define MAX_N 1000

/* kinds of input: random in a range, or random with extremes sprinkled in */
enum { DATA_SMALL, DATA_WIDE, DATA_EXTREME, N_DATA };
static const char *DATA_NAMES[N_DATA] = {"small", "wide", "extreme"};
static const float EXTREMES[] = {0.0f, -0.0f, 65504.0f, -65504.0f, 1e-40f, -1e-40f, 6e-8f,
                                 1e30f, -1e30f, 100.0f, -100.0f, 88.0f, -87.0f, -104.0f};

static void fill(float *x, int n, int kind) {
    for (int i = 0; i < n; i++) {
        if (kind == DATA_SMALL) x[i] = rand_uniform(-5.0f, 5.0f);
        else if (kind == DATA_WIDE) x[i] = rand_uniform(-90.0f, 90.0f);
        else x[i] = (i % 3 == 0) ? EXTREMES[(i / 3) % (sizeof EXTREMES / sizeof EXTREMES[0])]
                                 : rand_uniform(-20.0f, 20.0f);
    }
}

/* ---- comparisons (same_float, close_within: harness.h) ---- */

/* distance in units in the last place between two finite floats */
static double ulp_distance(float a, float b) {
    int32_t ia, ib; memcpy(&ia, &a, 4); memcpy(&ib, &b, 4);
    if (ia < 0) ia = (int32_t)(0x80000000u - (uint32_t)ia);
    if (ib < 0) ib = (int32_t)(0x80000000u - (uint32_t)ib);
    return fabs((double)ia - (double)ib);
}

#define EPS ((double)FLT_EPSILON)

/* ---- one path against the refs ---- */

static void test_path(const pg_kernels *k) {
    static float x[MAX_N], y[MAX_N], g[MAX_N], a[MAX_N], b[MAX_N];
    static uint16_t h[MAX_N], ha[MAX_N], hb[MAX_N];
    const char *p = k->path;
    char what[96];
    for (int li = 0; li < N_LENGTHS; li++) {
        int n = LENGTHS[li];
        for (int kind = 0; kind < N_DATA; kind++) {
            const char *dn = DATA_NAMES[kind];
            fill(x, n, kind); fill(y, n, kind); fill(g, n, DATA_SMALL);
            int ok;

            /* rope: bit-identical to the ref (same fused multiply-adds), both layouts, n_dims = the
             * even part of n; x doubles as the cos/sin cache */
            for (int neox = 0; neox < 2; neox++) {
                const int nd = n & ~1;
                pg_vec_rope_f32_ref(nd, neox, a, y, x); k->vec_rope_f32(nd, neox, b, y, x);
                ok = 1; for (int i = 0; i < nd; i++) ok &= same_float(a[i], b[i]);
                report(p, neox ? "rope_neox_f32" : "rope_norm_f32", n, dn, ok);
            }

            /* P·V: 16 dims in 2 blocks of 8 (block stride past the n positions: padding),
             * x as V, y as probabilities (some zero) */
            {
                const int npos = n / 20;
                const size_t stride = (size_t)npos * 8 + 8;
                for (int i = 0; i < npos; i += 3) y[i] = 0.0f;
                pg_vec_pv8_f32_ref(npos, 16, a, x, stride, y); k->vec_pv8_f32(npos, 16, b, x, stride, y);
                ok = 1; for (int i = 0; i < 16; i++) ok &= same_float(a[i], b[i]);
                report(p, "pv8_f32", n, dn, ok);
                fill(y, n, kind);
            }

            pg_vec_add_f32_ref(n, a, x, y); k->vec_add_f32(n, b, x, y);
            ok = 1; for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(p, "add_f32", n, dn, ok);

            pg_vec_mul_f32_ref(n, a, x, y); k->vec_mul_f32(n, b, x, y);
            ok = 1; for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(p, "mul_f32", n, dn, ok);

            memcpy(a, x, sizeof(float) * n); memcpy(b, x, sizeof(float) * n);
            pg_vec_scale_f32_ref(n, a, -0.37f); k->vec_scale_f32(n, b, -0.37f);
            ok = 1; for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(p, "scale_f32", n, dn, ok);

            /* mad: a fused multiply-add may differ from mul-then-add by one rounding of x*v */
            memcpy(a, y, sizeof(float) * n); memcpy(b, y, sizeof(float) * n);
            pg_vec_mad_f32_ref(n, a, x, 1.7f); k->vec_mad_f32(n, b, x, 1.7f);
            ok = 1;
            for (int i = 0; i < n; i++) ok &= close_within(b[i], a[i], 2 * EPS * (fabs(y[i]) + fabs(x[i] * 1.7)));
            report(p, "mad_f32", n, dn, ok);

            pg_vec_cvt_f32_f16_ref(n, ha, x); k->vec_cvt_f32_f16(n, hb, x);
            ok = memcmp(ha, hb, sizeof(uint16_t) * n) == 0;
            report(p, "cvt_f32_f16", n, dn, ok);

            for (int i = 0; i < n; i++) h[i] = (uint16_t)rand_u32();
            pg_vec_cvt_f16_f32_ref(n, a, h); k->vec_cvt_f16_f32(n, b, h);
            ok = 1; for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(p, "cvt_f16_f32", n, "all bit patterns", ok);

            pg_vec_cvt_f32_f16_ref(n, h, x);
            memcpy(a, y, sizeof(float) * n); memcpy(b, y, sizeof(float) * n);
            pg_vec_mad_f16_ref(n, a, h, -0.5f); k->vec_mad_f16(n, b, h, -0.5f);
            ok = 1;
            for (int i = 0; i < n; i++)
                ok &= close_within(b[i], a[i], 2 * EPS * (fabs(y[i]) + fabs(pg_fp16_to_fp32(h[i]) * 0.5)));
            report(p, "mad_f16", n, dn, ok);

            ok = same_float(pg_vec_max_f32_ref(n, x), k->vec_max_f32(n, x));
            report(p, "max_f32", n, dn, ok);

            /* sum_sq: float squares added in order in double (llama.cpp's rms_norm) on every
             * path, so bit-identical, overflowed squares (inf) included */
            double sa = pg_vec_sum_sq_f32_ref(n, x), sb = k->vec_sum_sq_f32(n, x);
            ok = sa == sb || (sa != sa && sb != sb);
            report(p, "sum_sq_f32", n, dn, ok);
            if (k->vec_sum_sq_f32_x8) {   /* 8 rows side by side: each row's value, bit for bit */
                const float *rows[8];
                double s8[8];
                for (int r = 0; r < 8; r++) rows[r] = x + (r * 7) % (n + 1) / 2;   /* overlapping, unaligned */
                const int m = n - (n + 1) / 2;                                      /* fits every row */
                k->vec_sum_sq_f32_x8(m, s8, rows);
                ok = 1;
                for (int r = 0; r < 8; r++) {
                    const double want = pg_vec_sum_sq_f32_ref(m, rows[r]);
                    ok &= s8[r] == want || (s8[r] != s8[r] && want != want);
                }
                report(p, "sum_sq_f32_x8", m, dn, ok);
            }

            /* soft_max: y = exp(x - max), a few ulp from libm's expf; sum within float rounding */
            float mx = pg_vec_max_f32_ref(n, x);
            if (kind == DATA_EXTREME) mx = 0.0f;   /* keep overflow to inf in the test */
            sa = pg_vec_soft_max_f32_ref(n, a, x, mx); sb = k->vec_soft_max_f32(n, b, x, mx);
            ok = 1;
            for (int i = 0; i < n; i++) ok &= close_within(b[i], a[i], 4 * EPS * fabs(a[i]) + 1e-44);
            ok &= (isinf(sa) && sa == sb) || fabs(sa - sb) <= 4 * EPS * fabs(sa);
            snprintf(what, sizeof what, "%s (max %g)", dn, mx);
            report(p, "soft_max_f32", n, what, ok);

            /* silu/gelu: the SIMD forms divide by 1 + exp; the gelu ref's 1 + tanh cancels for
             * negative x, so its absolute error is up to ~eps * |x| */
            pg_vec_silu_f32_ref(n, a, x); k->vec_silu_f32(n, b, x);
            ok = 1; for (int i = 0; i < n; i++) ok &= close_within(b[i], a[i], 8 * EPS * fabs(a[i]) + 1e-44);
            report(p, "silu_f32", n, dn, ok);

            pg_vec_swiglu_f32_ref(n, a, x, g); k->vec_swiglu_f32(n, b, x, g);
            ok = 1; for (int i = 0; i < n; i++) ok &= close_within(b[i], a[i], 8 * EPS * fabs(a[i]) + 1e-44);
            report(p, "swiglu_f32", n, dn, ok);
        }
    }

    /* NaN policy: elementwise ops propagate, max ignores NaN */
    float nanv[9] = {1.0f, NAN, 3.0f, -2.0f, NAN, 0.5f, 7.0f, NAN, -1.0f};
    report(p, "max_f32", 9, "NaN ignored", k->vec_max_f32(9, nanv) == 7.0f);
    float allnan[9]; for (int i = 0; i < 9; i++) allnan[i] = NAN;
    report(p, "max_f32", 9, "all NaN -> -inf", k->vec_max_f32(9, allnan) == -INFINITY);
    k->vec_silu_f32(9, b, nanv);
    report(p, "silu_f32", 9, "NaN propagates", isnan(b[1]) && isnan(b[4]) && isnan(b[7]) && !isnan(b[0]));
    k->vec_soft_max_f32(9, b, nanv, 7.0f);
    report(p, "soft_max_f32", 9, "NaN propagates", isnan(b[1]) && isnan(b[4]) && b[6] == 1.0f);
    float infs[8] = {-INFINITY, -INFINITY, 0, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    double s = k->vec_soft_max_f32(8, b, infs, 0.0f);
    report(p, "soft_max_f32", 8, "-inf -> 0", s == 1.0 && b[0] == 0.0f && b[2] == 1.0f);
}

/* ---- exp accuracy of a path, through vec_soft_max_f32(max = 0) ---- */

static int measure_exp(const pg_kernels *k) {
    enum { CHUNK = 4096 };
    static float x[CHUNK], y[CHUNK];
    double max_ulp_libm = 0, max_ulp_exact = 0;
    float worst_x = 0;
    const double lo = -87.3, hi = 88.72;      /* results in the normal float range */
    const int total = 1 << 20;
    for (int base = 0; base < total; base += CHUNK) {
        for (int i = 0; i < CHUNK; i++) x[i] = (float)(lo + (hi - lo) * (base + i) / (total - 1));
        k->vec_soft_max_f32(CHUNK, y, x, 0.0f);
        for (int i = 0; i < CHUNK; i++) {
            double u_libm = ulp_distance(y[i], expf(x[i]));
            double u_exact = ulp_distance(y[i], (float)exp((double)x[i]));
            if (u_libm > max_ulp_libm) { max_ulp_libm = u_libm; worst_x = x[i]; }
            if (u_exact > max_ulp_exact) max_ulp_exact = u_exact;
        }
    }
    /* denormal outputs: absolute error against the exact value */
    double max_abs_sub = 0;
    for (int i = 0; i < CHUNK; i++) x[i] = (float)(-104.0 + 16.7 * i / (CHUNK - 1));
    k->vec_soft_max_f32(CHUNK, y, x, 0.0f);
    for (int i = 0; i < CHUNK; i++) {
        double e = fabs((double)y[i] - exp((double)x[i]));
        if (exp((double)x[i]) < FLT_MIN && e > max_abs_sub) max_abs_sub = e;
    }
    printf("exp on %-6s: max %.0f ulp vs expf (at x=%g), %.0f ulp vs exact, over [%g, %g]; "
           "subnormal results max abs error %.3g\n",
           k->path, max_ulp_libm, worst_x, max_ulp_exact, lo, hi, max_abs_sub);
    /* llama.cpp's exp (ours on SIMD paths) rounds twice for subnormal results: <= 2^-148 */
    int ok = max_ulp_exact <= 2 && max_abs_sub <= 0x1p-148;
    report(k->path, "exp accuracy", total, "more than 2 ulp", ok);
    return ok;
}

#if defined(__x86_64__)
/* the avx512 path's own vec kernels (arch/x86_512/vec_avx512.c) against avx2's, bit for bit:
 * softmax values and sums (split and far exp lanes included), scale, F16 conversions */
static void same_bits_as_avx2(const pg_kernels *avx2, const pg_kernels *wide) {
    static float x[MAX_N], a[MAX_N], b[MAX_N];
    static uint16_t ha[MAX_N], hb[MAX_N];
    static const int N[] = {1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 100, 1000};
    for (size_t li = 0; li < sizeof N / sizeof N[0]; li++)
        for (int kind = 0; kind < N_DATA; kind++) {
            const int n = N[li];
            char what[64];
            snprintf(what, sizeof what, "%s: == avx2 bit for bit", DATA_NAMES[kind]);
            fill(x, n, kind);
            const float mx = kind == DATA_EXTREME ? 0.0f : pg_vec_max_f32_ref(n, x);
            const double sa = avx2->vec_soft_max_f32(n, a, x, mx), sb = wide->vec_soft_max_f32(n, b, x, mx);
            int ok = memcmp(&sa, &sb, sizeof sa) == 0;
            for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(wide->path, "soft_max_f32", n, what, ok);
            for (int i = 0; i < n; i++) a[i] = b[i] = x[i];
            avx2->vec_scale_f32(n, a, 0.37f);
            wide->vec_scale_f32(n, b, 0.37f);
            ok = 1;
            for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(wide->path, "scale_f32", n, what, ok);
            avx2->vec_cvt_f32_f16(n, ha, x);
            wide->vec_cvt_f32_f16(n, hb, x);
            ok = memcmp(ha, hb, (size_t)n * sizeof ha[0]) == 0;
            avx2->vec_cvt_f16_f32(n, a, ha);
            wide->vec_cvt_f16_f32(n, b, ha);
            for (int i = 0; i < n; i++) ok &= same_float(a[i], b[i]);
            report(wide->path, "cvt f32<->f16", n, what, ok);
        }
}
#endif

static int path_runs_here(const char *name) {
#if defined(__x86_64__)
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
    return 1;
}

int main(void) {
    static pg_kernels scalar, simd;
    pg_fill_scalar_vec(&scalar);
    scalar.path = "scalar";
    test_path(&scalar);
    measure_exp(&scalar);
#if defined(__x86_64__) || defined(__aarch64__)
    simd = scalar;
#if defined(__x86_64__)
    simd.path = "avx2";
    if (path_runs_here("avx2")) pg_fill_avx2_vec(&simd);
#else
    simd.path = "neon";
    pg_fill_neon_vec(&simd);
#endif
    if (path_runs_here(simd.path)) {
        test_path(&simd);
        measure_exp(&simd);
    } else {
        printf("note: %s not supported by this CPU, only scalar tested\n", simd.path);
    }
#endif
#if defined(__x86_64__)
    const pg_kernels *wide = pg_simd_path_kernels("avx512");
    if (wide && path_runs_here("avx2")) {
        test_path(wide);
        measure_exp(wide);
        same_bits_as_avx2(&simd, wide);
    } else {
        printf("note: path avx512 not available here (needs %s): not tested\n", pg_simd_path_needs("avx512"));
    }
#endif
    return harness_report();
}
