/* Include first in every reference converter: forbids fusing a*b+c into one FMA, so the
 * reference rounds each product like numpy does (gguf-py is the oracle, bit for bit). This
 * only matters where the baseline ISA has FMA (aarch64); x86-64's baseline has none. */
#ifndef PG_FP_EXACT_H
#define PG_FP_EXACT_H

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#endif
