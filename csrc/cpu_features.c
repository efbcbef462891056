/* CPU feature detection and the choice of SIMD path, made once at import.
 * x86: CPUID leaf 1 / 7 plus XGETBV, since AVX registers are only usable if the OS saves them.
 * aarch64: NEON is baseline; dotprod is read from the auxiliary vector. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PG_X86 1
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#define PG_ARM 1
#endif

typedef struct {
    int avx, avx2, fma, f16c, avx512f, sse3, ssse3, neon, arm_dotprod;
} pg_cpu_features;

static pg_cpu_features detect(void) {
    pg_cpu_features f;
    memset(&f, 0, sizeof f);
#ifdef PG_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        f.sse3 = (c >> 0) & 1;
        f.ssse3 = (c >> 9) & 1;
        f.fma = (c >> 12) & 1;
        int osxsave = (c >> 27) & 1;
        f.avx = (c >> 28) & 1;
        f.f16c = (c >> 29) & 1;
        unsigned long long xcr0 = 0;
        if (osxsave) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            xcr0 = ((unsigned long long)hi << 32) | lo;
        }
        int os_avx = (xcr0 & 0x6) == 0x6;          /* XMM and YMM state */
        int os_avx512 = (xcr0 & 0xe6) == 0xe6;     /* + opmask, ZMM */
        if (!os_avx) f.avx = f.fma = f.f16c = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            f.avx2 = os_avx && ((b >> 5) & 1);
            f.avx512f = os_avx512 && ((b >> 16) & 1);
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
static pg_kernels g_table;
const pg_kernels *pg_active_kernels = NULL;

static const pg_cpu_features *features(void) {
    if (!g_features_ready) {
        g_features = detect();
        g_features_ready = 1;
    }
    return &g_features;
}

int pg_cpu_has_arm_dotprod(void) { return features()->arm_dotprod; }

static int path_available(const char *name) {
    const pg_cpu_features *f = features();
    if (strcmp(name, "scalar") == 0) return 1;
#ifdef PG_HAVE_X86_KERNELS
    if (strcmp(name, "avx2") == 0) return f->avx2 && f->fma && f->f16c;
#endif
#ifdef PG_HAVE_ARM_KERNELS
    if (strcmp(name, "neon") == 0) return f->neon;
#endif
    (void)f;
    return 0;
}

int pg_set_simd_path(const char *name) {
    if (strcmp(name, "scalar") && strcmp(name, "avx2") && strcmp(name, "neon")) return -2;
    if (!path_available(name)) return -1;
    memset(&g_table, 0, sizeof g_table);
    pg_kernels_fill_scalar(&g_table);
#ifdef PG_HAVE_X86_KERNELS
    if (strcmp(name, "avx2") == 0) pg_kernels_fill_avx2(&g_table);
#endif
#ifdef PG_HAVE_ARM_KERNELS
    if (strcmp(name, "neon") == 0) pg_kernels_fill_neon(&g_table);
#endif
    pg_active_kernels = &g_table;
    return 0;
}

const char *pg_best_simd_path(void) {
    if (path_available("avx2")) return "avx2";
    if (path_available("neon")) return "neon";
    return "scalar";
}

const char *pg_simd_path(void) { return pg_active_kernels ? pg_active_kernels->path : "none"; }

const char *pg_system_info(void) {
    static char buf[256];
    const pg_cpu_features *f = features();
    snprintf(buf, sizeof buf,
             "AVX = %d | AVX2 = %d | FMA = %d | F16C = %d | AVX512 = %d | SSE3 = %d | SSSE3 = %d | "
             "NEON = %d | ARM_FMA = %d | DOTPROD = %d | SIMD = %s",
             f->avx, f->avx2, f->fma, f->f16c, f->avx512f, f->sse3, f->ssse3, f->neon, f->neon,
             f->arm_dotprod, pg_simd_path());
    return buf;
}
