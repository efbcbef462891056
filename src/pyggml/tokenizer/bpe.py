"""Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp runs it.

Text -> words (pre-tokenizer of tokenizer.ggml.pre) -> each word's UTF-8 bytes spelled with
GPT-2's printable byte alphabet -> merges: repeatedly join the adjacent pair with the lowest
merge rank (ties: leftmost) -> token ids. A piece left without a token falls back to the tokens
of its single bytes, and is dropped where those do not exist either (llama.cpp does the same).
Words are cached: real text repeats them a lot.

Spellings are handled as their UTF-8 bytes, which is how token texts and merges are stored: the
vocabulary's bytes -> id map serves directly, and a merge "left right" is looked up as
left + b" " + right (spellings never hold a space: the alphabet moves 0x20 to U+0120).
"""
from __future__ import annotations

import heapq

from .pretokenize import PreTokenizer, pre_tokenizer_spec
from .vocab import Vocab

_WORD_CACHE_LIMIT = 1 << 16
_CACHED_WORD_CHARS = 64   # longer words are rare in real text; caching them would pin hostile input


def _byte_alphabet() -> list[str]:
    """byte -> printable character: GPT-2's table (printable Latin-1 stays, the other 68 bytes
    go to U+0100.. in byte order)."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = [""] * 256
    for b in printable:
        table[b] = chr(b)
    extra = 0
    for b in range(256):
        if not table[b]:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = _byte_alphabet()
CHAR_TO_BYTE = {c: b for b, c in enumerate(BYTE_TO_CHAR)}
_BYTE_TO_SYMBOL = [c.encode() for c in BYTE_TO_CHAR]   # byte -> UTF-8 of its alphabet character


def decode_utf8_like_llama(data: bytes) -> str:
    """UTF-8 -> str as llama.cpp reads text: each byte that does not start a complete sequence
    becomes U+FFFD on its own; overlong forms and surrogates are taken as they decode."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        length = 1 if b < 0x80 else 2 if 0xC0 <= b < 0xE0 else 3 if 0xE0 <= b < 0xF0 \
            else 4 if 0xF0 <= b < 0xF8 else 0
        tail = data[i + 1:i + length]
        if length == 0 or len(tail) != length - 1 or any(c & 0xC0 != 0x80 for c in tail):
            out.append("\ufffd")
            i += 1
            continue
        cpt = b & (0x7F >> length if length > 1 else 0x7F)
        for c in tail:
            cpt = (cpt << 6) | (c & 0x3F)
        out.append(chr(cpt) if cpt <= 0x10FFFF else "\ufffd")
        i += length
    return "".join(out)


class BPETokenizer:
    def __init__(self, vocab: Vocab, pre_tokenizer_fallback: str | None = None):
        self.vocab = vocab
        spec = pre_tokenizer_spec(vocab.pre, pre_tokenizer_fallback)
        self.pre_tokenizer = PreTokenizer(spec)
        self.ignore_merges = spec.ignore_merges
        self.ranks = vocab.merge_ranks
        self._text_to_id = vocab.text_to_id
        self._byte_ids = [vocab.text_to_id.get(bytes((b,))) for b in range(256)]  # fallback, or None
        self._word_cache: dict[str, list[int]] = {}

    def encode(self, fragment: bytes) -> list[int]:
        """Token ids of one text fragment (special tokens already split off)."""
        ids: list[int] = []
        cache = self._word_cache
        for word in self.pre_tokenizer.split(decode_utf8_like_llama(fragment)):
            word_ids = cache.get(word)
            if word_ids is None:
                word_ids = self._encode_word(word)
                if len(word) <= _CACHED_WORD_CHARS:
                    if len(cache) >= _WORD_CACHE_LIMIT:
                        cache.clear()
                    cache[word] = word_ids
            ids.extend(word_ids)
        return ids

    def _encode_word(self, word: str) -> list[int]:
        symbols = [_BYTE_TO_SYMBOL[b] for b in word.encode("utf-8", "surrogatepass")]
        text_to_id = self._text_to_id
        if self.ignore_merges:
            token_id = text_to_id.get(b"".join(symbols))
            if token_id is not None:
                return [token_id]
        ids: list[int] = []
        for piece in self._merge(symbols):
            token_id = text_to_id.get(piece)
            if token_id is not None:
                ids.append(token_id)
                continue
            for byte in piece:
                byte_id = self._byte_ids[byte]
                if byte_id is not None:
                    ids.append(byte_id)
        return ids

    def _merge(self, symbols: list[bytes]) -> list[bytes]:
        """Apply merges to one word's symbols (UTF-8 of alphabet characters); symbols[i] == b""
        once merged into its left."""
        n = len(symbols)
        if n < 2:
            return symbols
        ranks = self.ranks
        next_of = list(range(1, n + 1))
        next_of[-1] = -1
        prev_of = list(range(-1, n - 1))
        heap = []  # (rank, left, right, joined text): lowest rank first, then leftmost
        for i in range(n - 1):
            rank = ranks.get(symbols[i] + b" " + symbols[i + 1])
            if rank is not None:
                heap.append((rank, i, i + 1, symbols[i] + symbols[i + 1]))
        heapq.heapify(heap)
        while heap:
            _, left, right, joined = heapq.heappop(heap)
            left_text, right_text = symbols[left], symbols[right]
            if not left_text or not right_text or left_text + right_text != joined:
                continue  # outdated: one side was merged since this pair was queued
            symbols[left], symbols[right] = joined, b""
            after = next_of[right]
            next_of[left] = after
            if after >= 0:
                prev_of[after] = left
            before = prev_of[left]
            if before >= 0:
                rank = ranks.get(symbols[before] + b" " + joined)
                if rank is not None:
                    heapq.heappush(heap, (rank, before, left, symbols[before] + joined))
            if after >= 0:
                rank = ranks.get(joined + b" " + symbols[after])
                if rank is not None:
                    heapq.heappush(heap, (rank, left, after, joined + symbols[after]))
        return [s for s in symbols if s]

    def normal_piece(self, token_id: int) -> bytes:
        """Bytes of a normal token: its spelling read back through the byte alphabet; a character
        outside it is written as llama.cpp writes it, [UNK_BYTE_0x<hex>]."""
        text = self.vocab.texts[token_id]
        spelling = text.decode("utf-8", "surrogateescape")
        out = bytearray()
        for ch in spelling:
            byte = CHAR_TO_BYTE.get(ch)
            if byte is not None:
                out.append(byte)
            else:
                out += b"[UNK_BYTE_0x" + ch.encode("utf-8", "surrogateescape").hex().encode() + text + b"]"
        return bytes(out)
