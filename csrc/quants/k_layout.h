/* Where each of the 256 codes of a K-quant super-block lives (ggml's layouts), as unpack/pack
 * pairs shared by the dequantizers, the dot products and the quantizers (private to csrc/quants).
 * Element e of a super-block: e in [0, 256); "code" = the unsigned stored value. */
#ifndef PG_K_LAYOUT_H
#define PG_K_LAYOUT_H

#include <stdint.h>
#include <string.h>

#include "quants/blocks.h"

/* Q2_K: 2-bit codes; e = h*128 + j*32 + l -> byte qs[h*32 + l], bits 2j. */
static inline void unpack_q2_K(const block_q2_K *b, uint8_t code[QK_K]) {
    for (int e = 0; e < QK_K; e++) code[e] = (b->qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
static inline void pack_q2_K(block_q2_K *b, const uint8_t code[QK_K]) {
    memset(b->qs, 0, sizeof b->qs);
    for (int e = 0; e < QK_K; e++) b->qs[(e / 128) * 32 + e % 32] |= (uint8_t)(code[e] << (2 * ((e % 128) / 32)));
}

/* Q3_K: 3-bit codes; low 2 bits laid out as Q2_K's, high bit in hmask[e % 32] bit e / 32.
 * The signed value is code - 4. */
static inline void unpack_q3_K(const block_q3_K *b, uint8_t code[QK_K]) {
    for (int e = 0; e < QK_K; e++) {
        int low = (b->qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        code[e] = (uint8_t)(low | ((b->hmask[e % 32] >> (e / 32)) & 1) << 2);
    }
}
static inline void pack_q3_K(block_q3_K *b, const uint8_t code[QK_K]) {
    memset(b->qs, 0, sizeof b->qs);
    memset(b->hmask, 0, sizeof b->hmask);
    for (int e = 0; e < QK_K; e++) {
        b->qs[(e / 128) * 32 + e % 32] |= (uint8_t)((code[e] & 3) << (2 * ((e % 128) / 32)));
        b->hmask[e % 32] |= (uint8_t)((code[e] >> 2) << (e / 32));
    }
}
/* 16 6-bit scales (stored +32): low nibbles in bytes 0..7 (scale i<8 low, i>=8 high nibble of
 * byte i-8), top 2 bits in byte 8 + i%4 at bit 2*(i/4). */
static inline void unpack_q3_K_scales(const uint8_t s[12], int scale[16]) {
    for (int i = 0; i < 16; i++) {
        int low = (s[i % 8] >> (4 * (i / 8))) & 0x0f;
        int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        scale[i] = (low | high << 4) - 32;
    }
}
static inline void pack_q3_K_scales(uint8_t s[12], const int scale[16]) {
    memset(s, 0, 12);
    for (int i = 0; i < 16; i++) {
        int u = scale[i] + 32;
        s[i % 8] |= (uint8_t)((u & 0x0f) << (4 * (i / 8)));
        s[8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
    }
}

/* Q4_K / Q5_K: 4 low bits; e = c*64 + k*32 + l -> byte qs[c*32 + l], nibble k.
 * Q5_K's fifth bit: qh[e % 32] bit e / 32. */
static inline void unpack_q4_K_codes(const uint8_t qs[QK_K / 2], uint8_t code[QK_K]) {
    for (int e = 0; e < QK_K; e++) code[e] = (qs[(e / 64) * 32 + e % 32] >> (4 * ((e % 64) / 32))) & 0x0f;
}
static inline void pack_q4_K_codes(uint8_t qs[QK_K / 2], const uint8_t code[QK_K]) {
    memset(qs, 0, QK_K / 2);
    for (int e = 0; e < QK_K; e++) qs[(e / 64) * 32 + e % 32] |= (uint8_t)((code[e] & 0x0f) << (4 * ((e % 64) / 32)));
}
static inline void unpack_q5_K(const block_q5_K *b, uint8_t code[QK_K]) {
    unpack_q4_K_codes(b->qs, code);
    for (int e = 0; e < QK_K; e++) code[e] |= (uint8_t)(((b->qh[e % 32] >> (e / 32)) & 1) << 4);
}
static inline void pack_q5_K(block_q5_K *b, const uint8_t code[QK_K]) {
    pack_q4_K_codes(b->qs, code);
    memset(b->qh, 0, sizeof b->qh);
    for (int e = 0; e < QK_K; e++) b->qh[e % 32] |= (uint8_t)((code[e] >> 4) << (e / 32));
}
/* 8 6-bit scales + 8 6-bit mins in 12 bytes: sub-blocks 0..3 in bytes 0..3 (scale) and 4..7
 * (min), low 6 bits; sub-blocks 4..7: low nibbles in byte 8+j (scale low, min high), top 2
 * bits in the top 2 bits of bytes j (scale) and 4+j (min). */
static inline void unpack_k_scale_min(const uint8_t s[12], int sc[8], int mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0x0f) | (s[j] >> 6) << 4;
        mn[j + 4] = (s[j + 8] >> 4) | (s[j + 4] >> 6) << 4;
    }
}
static inline void pack_k_scale_min(uint8_t s[12], const int sc[8], const int mn[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | (mn[j + 4] & 0x0f) << 4);
    }
}

/* Q6_K: 6-bit codes (value = code - 32). Low nibble: e = h*128 + k*64 + l -> ql[h*64 + l],
 * nibble k. High 2 bits: e = h*128 + j*32 + l -> qh[h*32 + l], bits 2j. */
static inline void unpack_q6_K(const block_q6_K *b, uint8_t code[QK_K]) {
    for (int e = 0; e < QK_K; e++) {
        int h = e / 128, r = e % 128;
        int low = (b->ql[h * 64 + r % 64] >> (4 * (r / 64))) & 0x0f;
        int high = (b->qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
        code[e] = (uint8_t)(low | high << 4);
    }
}
static inline void pack_q6_K(block_q6_K *b, const uint8_t code[QK_K]) {
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    for (int e = 0; e < QK_K; e++) {
        int h = e / 128, r = e % 128;
        b->ql[h * 64 + r % 64] |= (uint8_t)((code[e] & 0x0f) << (4 * (r / 64)));
        b->qh[h * 32 + r % 32] |= (uint8_t)((code[e] >> 4) << (2 * (r / 32)));
    }
}

#endif
