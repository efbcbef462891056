/* One node's forward: dispatch on the op to its kernel family. */
#include "threadpool.h"

void pg_compute_forward(const pg_compute_params *p, pg_tensor *node) {
    switch ((pg_op)node->op) {
    case PG_OP_ADD: pg_forward_add(p, node); break;
    case PG_OP_SUB: pg_forward_sub(p, node); break;
    case PG_OP_MUL: pg_forward_mul(p, node); break;
    case PG_OP_DIV: pg_forward_div(p, node); break;
    case PG_OP_SCALE: pg_forward_scale(p, node); break;
    case PG_OP_MUL_MAT: pg_forward_mul_mat(p, node); break;
    case PG_OP_MUL_MAT_ID: pg_forward_mul_mat_id(p, node); break;
    case PG_OP_ARGSORT_TOP_K: pg_forward_argsort_top_k(p, node); break;
    case PG_OP_RMS_NORM: pg_forward_rms_norm(p, node); break;
    case PG_OP_NORM: pg_forward_norm(p, node); break;
    case PG_OP_SILU: pg_forward_silu(p, node); break;
    case PG_OP_GELU: pg_forward_gelu(p, node); break;
    case PG_OP_RELU: pg_forward_relu(p, node); break;
    case PG_OP_TANH: pg_forward_tanh(p, node); break;
    case PG_OP_SWIGLU: pg_forward_swiglu(p, node); break;
    case PG_OP_MUL_MAT_GLU: pg_forward_mul_mat_glu(p, node); break;
    case PG_OP_SOFT_MAX: pg_forward_soft_max(p, node); break;
    case PG_OP_ROPE: pg_forward_rope(p, node); break;
    case PG_OP_DIAG_MASK_INF: pg_forward_diag_mask_inf(p, node); break;
    case PG_OP_CONCAT: pg_forward_concat(p, node); break;
    case PG_OP_SUM_ROWS: pg_forward_sum_rows(p, node); break;
    case PG_OP_ARGMAX: pg_forward_argmax(p, node); break;
    case PG_OP_GET_ROWS: pg_forward_get_rows(p, node); break;
    case PG_OP_DUP:
    case PG_OP_CPY:
    case PG_OP_CONT: pg_forward_cpy(p, node); break;
    case PG_OP_SET_ROWS: pg_forward_set_rows(p, node); break;
    case PG_OP_FLASH_ATTN_EXT: pg_forward_flash_attn_ext(p, node); break;
    case PG_OP_NONE:
    case PG_OP_VIEW:
    case PG_OP_RESHAPE:
    case PG_OP_PERMUTE:
    case PG_OP_TRANSPOSE:
    case PG_OP_COUNT: break;
    }
}

void pg_prefetch_ahead(const pg_compute_params *p, const pg_tensor *node) {
    if (node->op == PG_OP_FLASH_ATTN_EXT) pg_flash_attn_prefetch(p, node);
}
