"""Give the C heap's free pages back to the OS after a load's large temporaries.

glibc raises its mmap threshold each time a large block is freed, so later temporaries of a few
MiB (a header buffer, the tables of a growing dict) come from the heap, and their pages stay in
the process after they are freed. malloc_trim(0) returns every whole free page. Elsewhere (no
glibc) this does nothing.
"""
from __future__ import annotations

import ctypes


def _find_malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_free_heap() -> None:
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
