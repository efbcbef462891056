"""Tokenizers built from a GGUF file's tokenizer.ggml.* metadata, giving llama.cpp's token ids.

    tok = Tokenizer.from_gguf("model.gguf")
    ids = tok.encode("<|im_start|>user\\nHi", parse_special=True)
    text = tok.decode(ids).decode("utf-8", errors="replace")

encode() first cuts special tokens out of the text, longest text first: user-defined tokens
always, control tokens only with parse_special. The remaining fragments go to SentencePiece
(model "llama") or byte-level BPE (model "gpt2"); add_special adds BOS/EOS as the metadata asks.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .bpe import BPETokenizer
from .detokenize import PieceRenderer, StreamingDetokenizer
from .pretokenize import PRE_TYPES, UnknownPreTokenizerError
from .spm import SPMTokenizer
from .vocab import BPE_MODEL, TokenAttr, Vocab

__all__ = ["PRE_TYPES", "StreamingDetokenizer", "TokenAttr", "Tokenizer", "UnknownPreTokenizerError", "Vocab"]

_PARSED_ONLY_ON_REQUEST = int(TokenAttr.CONTROL | TokenAttr.UNKNOWN)
_SPLIT_OUT = int(TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)


class Tokenizer:
    def __init__(self, vocab: Vocab, *, pre_tokenizer_fallback: str | None = None):
        """pre_tokenizer_fallback: a known tokenizer.ggml.pre type to use when the file's is one
        pyggml does not know (else UnknownPreTokenizerError; env PYGGML_PRE_TOKENIZER_FALLBACK too)."""
        self.vocab = vocab
        if vocab.model == BPE_MODEL:
            self._model = BPETokenizer(vocab, pre_tokenizer_fallback)
        else:
            self._model = SPMTokenizer(vocab)
        self._renderer = PieceRenderer(vocab, self._model.normal_piece)
        special = np.flatnonzero(np.frombuffer(vocab.attrs, np.uint8) & _SPLIT_OUT).tolist()
        special.sort(key=lambda i: -len(vocab.texts[i]))  # longest first; stable: ties by id
        self._special_tokens = [(i, vocab.texts[i], bool(vocab.attrs[i] & _PARSED_ONLY_ON_REQUEST))
                                for i in special]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], *, pre_tokenizer_fallback: str | None = None) -> Tokenizer:
        """metadata: GGUF key -> value, as pyggml.gguf.GGUFReader(path).metadata gives it."""
        return cls(Vocab.from_metadata(metadata), pre_tokenizer_fallback=pre_tokenizer_fallback)

    @classmethod
    def from_gguf(cls, path: str | os.PathLike, *, pre_tokenizer_fallback: str | None = None) -> Tokenizer:
        from ..gguf import GGUFReader

        with GGUFReader(path) as reader:
            return cls.from_metadata(reader.metadata, pre_tokenizer_fallback=pre_tokenizer_fallback)

    # --- properties ------------------------------------------------------------------------

    @property
    def n_vocab(self) -> int:
        return self.vocab.n_vocab

    @property
    def bos_id(self) -> int | None:
        return self.vocab.special_ids["bos"]

    @property
    def eos_id(self) -> int | None:
        return self.vocab.special_ids["eos"]

    @property
    def eot_id(self) -> int | None:
        return self.vocab.special_ids["eot"]

    @property
    def eog_ids(self) -> frozenset[int]:
        """Every id that ends generation (EOS, EOT, <|im_end|>, <end_of_turn>, ...)."""
        return self.vocab.eog_ids

    def is_eog(self, token_id: int) -> bool:
        return token_id in self.vocab.eog_ids

    @property
    def add_bos(self) -> bool:
        return self.vocab.add_bos

    @property
    def add_eos(self) -> bool:
        return self.vocab.add_eos

    # --- text -> ids -----------------------------------------------------------------------

    def encode(self, text: str | bytes, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of `text` (str, or bytes taken as UTF-8). add_special: add BOS/EOS if the
        metadata asks for them. parse_special: control-token text becomes that token."""
        if isinstance(text, str):
            raw = text.encode("utf-8", "surrogatepass")
        elif isinstance(text, (bytes, bytearray, memoryview)):
            raw = bytes(text)
        else:
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        vocab = self.vocab
        ids: list[int] = []
        if add_special and vocab.add_bos:
            ids.append(vocab.special_ids["bos"])
        fragments = self._split_special(raw, parse_special) if raw else []
        if vocab.model == BPE_MODEL:
            for fragment in fragments:
                if isinstance(fragment, int):
                    ids.append(fragment)
                else:
                    ids.extend(self._model.encode(fragment))
        else:
            after_special = True  # SPM puts the prefix space at the start and after specials
            for fragment in fragments:
                if isinstance(fragment, int):
                    ids.append(fragment)
                    after_special = True
                    continue
                if vocab.add_space_prefix and after_special:
                    fragment = b" " + fragment
                ids.extend(self._model.encode(fragment))
                after_special = False
        if add_special and vocab.add_eos:
            ids.append(vocab.special_ids["eos"])
        return ids

    def _split_special(self, raw: bytes, parse_special: bool) -> list[bytes | int]:
        """Cut special-token texts out: token by token, longest first, every occurrence
        left to right in every fragment still text."""
        fragments: list[bytes | int] = [raw]
        for token_id, token_text, needs_parse_special in self._special_tokens:
            if (needs_parse_special and not parse_special) or token_text not in raw:
                continue
            split: list[bytes | int] = []
            for fragment in fragments:
                if isinstance(fragment, int) or token_text not in fragment:
                    split.append(fragment)
                    continue
                for k, part in enumerate(fragment.split(token_text)):
                    if k:
                        split.append(token_id)
                    if part:
                        split.append(part)
            fragments = split
        return fragments

    # --- ids -> text -----------------------------------------------------------------------

    def token_to_piece(self, token_id: int, special: bool = True) -> bytes:
        """Bytes of one token; control tokens render as their text only when `special`."""
        return self._renderer.piece(token_id, special)

    def decode(self, ids: Iterable[int], special: bool = False) -> bytes:
        """Bytes of a token sequence, as llama.cpp detokenizes it (control tokens such as BOS
        render only when `special`; a space right after a leading BOS is dropped)."""
        return self._renderer.sequence(ids, special)

    def streaming_detokenizer(self, special: bool = False) -> StreamingDetokenizer:
        """A StreamingDetokenizer of this tokenizer: feed(ids) -> str chunks, flush() at the end."""
        return StreamingDetokenizer(self, special)
