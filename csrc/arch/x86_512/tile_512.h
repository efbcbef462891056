/* Helpers shared by the avx512 path's 512-bit tiles (arch/x86_512/tile_*_x16_vnni.c). */
#ifndef PG_TILE_512_H
#define PG_TILE_512_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* 4 activation bytes at qs + i in every 32-bit lane (a broadcast operand of vpdpbusd) */
static inline __m512i bcast4_512(const int8_t *qs, int i) {
    int32_t w;
    memcpy(&w, qs + i, 4);
    return _mm512_set1_epi32(w);
}

#endif
