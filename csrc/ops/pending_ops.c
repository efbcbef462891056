/* TRANSITIONAL (deleted when csrc/ops/* land): weak placeholders so the module links while the
 * op kernels are being written. Strong definitions in the op files replace these. */
#include "ops/ops.h"

__attribute__((weak)) void pg_forward_add(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_sub(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_mul(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_div(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_scale(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_silu(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_gelu(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_relu(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_tanh(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_rms_norm(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_norm(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_soft_max(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_diag_mask_inf(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_rope(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_cpy(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_get_rows(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_set_rows(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_concat(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_sum_rows(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_argmax(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) void pg_forward_flash_attn_ext(const pg_compute_params *p, pg_tensor *dst) { (void)p; (void)dst; }
__attribute__((weak)) size_t pg_flash_attn_work_size(const pg_tensor *dst, int n_threads) { (void)dst; (void)n_threads; return 0; }
__attribute__((weak)) size_t pg_op_work_size(const pg_tensor *node, int n_threads) {
    return node->op == PG_OP_MUL_MAT ? pg_mul_mat_work_size(node, n_threads) : 0;
}
