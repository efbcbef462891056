/* Block layouts of ggml's quantized types, byte for byte as they sit in GGUF files.
 * QK = elements per block. All multi-byte fields are little-endian. */
#ifndef PG_BLOCKS_H
#define PG_BLOCKS_H

#include <stdint.h>

typedef uint16_t pg_fp16;  /* IEEE half, raw bits */
typedef uint16_t pg_bf16;  /* bfloat16, raw bits */

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { pg_fp16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;                 /* 18 B */
typedef struct { pg_fp16 d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;              /* 20 B */
typedef struct { pg_fp16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;  /* 22 B */
typedef struct { pg_fp16 d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1; /* 24 B */
typedef struct { pg_fp16 d; int8_t qs[QK8_0]; } block_q8_0;                      /* 34 B */
typedef struct { pg_fp16 d, s; int8_t qs[QK8_1]; } block_q8_1;  /* 36 B; s = d * sum(qs) */

/* K-quants: super-blocks of 256 */
typedef struct {
    uint8_t scales[QK_K / 16]; /* 4-bit scale (low) and 4-bit min (high) per 16 */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    pg_fp16 d, dmin;
} block_q2_K;                  /* 84 B */
typedef struct {
    uint8_t hmask[QK_K / 8];   /* high bit */
    uint8_t qs[QK_K / 4];      /* low 2 bits */
    uint8_t scales[12];        /* 16 6-bit scales */
    pg_fp16 d;
} block_q3_K;                  /* 110 B */
typedef struct {
    pg_fp16 d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales + 8 6-bit mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;                  /* 144 B */
typedef struct {
    pg_fp16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;                  /* 176 B */
typedef struct {
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* 8-bit scales */
    pg_fp16 d;
} block_q6_K;                  /* 210 B */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  /* sum of qs per 16 */
} block_q8_K;                  /* 292 B */

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");

#endif
