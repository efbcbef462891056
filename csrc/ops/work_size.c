/* Scratch bytes each op needs for n_threads (the executor allocates the max over a graph). */
#include "ops/ops.h"

size_t pg_op_work_size(const pg_tensor *node, int n_threads) {
    switch ((pg_op)node->op) {
    case PG_OP_MUL_MAT: return pg_mul_mat_work_size(node, n_threads);
    case PG_OP_MUL_MAT_ID: return pg_mul_mat_id_work_size(node, n_threads);
    case PG_OP_MUL_MAT_GLU: return pg_mul_mat_glu_work_size(node, n_threads);
    case PG_OP_FLASH_ATTN_EXT: return pg_flash_attn_work_size(node, n_threads);
    case PG_OP_ROPE: return pg_rope_work_size(node, n_threads);
    case PG_OP_DUP:
    case PG_OP_CPY:
    case PG_OP_CONT: return pg_cpy_work_size(node, n_threads);
    case PG_OP_SET_ROWS: return pg_set_rows_work_size(node, n_threads);
    default: return 0;
    }
}
