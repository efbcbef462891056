/* Internals shared by the executor and the ops that need pool-wide state. */
#ifndef PG_THREADPOOL_H
#define PG_THREADPOOL_H

#include <stdatomic.h>

#include "ops/ops.h"

/* A counter shared by all threads of the pool (mul_mat's chunk queue). Thread 0 resets it
 * before a barrier; afterwards every thread takes chunks with atomic_fetch_add. */
atomic_llong *pg_threadpool_chunk_counter(pg_threadpool *tp);

/* An op reports a failure of its inputs (PG_ERR_*, pyggml.h): the first report of a job wins,
 * the executor stops after that node and pg_graph_compute returns the code. Call it before the
 * op's last barrier so every thread sees it. */
void pg_compute_error(const pg_compute_params *p, const pg_tensor *node, int code);

/* Runs one node's share for thread p->ith (csrc/graph.c). */
void pg_compute_forward(const pg_compute_params *p, pg_tensor *node);
/* A node a few places ahead in the graph may prefetch what it will read from memory while the
 * nodes before it run (csrc/graph.c: single-query attention's KV cache); never writes. */
void pg_prefetch_ahead(const pg_compute_params *p, const pg_tensor *node);

#endif
