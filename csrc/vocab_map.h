/* Read-only map from byte strings to int32 ids over one block of keys (a tokenizer's token
 * texts): key i is blob[offsets[i] .. offsets[i + 1]). Open addressing with linear probing in a
 * power-of-two table of at least twice as many slots as keys; a slot holds an id or -1.
 * The map borrows blob and offsets: they must outlive it. Keys come from untrusted files, so
 * the hash is seeded per map (a caller's random seed: colliding keys cannot be prepared) and a
 * probe run longer than PG_VOCAB_MAX_PROBE while building is an error, never a slow crawl. Ints instead of Python objects: a
 * 262k-token vocabulary is 2 MiB of slots here against ~30 MiB as a dict of bytes -> int. */
#ifndef PG_VOCAB_MAP_H
#define PG_VOCAB_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const uint8_t *blob;
    const uint32_t *offsets; /* (n + 1,) key starts, then the end of the last key */
    int32_t n;               /* keys (ids 0..n-1) */
    int32_t n_distinct;      /* keys held: n less the repeats dropped */
    size_t mask;             /* slot count - 1 */
    uint64_t seed;           /* mixed into every hash */
    int32_t *slots;          /* id or -1 */
} pg_vocab_map;

typedef enum {
    PG_VOCAB_OK = 0,
    PG_VOCAB_TOO_MANY,         /* n > PG_VOCAB_MAX_KEYS */
    PG_VOCAB_OFFSET_DECREASES, /* offsets[*bad] < offsets[*bad - 1] */
    PG_VOCAB_OFFSET_PAST_END,  /* offsets[*bad] > blob_size */
    PG_VOCAB_DUPLICATE,        /* key *bad equals key *first (first < bad) */
    PG_VOCAB_NO_MEMORY,
    PG_VOCAB_COLLISIONS,       /* key *bad probed more than PG_VOCAB_MAX_PROBE slots */
} pg_vocab_status;

#define PG_VOCAB_MAX_KEYS INT32_MAX
#define PG_VOCAB_MAX_PROBE 4096

/* Validates offsets then inserts keys 0..n-1 in order. A repeated key is an error
 * (PG_VOCAB_DUPLICATE at the first repeat) unless keep_first, which keeps its lowest id.
 * On error nothing is left to free and *bad (and *first) say where. */
pg_vocab_status pg_vocab_map_build(pg_vocab_map *map, const uint8_t *blob, size_t blob_size,
                                   const uint32_t *offsets, int64_t n, bool keep_first, uint64_t seed,
                                   int64_t *bad, int64_t *first);

/* The id of key[0..len), or -1. */
int32_t pg_vocab_map_find(const pg_vocab_map *map, const uint8_t *key, size_t len);

void pg_vocab_map_free(pg_vocab_map *map);

#ifdef __cplusplus
}
#endif

#endif /* PG_VOCAB_MAP_H */
