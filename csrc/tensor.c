/* The context arena and tensor headers.
 * Arena layout: [pg_tensor][data, 32-byte aligned][pg_tensor][data]... in one malloc'd block. */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define PG_ARENA_ALIGN 32

struct pg_context {
    uint8_t *mem;
    size_t size;
    size_t used;
    bool no_alloc;
};

pg_context *pg_context_new(size_t mem_size, bool no_alloc) {
    pg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->mem = aligned_alloc(PG_ARENA_ALIGN, (mem_size + PG_ARENA_ALIGN - 1) / PG_ARENA_ALIGN * PG_ARENA_ALIGN);
    if (!ctx->mem && mem_size) { free(ctx); return NULL; }
    ctx->size = mem_size;
    ctx->no_alloc = no_alloc;
    return ctx;
}

void pg_context_free(pg_context *ctx) {
    if (!ctx) return;
    free(ctx->mem);
    free(ctx);
}

size_t pg_context_used(const pg_context *ctx) { return ctx->used; }

static void *arena_take(pg_context *ctx, size_t n) {
    size_t start = (ctx->used + PG_ARENA_ALIGN - 1) & ~(size_t)(PG_ARENA_ALIGN - 1);
    if (start > ctx->size || n > ctx->size - start) return NULL;
    ctx->used = start + n;
    return ctx->mem + start;
}

pg_tensor *pg_new_tensor_header(pg_context *ctx, int type, const int64_t *ne, const size_t *nb) {
    pg_tensor *t = arena_take(ctx, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->type = type;
    for (int i = 0; i < PG_MAX_DIMS; i++) { t->ne[i] = ne[i]; t->nb[i] = nb[i]; }
    return t;
}

pg_tensor *pg_new_tensor(pg_context *ctx, int type, int n_dims, const int64_t *ne_in) {
    int64_t ne[PG_MAX_DIMS] = {1, 1, 1, 1};
    for (int i = 0; i < n_dims && i < PG_MAX_DIMS; i++) ne[i] = ne_in[i];
    size_t nb[PG_MAX_DIMS];
    nb[0] = pg_type_size(type);
    nb[1] = pg_row_size(type, ne[0]);
    for (int i = 2; i < PG_MAX_DIMS; i++) nb[i] = nb[i - 1] * (size_t)ne[i - 1];
    size_t used_before = ctx->used;
    pg_tensor *t = pg_new_tensor_header(ctx, type, ne, nb);
    if (!t) return NULL;
    if (!ctx->no_alloc) {
        size_t bytes = nb[3] * (size_t)ne[3];
        t->data = arena_take(ctx, bytes ? bytes : 1);
        if (!t->data) { ctx->used = used_before; return NULL; }
        memset(t->data, 0, bytes);
    }
    return t;
}

size_t pg_nbytes(const pg_tensor *t) {
    /* bytes spanned: last element's end, honouring strides (nb0 too, for transposed views) */
    size_t n = pg_blck_size(t->type) == 1 ? pg_type_size(t->type) + (size_t)(t->ne[0] - 1) * t->nb[0]
                                          : pg_row_size(t->type, t->ne[0]);
    for (int i = 1; i < PG_MAX_DIMS; i++) n += (size_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}

bool pg_is_contiguous(const pg_tensor *t) {
    if (t->nb[0] != pg_type_size(t->type)) return false;
    if (t->nb[1] != pg_row_size(t->type, t->ne[0])) return false;
    for (int i = 2; i < PG_MAX_DIMS; i++)
        if (t->nb[i] != t->nb[i - 1] * (size_t)t->ne[i - 1]) return false;
    return true;
}
