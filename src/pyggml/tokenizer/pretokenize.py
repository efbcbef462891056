"""Pre-tokenizers of byte-level BPE vocabularies: text -> words, chosen by tokenizer.ggml.pre.

A pre type is a list of regexes applied in turn, as llama.cpp's unicode_regex_split does: each
regex splits every piece left by the previous one into its matches and the text between them
(nothing is dropped, and a lookahead never sees past its piece). The patterns are llama.cpp's
documented ones, in the `regex` package's syntax; its \\s, \\p{L}, \\p{N} are the very Unicode
classes llama.cpp's tables were generated from. Where llama.cpp runs a hand-written matcher
instead of the regex (the gpt2 and llama3 rules), the pattern below also spells out what that
matcher does with text the original regex leaves unmatched (a lone whitespace before a word is
a word of its own).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import regex

# 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S), then \s+ as a fallback
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# llama3: case-insensitive contractions, one optional non-letter before a word, digits by 3,
# punctuation runs with trailing newlines, whitespace ending in newlines
LLAMA3 = (r"'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# qwen2: llama3 with single digits
QWEN2 = (r"'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SINGLE_DIGITS = r"\p{N}"
# llama.cpp's "default" BPE rule: punctuation runs, gpt2 words, digit runs, then 3-digit groups
DEFAULT = (r"[\p{P}$+<=>^~|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")


@dataclass(frozen=True)
class PreTokenizerSpec:
    patterns: tuple[str, ...]
    ignore_merges: bool = False   # a word that is itself a token is taken whole (llama3)
    adds_bos: bool = False        # BOS default when tokenizer.ggml.add_bos_token is absent


_GPT2_SPEC = PreTokenizerSpec((GPT2,))
_LLAMA3_SPEC = PreTokenizerSpec((LLAMA3,), ignore_merges=True, adds_bos=True)
_SPECS: dict[str, PreTokenizerSpec] = {
    "default": PreTokenizerSpec(DEFAULT),
    **dict.fromkeys(("gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de",
                     "jina-v2-es", "jina-v2-de", "gigachat", "exaone4"), _GPT2_SPEC),
    **dict.fromkeys(("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"), _LLAMA3_SPEC),
    **dict.fromkeys(("dbrx", "smaug-bpe"), PreTokenizerSpec((LLAMA3,))),
    **dict.fromkeys(("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone",
                     "minerva-7b"), PreTokenizerSpec((SINGLE_DIGITS, GPT2))),
    **dict.fromkeys(("qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan"),
                    PreTokenizerSpec((QWEN2,))),
}


def pre_tokenizer_spec(pre: str | None) -> PreTokenizerSpec:
    """The spec for tokenizer.ggml.pre; a missing pre is llama.cpp's "default", an unknown one
    falls back to the gpt2 rule with a warning."""
    if not pre:
        warnings.warn("tokenizer.ggml.pre is missing: using llama.cpp's 'default' BPE "
                      "pre-tokenizer (tokens may differ from the model's training)", stacklevel=3)
        return _SPECS["default"]
    spec = _SPECS.get(pre)
    if spec is None:
        warnings.warn(f"unknown tokenizer.ggml.pre {pre!r}: using the gpt2 pre-tokenizer rule",
                      stacklevel=3)
        return _GPT2_SPEC
    return spec


def pre_tokenizer_adds_bos(pre: str | None) -> bool:
    spec = _SPECS.get(pre) if pre else None
    return spec.adds_bos if spec is not None else False


class PreTokenizer:
    def __init__(self, spec: PreTokenizerSpec):
        self.spec = spec
        self._regexes = [regex.compile(p) for p in spec.patterns]

    def split(self, text: str) -> list[str]:
        pieces = [text] if text else []
        for pattern in self._regexes:
            pieces = _split_pieces(pattern, pieces)
        return pieces


def _split_pieces(pattern: regex.Pattern, pieces: list[str]) -> list[str]:
    out: list[str] = []
    append = out.append
    for piece in pieces:
        end = 0
        for match in pattern.finditer(piece):
            start = match.start()
            if start > end:
                append(piece[end:start])
            append(match.group())
            end = match.end()
        if end < len(piece):
            append(piece[end:])
    return out
