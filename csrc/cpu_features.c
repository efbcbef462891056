/* CPU feature detection and the registry of SIMD paths.
 * x86: CPUID leaves 1 / 7.0 / 7.1 plus XGETBV, since vector registers are only usable if the OS
 * saves them; AMX tile data also needs the process's permission (arch_prctl, Linux >= 5.16).
 * aarch64: NEON is baseline; dotprod is read from the auxiliary vector.
 *
 * Each path names its parent, says when it is available and fills its changes over a copy of
 * the parent's filled table. A table is filled once, before it is first published, and never
 * written again: switching paths swaps the pg_active_kernels pointer (a compute already running
 * keeps the table it started with). Where a path replaces a weight type's vec_dot but not the
 * tile / batch / gemv variants it inherited for that type, those are cleared (they carry the
 * parent's order), so one matmul never mixes two orders. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PG_X86 1
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define PG_ARCH_REQ_XCOMP_PERM 0x1023
#define PG_XFEATURE_XTILEDATA 18
#endif
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#define PG_ARM 1
#endif

typedef struct {
    int sse3, ssse3, avx, avx2, fma, f16c;
    int avx512f, avx512dq, avx512bw, avx512vl, avx512vbmi, avx512vnni, avx512bf16, avx512fp16, avx_vnni;
    int amx_tile, amx_int8, amx_bf16;
    int os_avx512, os_amx, amx_permitted;
    int neon, arm_dotprod;
} pg_cpu_features;

#define BIT(r, n) (((r) >> (n)) & 1)

static pg_cpu_features detect(void) {
    pg_cpu_features f;
    memset(&f, 0, sizeof f);
#ifdef PG_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        f.sse3 = BIT(c, 0);
        f.ssse3 = BIT(c, 9);
        f.fma = BIT(c, 12);
        const int osxsave = BIT(c, 27);
        f.avx = BIT(c, 28);
        f.f16c = BIT(c, 29);
        unsigned long long xcr0 = 0;
        if (osxsave) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            xcr0 = ((unsigned long long)hi << 32) | lo;
        }
        const int os_avx = (xcr0 & 0x6) == 0x6;               /* XMM and YMM state */
        f.os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;         /* + opmask, ZMM 0-15 high, ZMM 16-31 */
        f.os_amx = (xcr0 & (3ull << 17)) == (3ull << 17);      /* XTILECFG, XTILEDATA */
        if (!os_avx) f.avx = f.fma = f.f16c = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            f.avx2 = os_avx && BIT(b, 5);
            if (f.os_avx512) {
                f.avx512f = BIT(b, 16);
                f.avx512dq = BIT(b, 17);
                f.avx512bw = BIT(b, 30);
                f.avx512vl = BIT(b, 31);
                f.avx512vbmi = BIT(c, 1);
                f.avx512vnni = BIT(c, 11);
                f.avx512fp16 = BIT(d, 23);
            }
            f.amx_bf16 = BIT(d, 22);
            f.amx_tile = BIT(d, 24);
            f.amx_int8 = BIT(d, 25);
            if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) {
                f.avx_vnni = os_avx && BIT(a, 4);
                f.avx512bf16 = f.os_avx512 && BIT(a, 5);
            }
        }
    }
#endif
#ifdef PG_ARM
    f.neon = 1;
#ifdef HWCAP_ASIMDDP
    f.arm_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
    return f;
}

static pg_cpu_features g_features;
static int g_features_ready = 0;

static const pg_cpu_features *features(void) {
    if (!g_features_ready) {
        g_features = detect();
        g_features_ready = 1;
    }
    return &g_features;
}

int pg_cpu_has_arm_dotprod(void) { return features()->arm_dotprod; }

/* AMX tile data is off for a process until it asks (the OS then saves 8 KiB more per thread).
 * Asked once; 0 if the kernel refuses or predates the request. */
static int amx_permission(void) {
    static int asked = 0, granted = 0;
    if (!asked) {
        asked = 1;
#if defined(PG_X86) && defined(__linux__)
        granted = syscall(SYS_arch_prctl, PG_ARCH_REQ_XCOMP_PERM, PG_XFEATURE_XTILEDATA) == 0;
#endif
    }
    return granted;
}

/* ---- the registry ---- */

static int has_scalar(const pg_cpu_features *f) { (void)f; return 1; }
#ifdef PG_HAVE_X86_KERNELS
static int has_avx2(const pg_cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
#endif
#ifdef PG_HAVE_X86_512_KERNELS
static int has_avx512(const pg_cpu_features *f) {
    return has_avx2(f) && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni;
}
#endif
#ifdef PG_HAVE_ARM_KERNELS
static int has_neon(const pg_cpu_features *f) { return f->neon; }
#endif

typedef struct {
    const char *name;
    const char *parent;                          /* NULL: the root (scalar) */
    int (*available)(const pg_cpu_features *f);  /* NULL: not built for this platform */
    void (*fill)(pg_kernels *k);                 /* changes over the parent's filled table */
    const char *needs;                           /* what available() checks, for messages */
} pg_simd_path_desc;

static const pg_simd_path_desc PATHS[] = {
    {"scalar", NULL, has_scalar, pg_kernels_fill_scalar, "nothing"},
#ifdef PG_HAVE_X86_KERNELS
    {"avx2", "scalar", has_avx2, pg_kernels_fill_avx2, "AVX2, FMA, F16C and OS support for YMM state"},
#else
    {"avx2", "scalar", NULL, NULL, "an x86-64 build"},
#endif
#ifdef PG_HAVE_X86_512_KERNELS
    {"avx512", "avx2", has_avx512, pg_kernels_fill_avx512,
     "AVX512F/DQ/BW/VL + AVX512_VNNI and OS support for ZMM state"},
#else
    {"avx512", "avx2", NULL, NULL, "an x86-64 build"},
#endif
    /* AMX: detected (system_info's AMX_INT8 / AMX_PERMITTED), no kernels of its own yet */
    {"amx", "avx512", NULL, NULL, "AMX kernels, which this build does not have yet"},
#ifdef PG_HAVE_ARM_KERNELS
    {"neon", "scalar", has_neon, pg_kernels_fill_neon, "NEON"},
#else
    {"neon", "scalar", NULL, NULL, "an aarch64 build"},
#endif
};
#define N_PATHS ((int)(sizeof PATHS / sizeof PATHS[0]))

static pg_kernels g_tables[N_PATHS];
static int g_filled[N_PATHS];
static _Atomic(const pg_kernels *) g_active = NULL;
const pg_kernels *pg_active_kernels = NULL;

static int path_index(const char *name) {
    for (int i = 0; i < N_PATHS; i++)
        if (strcmp(PATHS[i].name, name) == 0) return i;
    return -1;
}

static int index_available(int i) {
    if (!PATHS[i].available || !PATHS[i].available(features())) return 0;
    return !PATHS[i].parent || index_available(path_index(PATHS[i].parent));
}

/* The variants keyed on a weight type's vec_dot (tile, batch, gemv) that the child inherited
 * although it replaced that vec_dot: cleared, they compute the parent's order. */
static void clear_stale_variants(pg_kernels *child, const pg_kernels *parent) {
    for (int t = 0; t < PG_TYPE_COUNT; t++) {
        if (child->vec_dot[t] == parent->vec_dot[t]) continue;
        if (child->vec_dot_tile[t] == parent->vec_dot_tile[t]) child->vec_dot_tile[t] = NULL;
        if (child->vec_dot_batch[t] == parent->vec_dot_batch[t]) child->vec_dot_batch[t] = NULL;
        if (child->vec_dot_gemv[t] == parent->vec_dot_gemv[t]) {
            child->vec_dot_gemv[t] = NULL;
            child->gemv_group[t] = 0;
        }
    }
    /* the single-query attention kernels carry the F16 gemv order */
    if (child->vec_dot_gemv[PG_TYPE_F16] != parent->vec_dot_gemv[PG_TYPE_F16] &&
        child->attn_scores_f16 == parent->attn_scores_f16)
        child->attn_scores_f16 = NULL;
}

/* the filled table of an available path (filled on first use, then read-only) */
static const pg_kernels *filled_table(int i) {
    if (!g_filled[i]) {
        pg_kernels *k = &g_tables[i];
        memset(k, 0, sizeof *k);
        const pg_kernels *parent = NULL;
        if (PATHS[i].parent) {
            parent = filled_table(path_index(PATHS[i].parent));
            *k = *parent;
        }
        PATHS[i].fill(k);
        k->path = PATHS[i].name;
        if (parent) clear_stale_variants(k, parent);
        g_filled[i] = 1;
    }
    return &g_tables[i];
}

const pg_kernels *pg_simd_path_kernels(const char *name) {
    const int i = path_index(name);
    return i >= 0 && index_available(i) ? filled_table(i) : NULL;
}

int pg_set_simd_path(const char *name) {
    const int i = path_index(name);
    if (i < 0) return -2;
    if (!index_available(i)) return -1;
    const pg_kernels *k = filled_table(i);
    atomic_store(&g_active, k);
    pg_active_kernels = k;
    return 0;
}

int pg_simd_path_built(const char *name) {
    const int i = path_index(name);
    return i >= 0 && PATHS[i].available != NULL;
}

const char *pg_simd_path_needs(const char *name) {
    const int i = path_index(name);
    return i < 0 ? "a known path name" : PATHS[i].needs;
}

const char *pg_simd_paths_known(void) {
    static char buf[128];
    if (!buf[0])
        for (int i = 0; i < N_PATHS; i++) {
            if (i) strcat(buf, ",");
            strcat(buf, PATHS[i].name);
        }
    return buf;
}

const char *pg_simd_paths_available(void) {
    static char buf[128];
    buf[0] = 0;
    for (int i = 0; i < N_PATHS; i++)
        if (index_available(i)) {
            if (buf[0]) strcat(buf, ",");
            strcat(buf, PATHS[i].name);
        }
    return buf;
}

/* the deepest available path (the last available in registry order, which lists children
 * after their parents) */
const char *pg_best_simd_path(void) {
    const char *best = "scalar";
    for (int i = 0; i < N_PATHS; i++)
        if (index_available(i)) best = PATHS[i].name;
    return best;
}

const char *pg_simd_path(void) {
    const pg_kernels *k = atomic_load(&g_active);
    return k ? k->path : "none";
}

const char *pg_system_info(void) {
    static char buf[512];
    const pg_cpu_features *f = features();
    const int amx = f->amx_tile && f->amx_int8 && f->os_amx;
    snprintf(buf, sizeof buf,
             "AVX = %d | AVX2 = %d | FMA = %d | F16C = %d | AVX512 = %d | AVX512_VBMI = %d | AVX512_VNNI = %d | "
             "AVX512_BF16 = %d | AVX512_FP16 = %d | AVX_VNNI = %d | AMX_INT8 = %d | AMX_BF16 = %d | "
             "AMX_PERMITTED = %d | SSE3 = %d | SSSE3 = %d | NEON = %d | ARM_FMA = %d | DOTPROD = %d | "
             "SIMD_PATHS = %s | SIMD = %s",
             f->avx, f->avx2, f->fma, f->f16c, f->avx512f, f->avx512vbmi, f->avx512vnni, f->avx512bf16,
             f->avx512fp16, f->avx_vnni, amx, amx && f->amx_bf16, amx && amx_permission(), f->sse3, f->ssse3,
             f->neon, f->neon, f->arm_dotprod, pg_simd_paths_available(), pg_simd_path());
    return buf;
}
