"""Tokenizer metadata for tiny models: synthetic vocabularies learned from a built-in text, or
every `tokenizer.*` key copied from a real GGUF file.

Both synthetic kinds are grown by the same BPE merge loop, so every multi-symbol token can be
reached by merging two smaller tokens (what llama.cpp's tokenizers need):
- byte-level BPE (`tokenizer.ggml.model = gpt2`): specials, the 256 bytes in GPT-2's printable
  mapping, then the learned merges, as SmolLM2's vocabulary is laid out;
- SentencePiece style (`tokenizer.ggml.model = llama`): specials, 256 byte-fallback tokens
  <0xNN>, the text's characters, then learned pieces with "▁" for a space, scored by merge rank,
  as Gemma 3's vocabulary is laid out."""
from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

from ..gguf import ArrayType, GGUFReader, GGUFValueType

# (value, type) per metadata key, in the order they are written.
Metadata = dict[str, tuple[Any, Any]]

# llama.cpp's token types (tokenizer.ggml.token_type)
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6

SPM_SPACE = "\u2581"  # "▁", SentencePiece's visible space

SAMPLE_TEXT = (
    "The river runs past the old mill, and the miller counts the sacks of grain before the "
    "evening rain. In the morning there were 12 boats on the water; by noon there were 30. "
    "Children ran along the bank, shouting and laughing, while the dogs chased the ducks. "
    "\"Where does the river go?\" asked the youngest. \"To the sea,\" said her mother, \"and "
    "from the sea, as rain, back to the hills.\" The mill wheel turned, the stones ground the "
    "wheat, and the flour was packed in 25 sacks. Tomorrow they will carry the sacks to the "
    "market in town, where the bakers are waiting for them. It's a long road, but the horses "
    "know it well: they have walked it every week for 7 years."
)

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def gpt2_byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character mapping: printable Latin-1 bytes map to
    themselves, the other 68 bytes to U+0100 onwards, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def learn_merges(words: Counter, n_merges: int) -> list[tuple[str, str]]:
    """BPE: repeatedly merge the most frequent adjacent pair (ties: the smallest pair) over
    `words` (tuple of symbols -> count). Stops early when no pair is left."""
    words = Counter(words)
    merges = []
    while len(merges) < n_merges:
        pairs: Counter = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged: Counter = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


def _padded(tokens: list[str], types: list[int], n_vocab: int) -> None:
    """Fill up to n_vocab with reserved control tokens (as real vocabularies do)."""
    for i in range(n_vocab - len(tokens)):
        tokens.append(f"<|reserved_{i}|>")
        types.append(TOKEN_CONTROL)


def synthetic_bpe_metadata(n_vocab: int) -> Metadata:
    """A byte-level BPE vocabulary of exactly n_vocab tokens (at least 3 specials + 256 bytes)."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    byte_chars = gpt2_byte_to_unicode()
    minimum = len(specials) + 256
    if n_vocab < minimum:
        raise ValueError(f"n_vocab = {n_vocab}: a byte-level BPE vocabulary needs at least {minimum} tokens")
    encoded = "".join(byte_chars[b] for b in SAMPLE_TEXT.encode("utf-8"))
    words = Counter(tuple(w) for w in re.findall(r"Ġ?[^Ġ]+|Ġ", encoded))  # split before each space
    merges = learn_merges(words, n_vocab - minimum)
    learned = list(dict.fromkeys(a + b for a, b in merges))  # two merges may give the same string
    tokens = specials + [byte_chars[b] for b in range(256)] + learned
    types = [TOKEN_CONTROL] * len(specials) + [TOKEN_NORMAL] * (len(tokens) - len(specials))
    _padded(tokens, types, n_vocab)
    return {
        "tokenizer.ggml.model": ("gpt2", GGUFValueType.STRING),
        "tokenizer.ggml.pre": ("smollm", GGUFValueType.STRING),
        "tokenizer.ggml.tokens": (tokens, ArrayType(GGUFValueType.STRING)),
        "tokenizer.ggml.token_type": (types, ArrayType(GGUFValueType.INT32)),
        "tokenizer.ggml.merges": ([f"{a} {b}" for a, b in merges], ArrayType(GGUFValueType.STRING)),
        "tokenizer.ggml.bos_token_id": (1, GGUFValueType.UINT32),
        "tokenizer.ggml.eos_token_id": (2, GGUFValueType.UINT32),
        "tokenizer.ggml.padding_token_id": (0, GGUFValueType.UINT32),
        "tokenizer.ggml.add_bos_token": (False, GGUFValueType.BOOL),
        "tokenizer.ggml.add_space_prefix": (False, GGUFValueType.BOOL),
        "tokenizer.chat_template": (CHATML_TEMPLATE, GGUFValueType.STRING),
    }


def synthetic_spm_metadata(n_vocab: int) -> Metadata:
    """A SentencePiece-style vocabulary of exactly n_vocab tokens: <pad> <eos> <bos> <unk>,
    byte fallback, the sample's characters, then merged pieces (higher score = merged earlier)."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    text = SAMPLE_TEXT.replace(" ", SPM_SPACE)
    chars = sorted(set(text))
    minimum = len(specials) + 256 + len(chars)
    if n_vocab < minimum:
        raise ValueError(f"n_vocab = {n_vocab}: this SentencePiece-style vocabulary needs at least {minimum} tokens")
    words = Counter(tuple(w) for w in re.findall(f"{SPM_SPACE}?[^{SPM_SPACE}]+|{SPM_SPACE}", text))
    merges = learn_merges(words, n_vocab - minimum)
    pieces = list(dict.fromkeys(a + b for a, b in merges))  # two merges may give the same string
    tokens = specials + [f"<0x{b:02X}>" for b in range(256)] + chars + pieces
    types = [TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_UNKNOWN] + [TOKEN_BYTE] * 256 \
        + [TOKEN_NORMAL] * (len(chars) + len(pieces))
    # Merged pieces score -rank (first merge highest); characters below them; specials/bytes lowest.
    scores = [-1000.0] * (len(specials) + 256) + [-float(len(pieces) + i) for i in range(len(chars))] \
        + [-float(i) for i in range(len(pieces))]
    _padded(tokens, types, n_vocab)
    scores += [-1000.0] * (n_vocab - len(scores))
    return {
        "tokenizer.ggml.model": ("llama", GGUFValueType.STRING),
        "tokenizer.ggml.pre": ("default", GGUFValueType.STRING),
        "tokenizer.ggml.tokens": (tokens, ArrayType(GGUFValueType.STRING)),
        "tokenizer.ggml.scores": (scores, ArrayType(GGUFValueType.FLOAT32)),
        "tokenizer.ggml.token_type": (types, ArrayType(GGUFValueType.INT32)),
        "tokenizer.ggml.bos_token_id": (2, GGUFValueType.UINT32),
        "tokenizer.ggml.eos_token_id": (1, GGUFValueType.UINT32),
        "tokenizer.ggml.unknown_token_id": (3, GGUFValueType.UINT32),
        "tokenizer.ggml.padding_token_id": (0, GGUFValueType.UINT32),
        "tokenizer.ggml.add_bos_token": (True, GGUFValueType.BOOL),
        "tokenizer.ggml.add_eos_token": (False, GGUFValueType.BOOL),
        "tokenizer.ggml.add_space_prefix": (False, GGUFValueType.BOOL),
    }


def copied_tokenizer_metadata(path: str | os.PathLike) -> Metadata:
    """Every tokenizer.* key of a GGUF file, with its type, in file order."""
    with GGUFReader(path) as reader:
        copied = {k: (v, reader.metadata_types[k]) for k, v in reader.metadata.items() if k.startswith("tokenizer.")}
    if "tokenizer.ggml.tokens" not in copied:
        raise ValueError(f"{os.fspath(path)}: no tokenizer.ggml.tokens to copy")
    return copied
