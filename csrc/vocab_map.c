/* Byte-string -> id hash map over one block of keys; see vocab_map.h. */
#include "vocab_map.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over the bytes from a seeded start, then a 64-bit finaliser so the low bits (the slot)
 * depend on all. */
static uint64_t hash_bytes(uint64_t seed, const uint8_t *key, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ key[i]) * 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static bool key_equals(const pg_vocab_map *map, int32_t id, const uint8_t *key, size_t len) {
    uint32_t start = map->offsets[id];
    return (size_t)(map->offsets[id + 1] - start) == len &&
           (len == 0 || memcmp(map->blob + start, key, len) == 0);
}

/* Slot where key is, else the empty slot ending its probe run (one always exists); *steps =
 * slots passed on the way. */
static size_t probe(const pg_vocab_map *map, const uint8_t *key, size_t len, size_t *steps) {
    size_t slot = (size_t)hash_bytes(map->seed, key, len) & map->mask;
    for (*steps = 0;; ++*steps) {
        int32_t id = map->slots[slot];
        if (id < 0 || key_equals(map, id, key, len)) {
            return slot;
        }
        slot = (slot + 1) & map->mask;
    }
}

static pg_vocab_status check_offsets(size_t blob_size, const uint32_t *offsets, int64_t n,
                                     int64_t *bad) {
    for (int64_t i = 0; i <= n; i++) {
        if (offsets[i] > blob_size) {
            *bad = i;
            return PG_VOCAB_OFFSET_PAST_END;
        }
        if (i > 0 && offsets[i] < offsets[i - 1]) {
            *bad = i;
            return PG_VOCAB_OFFSET_DECREASES;
        }
    }
    return PG_VOCAB_OK;
}

pg_vocab_status pg_vocab_map_build(pg_vocab_map *map, const uint8_t *blob, size_t blob_size,
                                   const uint32_t *offsets, int64_t n, bool keep_first, uint64_t seed,
                                   int64_t *bad, int64_t *first) {
    memset(map, 0, sizeof(*map));
    if (n < 0 || n > PG_VOCAB_MAX_KEYS) {
        *bad = n;
        return PG_VOCAB_TOO_MANY;
    }
    pg_vocab_status status = check_offsets(blob_size, offsets, n, bad);
    if (status != PG_VOCAB_OK) {
        return status;
    }
    size_t capacity = 2;
    while (capacity < 2 * (size_t)n) {
        capacity *= 2;
    }
    if (capacity > SIZE_MAX / sizeof(int32_t)) {
        return PG_VOCAB_NO_MEMORY;
    }
    int32_t *slots = malloc(capacity * sizeof(int32_t));
    if (slots == NULL) {
        return PG_VOCAB_NO_MEMORY;
    }
    memset(slots, 0xff, capacity * sizeof(int32_t)); /* all -1 */
    *map = (pg_vocab_map){.blob = blob, .offsets = offsets, .n = (int32_t)n, .n_distinct = 0,
                          .mask = capacity - 1, .seed = seed, .slots = slots};
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *key = blob + offsets[i];
        size_t len = offsets[i + 1] - offsets[i];
        size_t steps;
        size_t slot = probe(map, key, len, &steps);
        if (steps > PG_VOCAB_MAX_PROBE) {
            *bad = i;
            pg_vocab_map_free(map);
            return PG_VOCAB_COLLISIONS;
        }
        if (slots[slot] >= 0) {
            if (keep_first) {
                continue;
            }
            *bad = i;
            *first = slots[slot];
            pg_vocab_map_free(map);
            return PG_VOCAB_DUPLICATE;
        }
        slots[slot] = (int32_t)i;
        map->n_distinct++;
    }
    return PG_VOCAB_OK;
}

int32_t pg_vocab_map_find(const pg_vocab_map *map, const uint8_t *key, size_t len) {
    size_t steps;
    return map->slots[probe(map, key, len, &steps)];
}

void pg_vocab_map_free(pg_vocab_map *map) {
    free(map->slots);
    memset(map, 0, sizeof(*map));
}
