# VocabMap: read-only bytes -> id map over one block of keys + offsets (csrc/vocab_map.h), the
# tokenizer's text -> id table without a Python object per token.
import os
from libc.stdint cimport UINT32_MAX
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize


class DuplicateKeyError(ValueError):
    """A key given twice to VocabMap: key (bytes) at ids first < second."""

    def __init__(self, key, first, second):
        super().__init__(f"key {key!r} appears twice, at {first} and {second}")
        self.key, self.first, self.second = key, first, second


cdef uint8_t _EMPTY_BLOB[1]


cdef class VocabMap:
    """key i = blob[offsets[i]:offsets[i + 1]] -> i, for i < len(offsets) - 1.

    blob: bytes-like; offsets: (n + 1,) non-decreasing uint32 (array('I'), numpy uint32; other
    unsigned integer arrays are converted) within len(blob). Both are borrowed, not copied (keep
    them unchanged). A repeated key raises DuplicateKeyError, unless keep_first: then it keeps
    its lowest id (len() counts distinct keys)."""

    cdef pg_vocab_map _map
    cdef const uint8_t[::1] _blob
    cdef const uint32_t[::1] _offsets
    cdef bint _keep_first

    def __cinit__(self, blob, offsets, *, bint keep_first=False):
        self._keep_first = keep_first
        self._blob = _readonly_bytes_view(blob)
        if self._blob.shape[0] > UINT32_MAX:
            raise ValueError(f"blob of {self._blob.shape[0]} bytes: a VocabMap's keys fit in 4 GiB "
                             f"(uint32 offsets)")
        self._offsets = _uint32_offsets(offsets, self._blob.shape[0])
        cdef int64_t n = self._offsets.shape[0] - 1
        cdef const uint8_t *blob_ptr = &self._blob[0] if self._blob.shape[0] else _EMPTY_BLOB
        cdef int64_t bad = 0, first = 0
        cdef pg_vocab_status status
        cdef uint64_t seed = int.from_bytes(os.urandom(8), "little")   # keys are untrusted
        with nogil:
            status = pg_vocab_map_build(&self._map, blob_ptr, self._blob.shape[0], &self._offsets[0],
                                        n, keep_first, seed, &bad, &first)
        if status == PG_VOCAB_TOO_MANY:
            raise ValueError(f"{n} keys: a VocabMap holds at most {PG_VOCAB_MAX_KEYS}")
        if status == PG_VOCAB_OFFSET_PAST_END:
            raise ValueError(f"offsets[{bad}] = {self._offsets[bad]} is past the end of the "
                             f"{self._blob.shape[0]}-byte blob")
        if status == PG_VOCAB_OFFSET_DECREASES:
            raise ValueError(f"offsets[{bad}] = {self._offsets[bad]} is below offsets[{bad - 1}] = "
                             f"{self._offsets[bad - 1]}: offsets must not decrease")
        if status == PG_VOCAB_DUPLICATE:
            key = bytes(self._blob[self._offsets[bad]:self._offsets[bad + 1]])
            raise DuplicateKeyError(key, first, bad)
        if status == PG_VOCAB_COLLISIONS:
            raise ValueError(f"key {bad} collides with more than {PG_VOCAB_MAX_PROBE} others in the "
                             f"hash table: refusing a crafted vocabulary")
        if status == PG_VOCAB_NO_MEMORY:
            raise MemoryError(f"VocabMap: no memory for the slots of {n} keys")

    def __dealloc__(self):
        pg_vocab_map_free(&self._map)

    cdef inline int32_t _find(self, object key) noexcept:
        """id of key, -1 when absent; -2 when key is not bytes."""
        if not isinstance(key, bytes):
            return -2
        return pg_vocab_map_find(&self._map, <const uint8_t *>PyBytes_AS_STRING(key),
                                 <size_t>PyBytes_GET_SIZE(key))

    def get(self, key, default=None):
        """The id of key (bytes), else default."""
        cdef int32_t token_id = self._find(key)
        return token_id if token_id >= 0 else default

    def __getitem__(self, key):
        cdef int32_t token_id = self._find(key)
        if token_id < 0:
            raise KeyError(key)
        return token_id

    def __contains__(self, key):
        return self._find(key) >= 0

    def __len__(self):
        return self._map.n_distinct

    def __iter__(self):
        """The keys, by id (a repeat dropped by keep_first is skipped)."""
        cdef int32_t i
        for i in range(self._map.n):
            key = self.text(i)
            if self._find(key) == i:
                yield key

    def text(self, Py_ssize_t token_id):
        """Key `token_id` (bytes)."""
        if not 0 <= token_id < self._map.n:
            raise IndexError(f"id {token_id} is out of range for {self._map.n} keys")
        cdef uint32_t start = self._offsets[token_id]
        return PyBytes_FromStringAndSize(<const char *>&self._blob[0] + start if self._blob.shape[0] else NULL,
                                         self._offsets[token_id + 1] - start)

    def __eq__(self, other):
        """Equal to a VocabMap or dict with the same key -> id pairs."""
        if isinstance(other, dict):
            return len(other) == len(self) and all(self.get(k) == v for k, v in other.items())
        if isinstance(other, VocabMap):
            return len(other) == len(self) and all(other.get(k) == self[k] for k in self)
        return NotImplemented

    __hash__ = None

    def __reduce__(self):
        from functools import partial
        import numpy as np
        return (partial(VocabMap, keep_first=self._keep_first),
                (bytes(self._blob), np.array(self._offsets, np.uint32)))

    def __repr__(self):
        return f"VocabMap({self._map.n_distinct} keys)"

    def first_bad_merge(self, merges_blob, merges_offsets):
        """The first BPE merge that is not "left right" with left, right and left + right all
        keys of this map, as (rank, what): what is "space" (no space after its first byte),
        "left", "right" or "joined"; None when every merge is good. The merges are given like
        the keys: merge i = merges_blob[merges_offsets[i]:merges_offsets[i + 1]]. The search
        for the space starts at byte 1: a merge may start with a space (" " + x), and UTF-8
        sequences never hold 0x20 past their first byte."""
        cdef const uint8_t[::1] blob = _readonly_bytes_view(merges_blob)
        cdef const uint32_t[::1] offs = _uint32_offsets(merges_offsets, blob.shape[0])
        cdef int64_t n = offs.shape[0] - 1, rank, i
        cdef uint32_t start, end, cut, longest = 0
        for i in range(n):
            if offs[i + 1] < offs[i]:
                raise ValueError(f"offsets[{i + 1}] = {offs[i + 1]} is below offsets[{i}] = {offs[i]}")
            longest = max(longest, offs[i + 1] - offs[i])
        cdef const uint8_t *base = &blob[0] if blob.shape[0] else _EMPTY_BLOB
        cdef uint8_t *joined = <uint8_t *>malloc(longest + 1)
        if joined == NULL:
            raise MemoryError(f"first_bad_merge: {longest} bytes")
        cdef int what = 0   # 1 space, 2 left, 3 right, 4 joined
        try:
            with nogil:
                for rank in range(n):
                    start, end = offs[rank], offs[rank + 1]
                    cut = start + 1
                    while cut < end and base[cut] != 0x20:
                        cut += 1
                    if cut >= end:
                        what = 1
                    elif pg_vocab_map_find(&self._map, base + start, cut - start) < 0:
                        what = 2
                    elif pg_vocab_map_find(&self._map, base + cut + 1, end - cut - 1) < 0:
                        what = 3
                    else:
                        memcpy(joined, base + start, cut - start)
                        memcpy(joined + (cut - start), base + cut + 1, end - cut - 1)
                        if pg_vocab_map_find(&self._map, joined, end - start - 1) < 0:
                            what = 4
                    if what:
                        break
        finally:
            free(joined)
        return (rank, ("space", "left", "right", "joined")[what - 1]) if what else None


cdef const uint8_t[::1] _readonly_bytes_view(object blob):
    if isinstance(blob, str):
        raise TypeError("blob must be bytes-like, not str")
    view = memoryview(blob)
    if view.ndim != 1 or not view.c_contiguous:
        raise ValueError("blob must be a contiguous one-dimensional bytes-like object")
    return view.cast("B") if view.format != "B" else view


cdef const uint32_t[::1] _uint32_offsets(object offsets, size_t blob_size):
    """offsets as contiguous uint32: a view when it is that already, else a checked copy."""
    import numpy as np
    values = np.asarray(offsets)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"offsets must be one-dimensional with n + 1 entries (the key starts, then "
                         f"the end), not of shape {values.shape}")
    if values.dtype == np.uint32:
        return np.ascontiguousarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"offsets must be unsigned integers, not {values.dtype}")
    outside = np.flatnonzero((values < 0) | (values > blob_size))
    if outside.size:
        bad = int(outside[0])
        raise ValueError(f"offsets[{bad}] = {int(values[bad])} is "
                         + (f"past the end of the {blob_size}-byte blob" if values[bad] > 0 else "negative"))
    return values.astype(np.uint32)
