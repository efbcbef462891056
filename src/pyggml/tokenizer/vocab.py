"""The vocabulary of a GGUF file: tokenizer.ggml.* metadata read, validated and completed the way
llama.cpp's vocab loader completes it (default special ids, EOT/EOG detection by token text,
"unused" control tokens).

Token texts and merges are bytes (GGUF strings are bytes): the GGUFStringArray's block as stored,
or encoded with errors="surrogateescape" from str, which round-trips. A 262k-token vocabulary is
memory-bound by its Python objects, so none is kept per token: text -> id and merge -> rank are
VocabMaps (a C hash table over the block + offsets, shared with the reader's metadata), texts are
read back from the block on access, scores are float32 and attributes one byte each. Every
malformed value raises ValueError naming the metadata key and, for arrays, the index.
"""
from __future__ import annotations

import enum
import itertools
import numbers
import re
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._core import DuplicateKeyError, VocabMap
from ..gguf.heap import release_free_heap
from ..gguf.strings import GGUFStringArray
from .pretokenize import pre_tokenizer_adds_bos

KEY_PREFIX = "tokenizer.ggml."
MODEL_KEY = KEY_PREFIX + "model"
PRE_KEY = KEY_PREFIX + "pre"
TOKENS_KEY = KEY_PREFIX + "tokens"
SCORES_KEY = KEY_PREFIX + "scores"
TOKEN_TYPE_KEY = KEY_PREFIX + "token_type"
MERGES_KEY = KEY_PREFIX + "merges"
ADD_BOS_KEY = KEY_PREFIX + "add_bos_token"
ADD_EOS_KEY = KEY_PREFIX + "add_eos_token"
ADD_SPACE_PREFIX_KEY = KEY_PREFIX + "add_space_prefix"

SPM_MODEL = "llama"
BPE_MODEL = "gpt2"

_BYTE_TOKEN = re.compile(rb"<0x([0-9A-Fa-f]{2})>")


class TokenAttr(enum.IntFlag):
    """Per-token attributes, llama.cpp's llama_token_attr bits (subset used here)."""
    UNDEFINED = 0
    UNKNOWN = 1 << 0
    UNUSED = 1 << 1
    NORMAL = 1 << 2
    CONTROL = 1 << 3
    USER_DEFINED = 1 << 4
    BYTE = 1 << 5


# GGUF tokenizer.ggml.token_type values -> attributes (index = stored value); one byte each,
# since IntFlag arithmetic is slow over a 262k-token vocabulary.
_TYPE_TO_ATTR = np.array([int(a) for a in (
    TokenAttr.UNDEFINED,     # 0 undefined
    TokenAttr.NORMAL,        # 1 normal
    TokenAttr.UNKNOWN,       # 2 unknown
    TokenAttr.CONTROL,       # 3 control
    TokenAttr.USER_DEFINED,  # 4 user defined
    TokenAttr.UNUSED,        # 5 unused
    TokenAttr.BYTE,          # 6 byte
)], np.uint8)
_CONTROL, _UNUSED, _BYTE = int(TokenAttr.CONTROL), int(TokenAttr.UNUSED), int(TokenAttr.BYTE)

# Special-id fields and their keys (GGUF spells "seperator").
_SPECIAL_ID_KEYS = {
    "bos": "bos_token_id", "eos": "eos_token_id", "eot": "eot_token_id", "eom": "eom_token_id",
    "unk": "unknown_token_id", "sep": "seperator_token_id", "pad": "padding_token_id",
    "mask": "mask_token_id",
    "fim_pre": "fim_pre_token_id", "fim_suf": "fim_suf_token_id", "fim_mid": "fim_mid_token_id",
    "fim_pad": "fim_pad_token_id", "fim_rep": "fim_rep_token_id", "fim_sep": "fim_sep_token_id",
}

# llama.cpp's defaults when a key is missing (dropped when out of range for the vocabulary).
_DEFAULT_IDS = {SPM_MODEL: {"bos": 1, "eos": 2, "unk": 0}, BPE_MODEL: {"bos": 11, "eos": 11}}

# Token texts llama.cpp recognises when the metadata does not name the token.
_EOT_TEXTS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
              "<|end_of_text|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>")
_EOM_TEXTS = ("<|eom_id|>",)
_FIM_TEXTS = {
    "fim_pre": ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>"),
    "fim_suf": ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>"),
    "fim_mid": ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>"),
    "fim_pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"),
    "fim_rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "fim_sep": ("<|file_sep|>",),
}
# Token texts that end generation wherever they appear in a vocabulary.
_EOG_TEXTS = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>",
              "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>")


class TokenTexts(Sequence):
    """(n_vocab,) token texts as bytes, each read from the VocabMap's block when asked for.
    Compares equal to a list / tuple of the same bytes."""

    __slots__ = ("_map",)

    def __init__(self, text_to_id: VocabMap):
        self._map = text_to_id

    def __len__(self) -> int:
        return len(self._map)

    def __getitem__(self, index: int) -> bytes:
        index = index.__index__()
        return self._map.text(index + len(self._map) if index < 0 else index)

    def __iter__(self) -> Iterator[bytes]:
        return map(self._map.text, range(len(self._map)))

    def __eq__(self, other) -> bool:
        if isinstance(other, (TokenTexts, list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # equal to lists, which are unhashable


@dataclass
class Vocab:
    """Validated tokenizer.ggml.* data. Ids are ints in [0, n_vocab); absent ids are None."""
    model: str                              # "llama" (SentencePiece) or "gpt2" (byte-level BPE)
    pre: str | None                         # tokenizer.ggml.pre as stored
    texts: TokenTexts                       # (n_vocab,) token text bytes
    text_to_id: VocabMap                    # token text bytes -> id
    scores: array                           # (n_vocab,) float32 SPM merge priority; 0.0 when absent
    attrs: bytearray                        # (n_vocab,) TokenAttr bits
    merge_ranks: VocabMap                   # BPE merge b"left right" as stored -> rank (a repeat
                                            # keeps its first, as llama.cpp's map emplace does);
                                            # both sides and their join are tokens; SPM: empty
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool
    special_ids: dict[str, int | None]      # keys of _SPECIAL_ID_KEYS
    eog_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def n_vocab(self) -> int:
        return len(self.texts)

    def byte_token_value(self, token_id: int) -> int:
        """The byte a BYTE-type token <0xNN> stands for."""
        return int(self.texts[token_id][3:5], 16)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Vocab:
        model = _require_str(metadata, MODEL_KEY)
        if model not in (SPM_MODEL, BPE_MODEL):
            raise ValueError(f"{MODEL_KEY} = {model!r} is not supported "
                             f"(supported: {SPM_MODEL!r} SentencePiece, {BPE_MODEL!r} byte-level BPE)")
        pre = _optional_str(metadata, PRE_KEY)
        text_to_id = _token_map(metadata)
        texts = TokenTexts(text_to_id)
        n_vocab = len(texts)
        scores = _scores(metadata, n_vocab)
        attrs = _attributes(metadata, texts)
        merge_ranks = _merge_ranks(metadata, text_to_id) if model == BPE_MODEL else VocabMap(b"", [0])
        is_spm = model == SPM_MODEL
        vocab = cls(
            model=model, pre=pre, texts=texts, text_to_id=text_to_id, scores=scores, attrs=attrs,
            merge_ranks=merge_ranks,
            add_bos=_optional_bool(metadata, ADD_BOS_KEY, default=is_spm or pre_tokenizer_adds_bos(pre)),
            add_eos=_optional_bool(metadata, ADD_EOS_KEY, default=False),
            add_space_prefix=_optional_bool(metadata, ADD_SPACE_PREFIX_KEY, default=is_spm),
            special_ids=_special_ids(metadata, model, n_vocab),
        )
        vocab._detect_special_tokens()
        release_free_heap()  # the build's temporaries: numpy copies, renamed token blocks
        if vocab.add_bos and vocab.special_ids["bos"] is None:
            raise ValueError(f"{ADD_BOS_KEY} is true but {KEY_PREFIX}bos_token_id is not set")
        if vocab.add_eos and vocab.special_ids["eos"] is None:
            raise ValueError(f"{ADD_EOS_KEY} is true but {KEY_PREFIX}eos_token_id is not set")
        return vocab

    def _detect_special_tokens(self) -> None:
        """EOT/EOM/FIM ids found by text, "unused" control tokens, and the end-of-generation
        set, as llama.cpp completes them; such tokens are forced to CONTROL."""
        ids = self.special_ids

        def find(candidates: tuple[str, ...]) -> int | None:
            # llama.cpp takes the first match in hash order; the lowest id is our stable choice
            found = [self.text_to_id[t.encode()] for t in candidates if t.encode() in self.text_to_id]
            if not found:
                return None
            self.attrs[min(found)] |= _CONTROL
            return min(found)

        if ids["eot"] is None:
            ids["eot"] = find(_EOT_TEXTS)
        if ids["eom"] is None:
            ids["eom"] = find(_EOM_TEXTS)
        for name, candidates in _FIM_TEXTS.items():
            if ids[name] is None:
                ids[name] = find(candidates)
        for i in np.flatnonzero(np.frombuffer(self.attrs, np.uint8) & _CONTROL).tolist():
            if b"unused" in self.texts[i]:
                self.attrs[i] |= _UNUSED
        eog = {ids[name] for name in ("fim_pad", "fim_rep", "fim_sep", "eos", "eot", "eom")}
        for text in _EOG_TEXTS:
            token_id = self.text_to_id.get(text.encode())
            if token_id is not None:
                eog.add(token_id)
                self.attrs[token_id] |= _CONTROL
        eog.discard(None)
        self.eog_ids = frozenset(eog)


def _require(metadata: Mapping[str, Any], key: str) -> Any:
    if key not in metadata:
        raise ValueError(f"missing tokenizer metadata key {key}")
    return metadata[key]


def _require_str(metadata: Mapping[str, Any], key: str) -> str:
    value = _require(metadata, key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _optional_str(metadata: Mapping[str, Any], key: str) -> str | None:
    return _require_str(metadata, key) if key in metadata else None


def _optional_bool(metadata: Mapping[str, Any], key: str, default: bool) -> bool:
    if key not in metadata:
        return default
    value = metadata[key]
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{key} must be a bool, not {type(value).__name__} {value!r}")
    return bool(value)


def _string_block(metadata: Mapping[str, Any], key: str) -> tuple[bytes, array]:
    """A string array as (its items' bytes back to back, (n + 1,) offsets of the items): a
    GGUFStringArray's own block and offsets (shared, not copied), else encoded from str."""
    value = _require(metadata, key)
    if isinstance(value, GGUFStringArray):
        return value.block()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key} must be an array of strings, not {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{key}[{i}] must be a string, not {type(item).__name__}")
    return _join([item.encode("utf-8", "surrogateescape") for item in value])


def _join(items: list[bytes]) -> tuple[bytes, array]:
    return b"".join(items), array("Q", itertools.accumulate(map(len, items), initial=0))


def _as_str(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _numeric_array(metadata: Mapping[str, Any], key: str, n_vocab: int) -> np.ndarray | None:
    if key not in metadata:
        return None
    value = metadata[key]
    try:
        values = np.asarray(value)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or not (np.issubdtype(values.dtype, np.number)
                                                 or np.issubdtype(values.dtype, np.bool_)):
        raise ValueError(f"{key} must be a numeric array, not {type(value).__name__}")
    if len(values) != n_vocab:
        raise ValueError(f"{key} has {len(values)} entries but {TOKENS_KEY} has {n_vocab}")
    return values


def _token_map(metadata: Mapping[str, Any]) -> VocabMap:
    blob, offsets = _string_block(metadata, TOKENS_KEY)
    lengths = np.diff(np.frombuffer(offsets, f"u{offsets.itemsize}"))
    if not lengths.size:
        raise ValueError(f"{TOKENS_KEY} is empty")
    if not lengths.all():
        # an empty token would match everywhere; llama.cpp renames it the same way
        blob, offsets = _join([blob[offsets[i]:offsets[i + 1]] or f"[EMPTY_{i}]".encode()
                               for i in range(len(lengths))])
    try:
        return VocabMap(blob, offsets)
    except DuplicateKeyError as e:
        raise ValueError(f"{TOKENS_KEY}: token {e.key!r} appears twice, at {e.first} and {e.second}") from None


def _scores(metadata: Mapping[str, Any], n_vocab: int) -> array:
    values = _numeric_array(metadata, SCORES_KEY, n_vocab)
    if values is None:
        return array("f", bytes(4 * n_vocab))
    return array("f", values.astype(np.float32).tobytes())


def _attributes(metadata: Mapping[str, Any], texts: TokenTexts) -> bytearray:
    types = _numeric_array(metadata, TOKEN_TYPE_KEY, len(texts))
    if types is None:
        return bytearray((int(TokenAttr.NORMAL),)) * len(texts)
    if not np.issubdtype(types.dtype, np.integer):
        raise ValueError(f"{TOKEN_TYPE_KEY} must hold integers, not {types.dtype}")
    bad = np.flatnonzero((types < 0) | (types >= len(_TYPE_TO_ATTR)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{TOKEN_TYPE_KEY}[{i}] = {int(types[i])} is not a token type (0..6)")
    attrs = _TYPE_TO_ATTR[types]
    for i in np.flatnonzero(attrs == _BYTE).tolist():
        if not _BYTE_TOKEN.fullmatch(texts[i]):
            raise ValueError(f"{TOKENS_KEY}[{i}] = {texts[i]!r} has type byte but is not <0xNN> "
                             f"with NN two hex digits")
    return bytearray(attrs.tobytes())


def _merge_ranks(metadata: Mapping[str, Any], text_to_id: VocabMap) -> VocabMap:
    """merge -> rank, a map over the merges' block like the tokens'."""
    blob, offsets = _string_block(metadata, MERGES_KEY)
    bad = text_to_id.first_bad_merge(blob, offsets)
    if bad is not None:
        rank, what = bad
        merge = blob[offsets[rank]:offsets[rank + 1]]
        if what == "space":
            raise ValueError(f"{MERGES_KEY}[{rank}] = {_as_str(merge)!r} is not two tokens separated by a space")
        cut = merge.find(b" ", 1)
        part = {"left": merge[:cut], "right": merge[cut + 1:], "joined": merge[:cut] + merge[cut + 1:]}[what]
        raise ValueError(f"{MERGES_KEY}[{rank}] = {_as_str(merge)!r} names {_as_str(part)!r}, "
                         f"which is not in {TOKENS_KEY}")
    return VocabMap(blob, offsets, keep_first=True)


def _special_ids(metadata: Mapping[str, Any], model: str, n_vocab: int) -> dict[str, int | None]:
    ids: dict[str, int | None] = {}
    defaults = _DEFAULT_IDS[model]
    for name, suffix in _SPECIAL_ID_KEYS.items():
        key = KEY_PREFIX + suffix
        if key not in metadata:
            default = defaults.get(name)
            ids[name] = default if default is not None and default < n_vocab else None
            continue
        value = metadata[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{key} must be an integer token id, not {type(value).__name__} {value!r}")
        if not 0 <= int(value) < n_vocab:
            raise ValueError(f"{key} = {int(value)} is out of range for {n_vocab} tokens")
        ids[name] = int(value)
    return ids
