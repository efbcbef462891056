/* mul_mat: dst = src0 · src1ᵀ in ggml's convention.
 *   src0 weights     (K, N, ne02, ne03), any type with a vec_dot kernel
 *   src1 activations (K, M, ne12, ne13) F32, rows contiguous (nb10 = 4)
 *   dst              (N, M, ne12, ne13) F32;  dst[i1][i0] = dot(src0 row i0, src1 row i1)
 *   src0 is broadcast over dims 2/3: batch i12 uses weight batch i12 / (ne12 / ne02).
 *
 * Step 1 (all threads, row-split): quantize every src1 row once into wdata as the weight's
 * vec_dot partner type (Q8_0 / Q8_1 / Q8_K / F16), unless src1 already is that type (mul_mat_glu's
 * output; then only Q4_0's x8 tile needs the rows copied, each with its block sums).
 * Step 2: the output is cut into chunks of PG_MM_ROWS weight rows × PG_MM_COLS activation rows
 * (half as many where those rows would not fit in an L1 data cache),
 * taken from a shared atomic counter; inside a chunk each weight row is reused for every
 * activation column while both stay in cache. A chunk is computed in tiles of PG_TILE_ROWS x
 * PG_TILE_COLS by pg_vec_dot_tile (kernels.h): every output is the value vec_dot gives it, the
 * tile only overlaps independent outputs and reuses each loaded block.
 * Where a path has vec_dot_gemv for the type, rows that llama.cpp computes with its GEMV rather
 * than its GEMM (a lone row; for repacked types the last M % gemv_group rows) go through it:
 * their orders differ (F32/F16, Q4_K); or, for a lone row, because streaming one weight row at a
 * time through vec_dot is faster than the path's tile (x86: Q4_1, Q5_1, Q8_0; the same values).
 * Where a path has vec_dot_batch for the type, matrices of >= PG_BATCH_MIN_ROWS activation rows
 * go through it instead, every row (llama.cpp's "tiled" order for such batches, Q6_K).
 * Where src0 has a repacked copy (whole groups of 8 rows) and the path a vec_dot_tile_x8 for the
 * type, the tiles read that copy: the same values, one stream per group of rows (two groups per
 * tile of 2+ activation rows where the path has a vec_dot_tile_x16); so do the GEMV rows where
 * the path has a vec_dot_gemv_x8 for it (else they read the original rows). */
#include "threadpool.h"

#define PG_MM_ROWS 16
#define PG_MM_COLS 16
/* a chunk's activation rows stay within this many bytes (the tiles re-read them for every
 * group of weight rows: from L1, not L2; 1B-shaped Q4_K x Q8_K rows of 2336 bytes, op alone
 * 2 threads: 158 -> 186 GMAC/s with 8 rows instead of 16) */
#define PG_MM_COLS_BYTES (24u << 10)
/* weight rows per panel: this many bytes of them (an L2's share, the activation chunks besides) */
#define PG_MM_PANEL_BYTES (384u << 10)

/* the path's tile over src0's repacked copy (a 2-D tensor in whole groups of 8 rows), or NULL */
static pg_vec_dot_tile_fn x8_tile_of(const pg_kernels *k, const pg_tensor *src0) {
    if (!src0->repacked || src0->ne[2] != 1 || src0->ne[3] != 1 || src0->ne[1] % PG_TILE_ROWS) return NULL;
    return k->vec_dot_tile_x8[src0->type];
}

/* whether the type's x8 kernels take activation rows carrying block sums (kernels.h: Q4_0) */
static int x8_takes_sums(int type) { return type == PG_TYPE_Q4_0; }

/* how step 1 prepares src1 for src0's kernels */
typedef enum {
    ACT_AS_IS,       /* src1 is already the partner type, plain rows */
    ACT_QUANTIZE,    /* F32 rows quantized (with the x8 block sums where the tile takes them) */
    ACT_ADD_SUMS,    /* partner-type rows copied, each followed by its block sums (Q4_0's x8 tile) */
} act_prep;

static act_prep act_prep_of(const pg_kernels *k, const pg_tensor *src0, const pg_tensor *src1) {
    const int vdt = pg_type_traits_table[src0->type].vec_dot_type;
    if (vdt != src1->type) return ACT_QUANTIZE;
    return x8_tile_of(k, src0) && x8_takes_sums(src0->type) ? ACT_ADD_SUMS : ACT_AS_IS;
}

/* bytes of one prepared activation row (with the x8 tile's block sums where it takes them) */
static size_t act_row_bytes(const pg_kernels *k, const pg_tensor *src0, const pg_tensor *src1) {
    const int vdt = pg_type_traits_table[src0->type].vec_dot_type;
    const int64_t K = src1->ne[0];
    return x8_tile_of(k, src0) && x8_takes_sums(src0->type) ? pg_x8_activation_row_bytes(K) : pg_row_size(vdt, K);
}

size_t pg_mul_mat_act_bytes(const pg_kernels *k, const pg_tensor *src0, const pg_tensor *src1) {
    if (act_prep_of(k, src0, src1) == ACT_AS_IS) return 0;
    return act_row_bytes(k, src0, src1) * (size_t)(src1->ne[1] * src1->ne[2] * src1->ne[3]);
}

void pg_quantize_src1_rows(const pg_compute_params *p, const pg_tensor *src1, int vdt, char *q, size_t row_bytes,
                           int x8_sums) {
    pg_from_float_fn quantize = p->k->from_float[vdt];
    const int64_t K = src1->ne[0], M = src1->ne[1], ne12 = src1->ne[2];
    int64_t r0, r1;
    pg_thread_rows(M * ne12 * src1->ne[3], p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i11 = r % M, i12 = (r / M) % ne12, i13 = r / (M * ne12);
        const char *x = (const char *)src1->data + i11 * src1->nb[1] + i12 * src1->nb[2] + i13 * src1->nb[3];
        if (src1->type == vdt) memcpy(q + r * row_bytes, x, pg_row_size(vdt, K));
        else quantize((const float *)x, q + r * row_bytes, K);
        if (x8_sums) pg_x8_activation_sums(q + r * row_bytes, K);
    }
}

size_t pg_mul_mat_work_size(const pg_tensor *dst, int n_threads) {
    (void)n_threads;
    size_t n = pg_mul_mat_act_bytes(pg_active_kernels, dst->src[0], dst->src[1]);
    return n ? n + PG_CACHE_LINE : 0;
}

pg_mm_plan pg_mul_mat_plan(const pg_compute_params *p, const pg_tensor *src0, const pg_tensor *src1) {
    const int64_t M = src1->ne[1];
    pg_mm_plan m = {0};
    m.src0 = src0;
    m.K = (int)src0->ne[0];
    /* weights repacked by 8 rows (a 2-D tensor's `repacked` copy) where the path reads them; a
     * work buffer planned for another path (no room for the block sums) keeps the rows */
    const act_prep prep = act_prep_of(p->k, src0, src1);
    m.x8_tile = x8_tile_of(p->k, src0);
    if (m.x8_tile && prep != ACT_AS_IS && pg_mul_mat_act_bytes(p->k, src0, src1) + PG_CACHE_LINE > p->wsize) m.x8_tile = NULL;
    m.x16_tile = m.x8_tile ? p->k->vec_dot_tile_x16[src0->type] : NULL;
    m.x8_group = src0->nb[1] * PG_TILE_ROWS;   /* bytes per group of 8 rows (same total size) */
    m.prepared = prep != ACT_AS_IS && (m.x8_tile || prep == ACT_QUANTIZE);
    m.act_sums = m.prepared && m.x8_tile && x8_takes_sums(src0->type);
    m.act_row = m.prepared ? (m.act_sums ? pg_x8_activation_row_bytes(m.K)
                                         : pg_row_size(pg_type_traits_table[src0->type].vec_dot_type, m.K))
                           : src1->nb[1];
    /* batches of >= PG_BATCH_MIN_ROWS rows with a vec_dot_batch kernel: all rows through it */
    m.batch_tile = M >= PG_BATCH_MIN_ROWS ? p->k->vec_dot_batch[src0->type] : NULL;
    /* activation rows [0, M_tiled) go through tiles, the rest through vec_dot_gemv */
    m.gemv = m.batch_tile ? NULL : p->k->vec_dot_gemv[src0->type];
    const int group = p->k->gemv_group[src0->type];
    m.M_tiled = !m.gemv ? M : group ? M - M % group : (M == 1 ? 0 : M);
    m.gemv_x8 = m.gemv && m.x8_tile ? p->k->vec_dot_gemv_x8[src0->type] : NULL;
    return m;
}

void pg_mul_mat_prepare(const pg_compute_params *p, const pg_mm_plan *m, const pg_tensor *src1, char **act) {
    *act = (char *)src1->data;
    if (!m->prepared) return;
    pg_quantize_src1_rows(p, src1, pg_type_traits_table[m->src0->type].vec_dot_type, p->wdata, m->act_row, m->act_sums);
    *act = p->wdata;
}

void pg_mul_mat_block(const pg_kernels *k, const pg_mm_plan *m, const char *w, const void *repacked, const char *a,
                      int64_t ir0, int64_t ir1, int64_t ic0, int64_t ic1, char *out, size_t out_col) {
    const pg_tensor *src0 = m->src0;
    const int K = m->K;
    /* output (ir, ic) at out + (ic - ic0) * out_col bytes, float (ir - ir0) */
#define OUT(ic, ir) ((float *)(out + (size_t)((ic) - ic0) * out_col) + ((ir) - ir0))
    if (m->gemv_x8) {
        for (int64_t ic = ic0 > m->M_tiled ? ic0 : m->M_tiled; ic < ic1; ic += PG_TILE_COLS) {
            const int nc = (int)(ic1 - ic < PG_TILE_COLS ? ic1 - ic : PG_TILE_COLS);
            for (int64_t ir = ir0; ir < ir1; ir += PG_TILE_ROWS)
                m->gemv_x8(K, OUT(ic, ir), out_col, (const char *)repacked + ir / PG_TILE_ROWS * m->x8_group, m->x8_group,
                           a + ic * m->act_row, m->act_row, (int)(ir1 - ir < PG_TILE_ROWS ? ir1 - ir : PG_TILE_ROWS), nc);
        }
    } else {
        for (int64_t ic = ic0 > m->M_tiled ? ic0 : m->M_tiled; ic < ic1; ic++)
            for (int64_t ir = ir0; ir < ir1; ir++) m->gemv(K, OUT(ic, ir), w + ir * src0->nb[1], a + ic * m->act_row);
    }
    const int64_t ic_end = ic1 < m->M_tiled ? ic1 : m->M_tiled;
    for (int64_t ic = ic0; ic < ic_end; ic += PG_TILE_COLS) {
        const int nc = (int)(ic_end - ic < PG_TILE_COLS ? ic_end - ic : PG_TILE_COLS);
        const char *y = a + ic * m->act_row;
        for (int64_t ir = ir0; ir < ir1; ir += PG_TILE_ROWS) {
            const int nr = (int)(ir1 - ir < PG_TILE_ROWS ? ir1 - ir : PG_TILE_ROWS);
            /* two groups at once; not for a lone activation row (the avx512 Q4_0 x16 tile's two
             * interleaved weight streams ran slower than the x8 tile's one from DRAM) */
            if (m->x16_tile && nc > 1 && ir1 - ir > PG_TILE_ROWS) {
                const int nr16 = (int)(ir1 - ir < 2 * PG_TILE_ROWS ? ir1 - ir : 2 * PG_TILE_ROWS);
                m->x16_tile(K, OUT(ic, ir), out_col, (const char *)repacked + ir / PG_TILE_ROWS * m->x8_group, m->x8_group,
                            y, m->act_row, nr16, nc);
                ir += PG_TILE_ROWS;
            } else if (m->batch_tile)
                m->batch_tile(K, OUT(ic, ir), out_col, w + ir * src0->nb[1], src0->nb[1], y, m->act_row, nr, nc);
            else if (m->x8_tile)
                m->x8_tile(K, OUT(ic, ir), out_col, (const char *)repacked + ir / PG_TILE_ROWS * m->x8_group, m->x8_group, y,
                           m->act_row, nr, nc);
            else
                pg_vec_dot_tile(k, src0->type, K, OUT(ic, ir), out_col, w + ir * src0->nb[1], src0->nb[1], y, m->act_row,
                                nr, nc);
        }
    }
#undef OUT
}

void pg_forward_mul_mat(const pg_compute_params *p, pg_tensor *dst) {
    const pg_tensor *src0 = dst->src[0], *src1 = dst->src[1];
    const int64_t N = src0->ne[1];
    const int64_t M = src1->ne[1], ne12 = src1->ne[2], ne13 = src1->ne[3];
    atomic_llong *chunk_next = pg_threadpool_chunk_counter(p->tp);
    const pg_mm_plan m = pg_mul_mat_plan(p, src0, src1);

    /* step 1: activations into the partner type, once, shared by all threads */
    char *act;
    pg_mul_mat_prepare(p, &m, src1, &act);
    const size_t act_b2 = m.prepared ? m.act_row * (size_t)M : src1->nb[2];
    const size_t act_b3 = m.prepared ? act_b2 * (size_t)ne12 : src1->nb[3];
    if (p->ith == 0) atomic_store(chunk_next, p->nth);
    pg_barrier(p);

    /* step 2: chunks of (weight rows × activation rows) per batch */
    /* few activation rows (decode): weight rows in a few long runs per thread, so each thread
     * streams its weights sequentially (short interleaved runs defeat the prefetchers) */
    int64_t chunk_rows = PG_MM_ROWS;
    if (M <= PG_TILE_COLS) {
        const int64_t runs = 4 * (int64_t)p->nth;
        chunk_rows = (N + runs - 1) / runs;
        chunk_rows = (chunk_rows + PG_MM_ROWS - 1) / PG_MM_ROWS * PG_MM_ROWS;
    }
    const int64_t n_row_chunks = (N + chunk_rows - 1) / chunk_rows;
    const int64_t mm_cols = (size_t)PG_MM_COLS * m.act_row <= PG_MM_COLS_BYTES ? PG_MM_COLS : PG_MM_COLS / 2;
    const int64_t n_col_chunks = (M + mm_cols - 1) / mm_cols;
    const int64_t per_batch = n_row_chunks * n_col_chunks;
    /* chunks in panels of weight rows that stay in L2 while every activation chunk passes them:
     * chunk k of a batch -> panel k / per_panel, then activation chunk, then row chunk in the panel */
    int64_t panel_chunks = (int64_t)(PG_MM_PANEL_BYTES / src0->nb[1]) / chunk_rows;
    if (panel_chunks < 1) panel_chunks = 1;
    const int64_t per_panel = panel_chunks * n_col_chunks;
    const int64_t n_chunks = per_batch * ne12 * ne13;
    const int64_t r2 = ne12 / src0->ne[2], r3 = ne13 / src0->ne[3];
    for (int64_t c = p->ith; c < n_chunks; c = atomic_fetch_add(chunk_next, 1)) {
        const int64_t batch = c / per_batch, in_batch = c % per_batch;
        const int64_t i12 = batch % ne12, i13 = batch / ne12;
        const int64_t panel = in_batch / per_panel, in_panel = in_batch % per_panel;
        const int64_t rows_here = n_row_chunks - panel * panel_chunks < panel_chunks ? n_row_chunks - panel * panel_chunks
                                                                                     : panel_chunks;
        const int64_t ir0 = (panel * panel_chunks + in_panel % rows_here) * chunk_rows;
        const int64_t ic0 = (in_panel / rows_here) * mm_cols;
        const int64_t ir1 = ir0 + chunk_rows < N ? ir0 + chunk_rows : N;
        const int64_t ic1 = ic0 + mm_cols < M ? ic0 + mm_cols : M;
        const char *w = (const char *)src0->data + (i12 / r2) * src0->nb[2] + (i13 / r3) * src0->nb[3];
        const char *a = act + i12 * act_b2 + i13 * act_b3;
        char *d = (char *)dst->data + i12 * dst->nb[2] + i13 * dst->nb[3];
        pg_mul_mat_block(p->k, &m, w, src0->repacked, a, ir0, ir1, ic0, ic1, d + ic0 * dst->nb[1] + ir0 * sizeof(float),
                         dst->nb[1]);
    }
}
