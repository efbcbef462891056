"""Stop strings: the list a caller gives, where the first one starts, and how much text to hold
back because it may still become one (shared by Llama's text loop and the server's scheduler)."""
from __future__ import annotations

from collections.abc import Sequence


def stop_list(stop) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    for s in stops:
        if not isinstance(s, str):
            raise ValueError(f"stop must be a string or a list of strings, got an item {s!r}")
    return [s for s in stops if s]


def find_stop(text: str, start: int, stops: Sequence[str]) -> int:
    """Index of the earliest stop string in text[start:], or -1."""
    return min((i for i in (text.find(s, start) for s in stops) if i >= 0), default=-1)


def held_back(text: str, start: int, stops: Sequence[str]) -> int:
    """Length of the longest tail of text[start:] that is a proper prefix of a stop string:
    text that may still become a stop, so it is not emitted yet."""
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text) - start), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest
