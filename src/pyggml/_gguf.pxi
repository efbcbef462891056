# The GGUF reader's hot loop: string arrays (vocabularies of up to 262k tokens, their merges).


def gguf_copy_strings(const uint8_t[::1] buf, Py_ssize_t pos, Py_ssize_t n, uint8_t[::1] out,
                      uint64_t[::1] ends, Py_ssize_t ends_at, uint64_t base):
    """Copy GGUF strings (u64 little-endian length, then the bytes) from buf[pos:] to out
    (back to back, no lengths) while each lies wholly inside buf, at most n of them, and set
    ends[ends_at + i] = base + the end of string i in out. out must hold len(buf) - pos bytes.
    Returns (strings copied, pos after them); the string at that pos, if any is left, does not
    fit in buf: the caller reads more or reports the truncation."""
    if pos < 0 or pos > buf.shape[0] or n < 0 or ends_at < 0 or ends_at + n > ends.shape[0]:
        raise ValueError(f"gguf_copy_strings: pos {pos}, n {n}, ends_at {ends_at} outside the buffers")
    if out.shape[0] < buf.shape[0] - pos:
        raise ValueError(f"gguf_copy_strings: out holds {out.shape[0]} bytes, needs {buf.shape[0] - pos}")
    cdef Py_ssize_t have = buf.shape[0], copied = 0, written = 0
    cdef uint64_t length
    with nogil:
        while copied < n and have - pos >= 8:
            memcpy(&length, &buf[pos], 8)
            if length > <uint64_t>(have - pos - 8):
                break
            if length:
                memcpy(&out[written], &buf[pos + 8], length)
            written += length
            pos += 8 + length
            ends[ends_at + copied] = base + written
            copied += 1
    return copied, pos
