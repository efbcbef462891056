#include "kernels.h"

void pg_fill_neon_quant(pg_kernels *k) { (void)k; }
