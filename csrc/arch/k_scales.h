/* Scale bytes of the K-quant super-blocks, unpacked with 32-bit word masks: the same packings
 * csrc/quants/k_layout.h defines element by element, in a few instructions per super-block.
 * The 16 result bytes come back as 4 little-endian words (byte i = bits 8*(i%4) of word i/4)
 * for the caller to move straight into a vector register: going through memory as 4-byte
 * stores read back by one 16-byte load would stall store forwarding.
 * Portable C shared by the AVX2 and NEON kernels; assumes a little-endian CPU (both are). */
#ifndef PG_ARCH_K_SCALES_H
#define PG_ARCH_K_SCALES_H

#include <stdint.h>
#include <string.h>

/* Q4_K / Q5_K: 12 bytes -> bytes 0..7 = the 8 group scales, bytes 8..15 = the 8 group mins,
 * 6 bits each. Groups 0..3 sit in the low 6 bits of bytes 0..3 (scales) and 4..7 (mins);
 * groups 4..7 take their low nibbles from bytes 8..11 and their top 2 bits from the top 2 bits
 * of bytes 0..3 / 4..7. */
static inline void k_scales_mins_6bit(const uint8_t packed[12], uint32_t out[4]) {
    uint32_t w[3];
    memcpy(w, packed, 12);
    out[0] = w[0] & 0x3f3f3f3fu;
    out[1] = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 6) & 0x03030303u) << 4;
    out[2] = w[1] & 0x3f3f3f3fu;
    out[3] = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 6) & 0x03030303u) << 4;
}

/* Q3_K: 12 bytes -> the 16 group scales biased by +32 (0..63; the value is byte - 32).
 * Low nibbles: scale i < 8 in the low nibble of byte i, scale i >= 8 in the high nibble of byte
 * i - 8; top 2 bits: byte 8 + i % 4, bits 2 * (i / 4). */
static inline void q3_K_scales_biased(const uint8_t packed[12], uint32_t out[4]) {
    uint32_t w[3];
    memcpy(w, packed, 12);
    out[0] = (w[0] & 0x0f0f0f0fu) | (w[2] & 0x03030303u) << 4;
    out[1] = (w[1] & 0x0f0f0f0fu) | ((w[2] >> 2) & 0x03030303u) << 4;
    out[2] = ((w[0] >> 4) & 0x0f0f0f0fu) | ((w[2] >> 4) & 0x03030303u) << 4;
    out[3] = ((w[1] >> 4) & 0x0f0f0f0fu) | ((w[2] >> 6) & 0x03030303u) << 4;
}

/* byte i of the 16 held in 4 words */
static inline int scale_byte(const uint32_t words[4], int i) { return (int)((words[i / 4] >> (8 * (i % 4))) & 0xff); }

#endif
