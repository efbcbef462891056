#include "kernels.h"

void pg_fill_avx2_quant(pg_kernels *k) { (void)k; }
