"""SentencePiece BPE (tokenizer.ggml.model = "llama"), as llama.cpp's SPM tokenizer runs it.

A fragment's spaces become "▁" (U+2581); the fragment is cut into UTF-8 characters; then the
adjacent pair whose concatenation is the vocabulary token with the highest score is joined,
again and again (ties: leftmost), for the whole fragment at once - no pre-tokenizer. A
character left without a token is spelled with byte-fallback tokens <0xNN>.
"""
from __future__ import annotations

import heapq

from .vocab import Vocab

SPACE_MARK = "\u2581".encode()   # "▁"


def utf8_characters(data: bytes) -> list[bytes]:
    """Cut bytes into characters by their lead byte, as llama.cpp does (a stray byte is one)."""
    try:
        return [c.encode() for c in data.decode("utf-8")]
    except UnicodeDecodeError:
        pass
    out: list[bytes] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        length = 4 if b >= 0xF0 else 3 if b >= 0xE0 else 2 if b >= 0xC0 else 1
        out.append(data[i:i + length])
        i += length
    return out


class SPMTokenizer:
    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        text_to_id = vocab.text_to_id
        # byte -> its fallback token: <0xNN>, else the one-byte token itself, else the unknown
        # token (llama.cpp aborts there; SentencePiece emits unknown). SPM always has an unk id.
        unk = vocab.special_ids["unk"]
        self.byte_ids = [text_to_id.get(b"<0x%02X>" % b, text_to_id.get(bytes((b,)), unk)) for b in range(256)]

    def encode(self, fragment: bytes) -> list[int]:
        """Token ids of one text fragment (special tokens already split off)."""
        symbols = utf8_characters(fragment.replace(b" ", SPACE_MARK))
        n = len(symbols)
        text_to_id, scores = self.vocab.text_to_id, self.vocab.scores
        next_of = list(range(1, n + 1))
        if n:
            next_of[-1] = -1
        prev_of = list(range(-1, n - 1))
        heap = []  # (-score, left, right, joined length): best score first, then leftmost
        heappush, heappop = heapq.heappush, heapq.heappop

        def queue_pair(left: int, right: int) -> None:
            joined = symbols[left] + symbols[right]
            token_id = text_to_id.get(joined)
            if token_id is not None:
                heappush(heap, (-scores[token_id], left, right, len(joined)))

        for i in range(n - 1):  # the first pairs in one go (the pop order is the tuples' order)
            joined = symbols[i] + symbols[i + 1]
            token_id = text_to_id.get(joined)
            if token_id is not None:
                heap.append((-scores[token_id], i, i + 1, len(joined)))
        heapq.heapify(heap)
        while heap:
            _, left, right, size = heappop(heap)
            left_text, right_text = symbols[left], symbols[right]
            if not left_text or not right_text or len(left_text) + len(right_text) != size:
                continue  # outdated: one side was merged since this pair was queued
            symbols[left], symbols[right] = left_text + right_text, b""
            after = next_of[right]
            next_of[left] = after
            if after >= 0:
                prev_of[after] = left
            if prev_of[left] >= 0:
                queue_pair(prev_of[left], left)
            if after >= 0:
                queue_pair(left, after)
        return self._symbols_to_ids(s for s in symbols if s)

    def _symbols_to_ids(self, symbols) -> list[int]:
        ids: list[int] = []
        text_to_id = self.vocab.text_to_id
        for symbol in symbols:
            token_id = text_to_id.get(symbol)
            if token_id is not None:
                ids.append(token_id)
                continue
            ids.extend(self.byte_ids[byte] for byte in symbol)
        return ids

    def normal_piece(self, token_id: int) -> bytes:
        return self.vocab.texts[token_id].replace(SPACE_MARK, b" ")
