/* The quant kernels of every SIMD path this build has (scalar, plus AVX2 on x86 or NEON on
 * aarch64, both NEON int8 flavours where the CPU has dotprod) against the _ref kernels.
 *
 * vec_dot, per weight type x data kind x number of blocks (odd ones included):
 *   |got - ref| <= 1e-5 * M,  M = sum_i (|x_i| + 2 |o_i|) * |y_i|
 * where x, y are the dequantized weight and activation rows and o the weight row dequantized
 * with its code bytes zeroed (the block offsets: -8d, the mins, ...). M bounds the magnitude
 * of every partial term any kernel sums (the code products and the min terms), so 1e-5 * M
 * allows any summation order in f32 and nothing more: the integer sums must be exact.
 * from_float (Q8_0, Q8_1, Q8_K, F16): byte-identical to the activation _ref converter,
 * including ties, zeros, subnormals, huge values and blocks with Inf/NaN.
 * NaN policy: a NaN or Inf in a dot product's inputs makes the result non-finite on every path;
 * those cases are not compared value for value. */
#include <float.h>
#include <stddef.h>
#include <stdlib.h>

#include "harness.h"
#include "kernels.h"
#include "quants/quants.h"
#if defined(__aarch64__)
#include "arch/arm/quants_neon.h"
#endif

#define DOT_TOLERANCE 1e-5

typedef struct { size_t offset, size; } byte_range;

typedef struct {
    int type;                      /* the weight type; its partner is traits.vec_dot_type */
    pg_vec_dot_fn ref;
    size_t scale_fields[2];        /* f16 scale fields of a block (byte offsets) */
    int n_scale_fields;
    byte_range codes[2];           /* bytes of a block holding codes (zeroed for o) */
    int n_codes;
} dot_case;

#define CODES(T, f) {offsetof(T, f), sizeof(((T *)0)->f)}
static const dot_case DOT_CASES[] = {
    {PG_TYPE_F32, pg_vec_dot_f32_f32_ref, {0}, 0, {{0}}, 0},
    {PG_TYPE_F16, pg_vec_dot_f16_f16_ref, {0}, 0, {{0}}, 0},
    {PG_TYPE_BF16, pg_vec_dot_bf16_bf16_ref, {0}, 0, {{0}}, 0},
    {PG_TYPE_Q4_0, pg_vec_dot_q4_0_q8_0_ref, {offsetof(block_q4_0, d)}, 1, {CODES(block_q4_0, qs)}, 1},
    {PG_TYPE_Q4_1, pg_vec_dot_q4_1_q8_1_ref, {offsetof(block_q4_1, d), offsetof(block_q4_1, m)}, 2,
     {CODES(block_q4_1, qs)}, 1},
    {PG_TYPE_Q5_0, pg_vec_dot_q5_0_q8_0_ref, {offsetof(block_q5_0, d)}, 1,
     {CODES(block_q5_0, qh), CODES(block_q5_0, qs)}, 2},
    {PG_TYPE_Q5_1, pg_vec_dot_q5_1_q8_1_ref, {offsetof(block_q5_1, d), offsetof(block_q5_1, m)}, 2,
     {CODES(block_q5_1, qh), CODES(block_q5_1, qs)}, 2},
    {PG_TYPE_Q8_0, pg_vec_dot_q8_0_q8_0_ref, {offsetof(block_q8_0, d)}, 1, {CODES(block_q8_0, qs)}, 1},
    {PG_TYPE_Q2_K, pg_vec_dot_q2_K_q8_K_ref, {offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)}, 2,
     {CODES(block_q2_K, qs)}, 1},
    {PG_TYPE_Q3_K, pg_vec_dot_q3_K_q8_K_ref, {offsetof(block_q3_K, d)}, 1,
     {CODES(block_q3_K, hmask), CODES(block_q3_K, qs)}, 2},
    {PG_TYPE_Q4_K, pg_vec_dot_q4_K_q8_K_ref, {offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)}, 2,
     {CODES(block_q4_K, qs)}, 1},
    {PG_TYPE_Q5_K, pg_vec_dot_q5_K_q8_K_ref, {offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)}, 2,
     {CODES(block_q5_K, qh), CODES(block_q5_K, qs)}, 2},
    {PG_TYPE_Q6_K, pg_vec_dot_q6_K_q8_K_ref, {offsetof(block_q6_K, d)}, 1,
     {CODES(block_q6_K, ql), CODES(block_q6_K, qh)}, 2},
};
#define N_DOT_CASES (int)(sizeof DOT_CASES / sizeof DOT_CASES[0])

/* the activation-row converters every path has its own version of, with their references
 * (Q8_0 activations round differently from Q8_0 weights: pg_quantize_row_q8_0_act_ref) */
static const struct {
    int type;
    pg_from_float_fn ref;
} ACT_CASES[] = {
    {PG_TYPE_F16, pg_quantize_row_f16_ref},
    {PG_TYPE_Q8_0, pg_quantize_row_q8_0_act_ref},
    {PG_TYPE_Q8_1, pg_quantize_row_q8_1_ref},
    {PG_TYPE_Q8_K, pg_quantize_row_q8_K_ref},
};
#define N_ACT_CASES (int)(sizeof ACT_CASES / sizeof ACT_CASES[0])

static pg_from_float_fn activation_ref(int type) {
    for (int i = 0; i < N_ACT_CASES; i++)
        if (ACT_CASES[i].type == type) return ACT_CASES[i].ref;
    return pg_type_traits_table[type].from_float_ref;   /* F32, BF16 */
}

#define MAX_N 4352                              /* 17 blocks of 256 */
#define MAX_ROW_BYTES (MAX_N * 4)

static const pg_type_traits *traits(int type) { return &pg_type_traits_table[type]; }

static size_t row_bytes(int type, int n) { return pg_row_size(type, n); }

/* ---- dot products ---- */

enum { DATA_GAUSS, DATA_POSITIVE, DATA_RAW, DATA_EXTREME, DATA_ZERO, N_DOT_DATA };
static const char *DOT_DATA_NAMES[N_DOT_DATA] = {"gauss", "positive", "raw bytes", "extreme", "zero"};

static void set_f16(uint8_t *p, float v) {
    const uint16_t h = pg_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

/* weight floats for the quantizer, per block a random magnitude */
static void weight_floats(float *x, int n, int blck, int kind) {
    for (int b = 0; b < n / blck; b++) {
        const float scale = powf(10.0f, rand_uniform(-3.0f, 3.0f));
        const float base = rand_uniform(0.0f, 4.0f) * scale;
        for (int j = 0; j < blck; j++) {
            float *v = &x[b * blck + j];
            if (kind == DATA_GAUSS) *v = rand_normal() * scale;
            else if (kind == DATA_POSITIVE) *v = base + rand_uniform(0.0f, 1.0f) * scale;
            else *v = 0.0f;
        }
    }
}

/* a weight row of the case's type */
static void make_weights(const dot_case *c, uint8_t *xq, int n, int kind) {
    static float xf[MAX_N];
    const int blck = (int)traits(c->type)->blck_size;
    const size_t bsize = traits(c->type)->type_size;
    const int quantized = traits(c->type)->is_quantized;
    if (kind == DATA_RAW && quantized) {
        rand_bytes(xq, row_bytes(c->type, n));
        for (int b = 0; b < n / blck; b++)
            for (int f = 0; f < c->n_scale_fields; f++)
                set_f16(xq + b * bsize + c->scale_fields[f], rand_uniform(-4.0f, 4.0f) * powf(10.0f, rand_uniform(-3, 0)));
        return;
    }
    if (kind == DATA_EXTREME && quantized) {
        rand_bytes(xq, row_bytes(c->type, n));
        for (int b = 0; b < n / blck; b++)
            for (int f = 0; f < c->n_scale_fields; f++)
                set_f16(xq + b * bsize + c->scale_fields[f], (rand_u32() & 1) ? 65504.0f : -65504.0f);
        return;
    }
    if (kind == DATA_RAW || kind == DATA_EXTREME) {   /* float types: wide values */
        const float big = kind == DATA_EXTREME ? 60000.0f : 1000.0f;
        for (int i = 0; i < n; i++) xf[i] = rand_uniform(-big, big);
    } else {
        weight_floats(xf, n, blck, kind);
    }
    traits(c->type)->from_float_ref(xf, xq, n);
}

/* an activation row of the partner type: gaussian, or at the extreme all +-A (codes +-127) */
static void make_activations(int partner, uint8_t *yq, int n, int kind) {
    static float yf[MAX_N];
    /* as large as the format holds: Q8_1's s = d * sum(q) is an f16, so 32 * A <= 65504 */
    const float big = partner == PG_TYPE_F32 || partner == PG_TYPE_BF16 ? 1e6f
                      : partner == PG_TYPE_F16                          ? 60000.0f
                      : partner == PG_TYPE_Q8_1                         ? 2000.0f
                                                                        : 1e5f;
    for (int i = 0; i < n; i++) {
        if (kind == DATA_ZERO) yf[i] = 0.0f;
        else if (kind == DATA_EXTREME) yf[i] = (rand_u32() & 1) ? big : -big;
        else yf[i] = rand_normal() * 3.0f;
    }
    activation_ref(partner)(yf, yq, n);
}

/* M of the tolerance (see the top of the file) */
static double term_magnitude(const dot_case *c, const uint8_t *xq, const uint8_t *yq, int n) {
    static float x[MAX_N], o[MAX_N], y[MAX_N];
    static uint8_t zeroed[MAX_ROW_BYTES];
    const int partner = traits(c->type)->vec_dot_type;
    const size_t bsize = traits(c->type)->type_size;
    const int nblocks = n / (int)traits(c->type)->blck_size;
    traits(c->type)->to_float_ref(xq, x, n);
    traits(partner)->to_float_ref(yq, y, n);
    memcpy(zeroed, xq, row_bytes(c->type, n));
    for (int b = 0; b < nblocks; b++)
        for (int f = 0; f < c->n_codes; f++) memset(zeroed + b * bsize + c->codes[f].offset, 0, c->codes[f].size);
    if (c->n_codes) traits(c->type)->to_float_ref(zeroed, o, n);
    else memset(o, 0, sizeof(float) * (size_t)n);
    double m = 0.0;
    for (int i = 0; i < n; i++) m += (fabs((double)x[i]) + 2.0 * fabs((double)o[i])) * fabs((double)y[i]);
    return m;
}

static void test_dot_products(const pg_kernels *k) {
    static const int BLOCKS_32[] = {1, 2, 3, 5, 8, 17, 128};
    static const int BLOCKS_256[] = {1, 2, 3, 5, 17};
    static uint8_t xq[MAX_ROW_BYTES], yq[MAX_ROW_BYTES];
    for (int ci = 0; ci < N_DOT_CASES; ci++) {
        const dot_case *c = &DOT_CASES[ci];
        const int blck = (int)traits(c->type)->blck_size;
        const int partner = traits(c->type)->vec_dot_type;
        const int *blocks = blck == 256 ? BLOCKS_256 : BLOCKS_32;
        const int n_counts = blck == 256 ? 5 : 7;
        double worst = 0.0;               /* largest |got - ref| / M seen */
        for (int bi = 0; bi < n_counts; bi++) {
            /* float types (block size 1): n = 32 * count, plus a tail that is no SIMD width */
            const int n = blck == 1 ? 32 * blocks[bi] + bi : blocks[bi] * blck;
            for (int kind = 0; kind < N_DOT_DATA; kind++) {
                for (int rep = 0; rep < 2; rep++) {
                    make_weights(c, xq, n, kind);
                    make_activations(partner, yq, n, kind == DATA_EXTREME ? DATA_EXTREME : kind == DATA_ZERO ? DATA_ZERO : DATA_GAUSS);
                    float want = 0.0f, got = 0.0f;
                    c->ref(n, &want, xq, yq);
                    k->vec_dot[c->type](n, &got, xq, yq);
                    const double m = term_magnitude(c, xq, yq, n);
                    const double tol = DOT_TOLERANCE * m;
                    check(isfinite(want), "%s vec_dot %s: reference not finite (test data) n=%d %s", k->path,
                          traits(c->type)->name, n, DOT_DATA_NAMES[kind]);
                    check(close_within(got, want, tol), "%s vec_dot %s·%s n=%d %s: got %.9g, ref %.9g (tol %.3g)",
                          k->path, traits(c->type)->name, traits(partner)->name, n, DOT_DATA_NAMES[kind], got, want, tol);
                    if (m > 0 && fabs((double)got - want) / m > worst) worst = fabs((double)got - want) / m;
                }
            }
        }
        printf("  %-6s vec_dot %-5s: max |got - ref| / M = %.2g\n", k->path, traits(c->type)->name, worst);
    }
}

/* ---- activation row converters: byte-identical to the reference ---- */

enum { ACT_GAUSS, ACT_TIES, ACT_ZERO, ACT_TINY, ACT_HUGE, ACT_SPECIAL, ACT_EQUAL_MAGNITUDE, ACT_RANDOM_BITS, N_ACT_DATA };
static const char *ACT_DATA_NAMES[N_ACT_DATA] = {"gauss", "ties", "zero", "tiny", "huge", "inf/nan", "+-max", "random bits"};

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void activation_floats(float *x, int n, int blck, int kind) {
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case ACT_GAUSS: x[i] = rand_normal() * powf(10.0f, (float)(i / blck % 5) - 2.0f); break;
        /* max |x| = 127 makes d = 1 (Q8_0/Q8_1) or the scale -1/+1 (Q8_K): every x.5 is a tie */
        case ACT_TIES: x[i] = i % blck == 3 ? 127.0f : (float)((int)(rand_u32() % 253) - 126) + 0.5f; break;
        case ACT_ZERO: x[i] = (i & 1) ? -0.0f : 0.0f; break;
        case ACT_TINY: x[i] = rand_uniform(-1.0f, 1.0f) * powf(2.0f, -(float)(120 + (i / blck) % 30)); break;
        case ACT_HUGE: x[i] = rand_uniform(-1.0f, 1.0f) * (i % blck == 0 ? FLT_MAX : 1e37f); break;
        case ACT_SPECIAL: {
            static const uint32_t SPECIALS[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc12345u, 0x7f800001u,
                                                0x477fefffu, 0x477ff000u, 0x33000000u, 0x33000001u, 0x00000001u};
            const int blk = i / blck;
            x[i] = (i % blck == 5 + blk % 7) ? from_bits(SPECIALS[blk % 10]) : rand_normal();
            break;
        }
        /* +A and -A in one block: the first of them sets Q8_K's scale sign */
        case ACT_EQUAL_MAGNITUDE:
            x[i] = i % blck == 7 ? ((i / blck) & 1 ? -50.0f : 50.0f) : i % blck == 9 ? ((i / blck) & 1 ? 50.0f : -50.0f)
                                                                                 : rand_uniform(-49.0f, 49.0f);
            break;
        default: x[i] = from_bits(rand_u32()); break;
        }
    }
}

static void test_row_converters(const pg_kernels *k) {
    static float x[MAX_N];
    static uint8_t want[MAX_ROW_BYTES], got[MAX_ROW_BYTES];
    static const int BLOCKS[] = {1, 2, 3, 7, 17};
    for (int ti = 0; ti < N_ACT_CASES; ti++) {
        const int type = ACT_CASES[ti].type;
        const int blck = (int)traits(type)->blck_size;
        for (int bi = 0; bi < 5; bi++) {
            /* F16: lengths that leave tails of every size below the SIMD widths */
            const int n = blck == 1 ? 32 * BLOCKS[bi] + 3 * bi + (bi & 1) : BLOCKS[bi] * blck;
            /* block structure for the data generator (F16 has none): 32 */
            const int data_blck = blck == 1 ? 32 : blck;
            for (int kind = 0; kind < N_ACT_DATA; kind++) {
                activation_floats(x, n, data_blck, kind);
                const size_t nbytes = row_bytes(type, n);
                memset(want, 0xa5, nbytes);
                memset(got, 0x5a, nbytes);
                ACT_CASES[ti].ref(x, want, n);
                k->from_float[type](x, got, n);
                const long at = first_byte_difference(got, want, nbytes);
                check(at < 0, "%s from_float %s n=%d %s: first differing byte %ld (block %ld)", k->path,
                      traits(type)->name, n, ACT_DATA_NAMES[kind], at, at / (long)traits(type)->type_size);
            }
        }
    }
}

/* a SIMD table must really carry its own kernels, or the tests above prove nothing */
static void check_overrides(const pg_kernels *simd, const pg_kernels *scalar) {
    for (int ci = 0; ci < N_DOT_CASES; ci++) {
        const int t = DOT_CASES[ci].type;
        check(simd->vec_dot[t] && simd->vec_dot[t] != scalar->vec_dot[t], "%s has no vec_dot of its own for %s",
              simd->path, traits(t)->name);
    }
    for (int ti = 0; ti < N_ACT_CASES; ti++) {
        const int t = ACT_CASES[ti].type;
        check(simd->from_float[t] && simd->from_float[t] != scalar->from_float[t],
              "%s has no from_float of its own for %s", simd->path, traits(t)->name);
    }
}

static void test_path(const pg_kernels *k, const pg_kernels *scalar) {
    printf("path %s\n", k->path);
    if (k != scalar) check_overrides(k, scalar);
    test_dot_products(k);
    test_row_converters(k);
}

int main(void) {
    static pg_kernels scalar;
    rand_seed(20240607);
    pg_kernels_fill_scalar(&scalar);
    test_path(&scalar, &scalar);
#if defined(__x86_64__)
    static const char *const X86_PATHS[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        const pg_kernels *k = pg_simd_path_kernels(X86_PATHS[i]);
        if (k)
            test_path(k, &scalar);
        else
            printf("note: path %s not available here (needs %s): not tested\n", X86_PATHS[i],
                   pg_simd_path_needs(X86_PATHS[i]));
    }
#elif defined(__aarch64__)
    static pg_kernels simd;
    simd = scalar;
    pg_kernels_fill_neon(&simd);
    printf("neon int8 dot flavour chosen for this CPU: %s\n", pg_cpu_has_arm_dotprod() ? "dotprod" : "widen");
    test_path(&simd, &scalar);
    if (pg_cpu_has_arm_dotprod()) {         /* the fallback runs on dotprod CPUs too: test it here */
        static pg_kernels widen;
        widen = scalar;
        pg_kernels_fill_neon(&widen);
        pg_fill_neon_quant_flavour(&widen, 0);
        widen.path = "neon-widen";
        test_path(&widen, &scalar);
    }
#endif
    return harness_report();
}
