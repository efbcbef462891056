"""Token ids -> bytes, as llama.cpp renders them, and a streaming UTF-8-safe detokenizer.

Rendering of one token (llama.cpp's token_to_piece):
  control / unknown tokens  their text when `special`, else nothing
  user-defined tokens       their text, always
  normal tokens             SPM: "▁" -> " ";  BPE: spelling read back through the byte alphabet
  byte tokens <0xNN>        the byte NN
  unused / undefined        nothing
A sequence is the concatenation of its pieces, less one leading space when it starts with BOS
(the convention of llama.cpp's Python binding, used for the reference detokenizations: the space
an SPM tokenizer put in front of the first word is not part of the text).
"""
from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable

from .vocab import TokenAttr, Vocab

_SPECIAL = int(TokenAttr.CONTROL | TokenAttr.UNKNOWN)
_USER_DEFINED, _NORMAL, _BYTE = int(TokenAttr.USER_DEFINED), int(TokenAttr.NORMAL), int(TokenAttr.BYTE)


class PieceRenderer:
    """token id -> bytes, cached per (id, special)."""

    def __init__(self, vocab: Vocab, normal_piece: Callable[[int], bytes]):
        self.vocab = vocab
        self._normal_piece = normal_piece
        self._cache: dict[tuple[int, bool], bytes] = {}

    def piece(self, token_id: int, special: bool) -> bytes:
        key = (token_id, special)
        piece = self._cache.get(key)
        if piece is None:
            piece = self._cache[key] = self._render(self.check_id(token_id), special)
        return piece

    def check_id(self, token_id: int) -> int:
        if not isinstance(token_id, int):
            token_id = int(token_id)  # numpy integers
        if not 0 <= token_id < self.vocab.n_vocab:
            raise ValueError(f"token id {token_id} is out of range for {self.vocab.n_vocab} tokens")
        return token_id

    def _render(self, token_id: int, special: bool) -> bytes:
        attr = self.vocab.attrs[token_id]
        if attr & _SPECIAL:
            return self.vocab.texts[token_id] if special else b""
        if attr & _USER_DEFINED:
            return self.vocab.texts[token_id]
        if attr & _NORMAL:
            return self._normal_piece(token_id)
        if attr & _BYTE:
            return bytes((self.vocab.byte_token_value(token_id),))
        return b""

    def sequence(self, ids: Iterable[int], special: bool) -> bytes:
        ids = list(ids)
        text = b"".join(self.piece(i, special) for i in ids)
        if ids and ids[0] == self.vocab.special_ids["bos"] and text.startswith(b" "):
            text = text[1:]
        return text


class StreamingDetokenizer:
    """Feed token ids as they are generated, get text chunks back. A character whose bytes span
    several tokens comes out whole once its last byte arrives; bytes that can never form a
    character come out as U+FFFD. Concatenating every chunk and flush() gives
    tokenizer.decode(ids, special).decode("utf-8", errors="replace").

    tokenizer: anything with token_to_piece(id, special) -> bytes and bos_id (a Tokenizer).
    """

    def __init__(self, tokenizer, special: bool = False):
        self._token_to_piece = tokenizer.token_to_piece
        self._bos_id = tokenizer.bos_id
        self._special = special
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False        # any id fed yet
        self._strip_space = False    # first id was BOS and no byte has come out since

    def feed(self, ids: int | Iterable[int]) -> str:
        """Add one id or several; returns the text completed by them (maybe "")."""
        if not hasattr(ids, "__iter__"):
            ids = (ids,)
        chunks = []
        for token_id in ids:
            piece = self._token_to_piece(token_id, self._special)
            if not self._started:
                self._started = True
                self._strip_space = token_id == self._bos_id
            if self._strip_space and piece:
                self._strip_space = False
                if piece.startswith(b" "):
                    piece = piece[1:]
            chunks.append(self._decoder.decode(piece))
        return "".join(chunks)

    def flush(self) -> str:
        """End of stream: an unfinished character comes out as U+FFFD. The detokenizer is then
        ready for a new stream."""
        tail = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        self._started = self._strip_space = False
        return tail
