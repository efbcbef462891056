"""Pre-tokenizers of byte-level BPE vocabularies: text -> words, chosen by tokenizer.ggml.pre.

A pre type is a list of steps applied in turn, as llama.cpp's unicode_regex_split does: each step
splits every piece left by the previous one into its matches and the text between them (nothing
is dropped, an empty match only cuts, and a lookahead never sees past its piece).

Steps are llama.cpp's patterns (the per-type table of llama-vocab.cpp at 0c1e570), run by the
`regex` package with llama.cpp's character classes rather than regex's own:
- \\p{L}, \\p{N}, \\p{P}, \\p{S}, \\p{M} are the Unicode 15.1 categories llama.cpp's tables
  hold: a code point assigned later is "undefined" there (in no class), so before matching it is
  replaced by U+FDD0, a permanent non-character (one code point for one: offsets do not move).
- \\s is llama.cpp's White_Space set without U+001C..U+001F (std::regex's \\s in the C locale;
  llama.cpp maps every non-ASCII white space to \\v before matching, and so do we); \\d is [0-9];
  $ is the end of the piece.
- llama.cpp's adapted patterns are kept as adapted (tekken and gpt-4o spell \\p{Lu}/\\p{Ll} as
  "a letter other than a-z"/"other than A-Z", so a non-ASCII letter is both): the ids follow
  llama.cpp, not the model's original tokenizer.json.
- where llama.cpp runs hand-written code instead of a regex (gpt2, llama3, qwen2, qwen3.5 and
  kimi-k2 patterns, afmoe digit groups), the step here is a pattern or function with that code's
  exact behaviour (e.g. a lone white space before a word is a word of its own in the gpt2 rule).
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import regex

from ..errors import ModelFormatError

# Env var naming a pre type to use for an unknown tokenizer.ggml.pre (same as the keyword
# argument pre_tokenizer_fallback of Tokenizer.from_metadata / from_gguf / pyggml.Llama).
FALLBACK_ENV = "PYGGML_PRE_TOKENIZER_FALLBACK"


class UnknownPreTokenizerError(ModelFormatError):
    """tokenizer.ggml.pre names a pre-tokenizer pyggml does not implement."""


# --- llama.cpp's character classes ---------------------------------------------------------------

_WS = r"\t-\r "  # after non-ASCII white space has become \v
# (plain character sets: the standard library's re scans them several times faster than regex)
_NON_ASCII_SPACE = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
# Whole runs of code points unassigned in Unicode 15.1 that later versions assign: llama.cpp
# (tables from UCD 15.1) has them in no category, `regex` on Unicode 16+ does (>= 2023.10.3 knows
# 15.1; tools/check_pretokenizer_classes.py compares every code point with llama.cpp's tables).
_AFTER_UNICODE_15_1 = re.compile("[" + "".join(
    f"\\U{int(lo, 16):08x}-\\U{int(hi, 16):08x}" for lo, hi in (r.split("-") for r in """
    557-558 58B-58C 5C8-5CF 88F-88F 892-897 B4E-B54 C5B-C5C CD7-CDC 1ACF-1AFF 1B4D-1B4F 1B7F-1B7F
    1C89-1C8F 208F-208F 209D-209F 20C1-20CF 2427-243F 2B96-2B96 2E5E-2E7F 31E4-31EE A7CB-A7CF
    A7D2-A7D2 A7D4-A7D4 A7DA-A7F1 AB6C-AB6F FBC3-FBD2 FD90-FD91 FDC8-FDCE 105BD-105FF 107BB-107FF
    10940-1097F 10D3A-10E5F 10EB2-10EFC 11375-113FF 116CA-116FF 11B0A-11BFF 11DAA-11EDF
    11F5A-11FAF 1246F-1246F 12475-1247F 12544-12F8F 13456-143FF 14647-167FF 16B90-16E3F
    16E9B-16EFF 16FF2-16FFF 187F8-187FF 18CD6-18CFF 18D09-1AFEF 1B123-1B131 1B168-1B16F
    1BCA4-1CEFF 1D127-1D128 1D1EB-1D1FF 1D246-1D2BF 1D6A6-1D6A7 1DAB0-1DEFF 1DF1F-1DF24
    1DF2B-1DFFF 1E4FA-1E7DF 1F1AE-1F1E5 1F6D8-1F6DB 1F777-1F77A 1F7DA-1F7DF 1F7F1-1F7FF
    1F8B2-1F8FF 1FA54-1FA5F 1FA89-1FA8F 1FABE-1FABE 1FAC6-1FACD 1FADC-1FADF 1FAE9-1FAEF
    1FAF9-1FAFF 1FBCB-1FBEF 1FBFA-1FFFF 2B73A-2B73F 2B81E-2B81F 2CEA2-2CEAF 323B0-E0000
    """.split())) + "]")
_UNDEFINED = "\ufdd0"
# llama.cpp's unicode_cpt_is_han (kimi-k2's \p{Han}): the CJK ideograph blocks
_HAN = ("\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002ebef\uf900-\ufaff"
        "\U0002f800-\U0002fa1f")


def _translate(pattern: str) -> str:
    """A pattern in llama.cpp's (ECMAScript) syntax -> `regex` syntax with llama.cpp's \\s, \\d, $."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            escape = pattern[i + 1]
            if escape == "s":
                out.append(_WS if in_class else f"[{_WS}]")
            elif escape == "S":
                assert not in_class
                out.append(f"[^{_WS}]")
            elif escape == "d":
                out.append("0-9" if in_class else "[0-9]")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        elif c == "$" and not in_class:
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)


# --- llama.cpp's patterns ----------------------------------------------------------------------

_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
# llama.cpp's string ends at \s+(?!\S); its hand-written matcher then takes any white space left
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")
QWEN2 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")
QWEN35 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
JAIS2 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)"
         r"|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}")
# "\p{L} other than a-z" / "other than A-Z": llama.cpp's stand-ins for \p{Lu}.. / \p{Ll}..
_UPPERISH = r"((?=[\p{L}])([^a-z]))"
_LOWERISH = r"((?=[\p{L}])([^A-Z]))"
TEKKEN = (rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}*{_LOWERISH}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}+{_LOWERISH}*"
          r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}*{_LOWERISH}+{_CONTRACTIONS}?"
         rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPERISH}+{_LOWERISH}*{_CONTRACTIONS}?"
         r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GRANITE_EMB_MULTI = (
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+" + _CONTRACTIONS + "?"
    r"|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*" + _CONTRACTIONS + "?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_CASED_WORDS = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                + _CONTRACTIONS + "?"
                r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
                + _CONTRACTIONS + "?")
# llama.cpp collapses \p{Lu}, \p{Ll}, ... to \p{L} before matching
_CASED_WORDS = _CASED_WORDS.replace(r"\p{Lu}\p{Lt}\p{Lm}\p{Lo}", r"\p{L}").replace(r"\p{Ll}\p{Lm}\p{Lo}", r"\p{L}")
TINY_AYA = _CASED_WORDS + r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
DEEPSEEK3 = (r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
             r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_KIMI_LETTER = rf"(?:(?![{_HAN}])\p{{L}})"
KIMI_K2 = (rf"[{_HAN}]+|[^\r\n\p{{L}}\p{{N}}]?{_KIMI_LETTER}+{_CONTRACTIONS}?|\p{{N}}{{1,3}}"
           r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# written as escapes: some of these characters have singleton canonical decompositions, and
# the ranges are llama.cpp's exact code points (afmoe's \u8c48 is what its source holds)
_DEEPSEEK_LLM_LETTERS = (
    r"A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    r"\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481"
    r"\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b"
    r"\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b"
    r"\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb"
    r"\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128"
    r"\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4"
    r"\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf"
    r"\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
    r"\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943")
_DEEPSEEK_PUNCT = r"\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"
_DEEPSEEK_CJK = r"[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
_CJK_KANA = r"[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
_YOUTU_CJK = (r"[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c"
              r"\u3001-\u303f\ufe30-\ufe4f]+|[\u3105-\u312f]+|" + _CJK_KANA)
_AFMOE_ASIAN = (r"[\u4e00-\u9fff\u3400-\u4dbf\u8c48-\ufaff\u3040-\u309f\u30a0-\u30ff\uff65-\uff9f\u2f00-\u2fdf"
                r"\u0e40-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff\uac00-\ud7af"
                r"\u1100-\u11ff]+")
_POUNDED = r" ?[^(\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"  # poro, bloom, gpt3-finnish, viking
DEFAULT = (r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")


def split_digit_groups(text: str) -> list[tuple[int, int]]:
    """llama.cpp's afmoe digit step (also tiny_aya's): each run of \\p{N} is cut into a leading
    1-2 digits (its length mod 3) and groups of 3; the text before a run stays joined to the run's
    first group, the text after the last run is a piece of its own."""
    spans: list[tuple[int, int]] = []
    start = 0
    for run in _NUMBER_RUN.finditer(text):
        cut, end = run.span()
        cut += (end - cut) % 3 or 3
        while cut <= end:
            spans.append((start, cut))
            start, cut = cut, cut + 3
    if start < len(text):
        spans.append((start, len(text)))
    return spans


_NUMBER_RUN = regex.compile(r"\p{N}+")

Step = str | Callable[[str], list[tuple[int, int]]]


@dataclass(frozen=True)
class PreTokenizerSpec:
    steps: tuple[Step, ...]      # patterns in llama.cpp's syntax, or span functions
    ignore_merges: bool = False  # a word that is itself a token is taken whole
    adds_bos: bool = False       # BOS default when tokenizer.ggml.add_bos_token is absent


def _spec(*steps: Step, ignore_merges: bool = False, adds_bos: bool = False) -> PreTokenizerSpec:
    return PreTokenizerSpec(steps, ignore_merges, adds_bos)


_SPECS: dict[str, PreTokenizerSpec] = {
    "default": _spec(*DEFAULT),
    **dict.fromkeys(("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                     "lfm2", "jina-v5-nano"), _spec(LLAMA3, ignore_merges=True, adds_bos=True)),
    "jais-2": _spec(JAIS2),
    **dict.fromkeys(("dbrx", "smaug-bpe", "chatglm-bpe"), _spec(LLAMA3)),
    **dict.fromkeys(("glm4", "glm5"), _spec(LLAMA3, ignore_merges=True)),
    "deepseek-llm": _spec(r"[\r\n]", rf"\s?[{_DEEPSEEK_LLM_LETTERS}]+", _DEEPSEEK_PUNCT,
                          r"\s+$", _DEEPSEEK_CJK, r"\p{N}+"),
    "deepseek-coder": _spec(r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", _DEEPSEEK_CJK, r"\p{N}"),
    **dict.fromkeys(("deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"),
                    _spec(r"\p{N}{1,3}", _CJK_KANA, DEEPSEEK3)),
    "spark2_5": _spec(r"\p{N}{1,3}", _CJK_KANA, DEEPSEEK3.replace(r"[\r\n]*|\s*[\r\n]+", r"|[\r\n]"),
                      r"\p{N}"),
    "youtu": _spec(_YOUTU_CJK,
                   TINY_AYA.replace(r"\p{N}{1,3}", r"\p{N}"), ignore_merges=True),
    "falcon": _spec(r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"),
    **dict.fromkeys(("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
                     "mellum2"), _spec(r"\p{N}", GPT2)),
    **dict.fromkeys(("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
                     "a.x-4.0", "mellum", "modern-bert", "mpt", "olmo", "jais", "trillion",
                     "granite-docling", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe"),
                    _spec(GPT2)),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open",
                     "megrez", "grok-2"), _spec(QWEN2)),
    "qwen35": _spec(QWEN35),
    **dict.fromkeys(("poro-chat", "bloom", "gpt3-finnish"), _spec(_POUNDED)),
    "viking": _spec(_POUNDED, r"\p{N}"),
    "tekken": _spec(TEKKEN, ignore_merges=True, adds_bos=True),
    "chameleon": _spec("<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
                       r"\p{N}", r"[\p{P}!-/:-@\[-`{-~]", GPT2, adds_bos=True),
    **dict.fromkeys(("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"), _spec(GPT4O)),
    "granite-embed-multi-97m": _spec(GRANITE_EMB_MULTI, ignore_merges=True),
    **dict.fromkeys(("tiny_aya", "cohere2moe"), _spec(split_digit_groups, TINY_AYA)),
    "kimi-k2": _spec(KIMI_K2),
    "superbpe": _spec(r"\p{N}+", r"(?=(\d{3})+(?!\d))"),
    **dict.fromkeys(("bailingmoe", "bailingmoe2", "llada-moe"), _spec(
        r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]|\s+(?!\S)|\s+")),
    "seed-coder": _spec(_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+"
                        r"|\s*[\r\n]+|\s+(?!\S)|\s+"),
    "ufakzeka": _spec(QWEN2.removeprefix(_CONTRACTIONS + "|")),
    "afmoe": _spec(split_digit_groups, _AFMOE_ASIAN,
                   DEEPSEEK3),
    "laguna": _spec(r"[^\n]+|[\n]+", QWEN2),
    "exaone-moe": _spec(_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}"
                        r"| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"),
    "minicpm5": _spec(r"\p{N}{1,3}", _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+"
                      r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", ignore_merges=True),
}

PRE_TYPES = frozenset(_SPECS)
# llama.cpp types that are SentencePiece-style BPE (raw UTF-8 symbols, spaces as U+2581, <0xNN>
# byte tokens) rather than byte-level BPE: not implemented here
_NOT_BYTE_LEVEL = frozenset(("gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace"))


def pre_tokenizer_spec(pre: str | None, fallback: str | None = None) -> PreTokenizerSpec:
    """The spec for tokenizer.ggml.pre. A missing pre is llama.cpp's "default" (with a warning,
    as llama.cpp warns). An unknown one raises UnknownPreTokenizerError unless `fallback` (or the
    env var PYGGML_PRE_TOKENIZER_FALLBACK) names a known pre type to use instead, with a warning."""
    if not pre:
        warnings.warn("tokenizer.ggml.pre is missing: using llama.cpp's 'default' BPE "
                      "pre-tokenizer (tokens may differ from the model's training)", stacklevel=3)
        return _SPECS["default"]
    spec = _SPECS.get(pre)
    if spec is not None:
        return spec
    fallback = fallback or os.environ.get(FALLBACK_ENV) or None
    if fallback is None:
        what = ("a SentencePiece-style BPE pre-tokenizer (no byte-level encoding), which pyggml does not "
                "implement" if pre in _NOT_BYTE_LEVEL else
                f"an unknown pre-tokenizer type (pyggml knows {len(_SPECS)} of llama.cpp's)")
        raise UnknownPreTokenizerError(
            f"metadata key 'tokenizer.ggml.pre' = {pre!r}: {what}; to tokenize anyway with another rule, "
            f"pass pre_tokenizer_fallback='gpt-2' (or another known type) or set {FALLBACK_ENV}")
    if fallback not in _SPECS:
        raise UnknownPreTokenizerError(f"pre-tokenizer fallback {fallback!r} is not a known pre type "
                                       f"(tokenizer.ggml.pre = {pre!r} is unknown too)")
    warnings.warn(f"unknown tokenizer.ggml.pre {pre!r}: using the {fallback!r} pre-tokenizer as asked "
                  "(token ids may differ from llama.cpp's)", stacklevel=3)
    return _SPECS[fallback]


def pre_tokenizer_adds_bos(pre: str | None) -> bool:
    spec = _SPECS.get(pre) if pre else None
    return spec.adds_bos if spec is not None else False


class PreTokenizer:
    def __init__(self, spec: PreTokenizerSpec):
        self.spec = spec
        # (matcher, matches on categories): a pattern naming \p{..} sees post-15.1 code points as
        # undefined; one without sees them as they are (its literal ranges may cover them)
        self._steps: list[tuple[regex.Pattern | Callable, bool]] = []
        for step in spec.steps:
            if callable(step):
                self._steps.append((step, True))
            else:
                self._steps.append((regex.compile(_translate(step)), r"\p{" in step))

    def split(self, text: str) -> list[str]:
        if not text:
            return []
        if text.isascii():
            return self._split_text(text)
        plain, n_spaces = _NON_ASCII_SPACE.subn("\v", text)
        categorized, n_later = _AFTER_UNICODE_15_1.subn(_UNDEFINED, plain)
        if not n_spaces and not n_later:
            return self._split_text(text)
        # the steps see substituted text: split by offsets, then cut the original
        spans = [(0, len(text))]
        for step, on_categories in self._steps:
            spans = _split_spans(step, categorized if on_categories else plain, spans)
        return [text[start:end] for start, end in spans]

    def _split_text(self, text: str) -> list[str]:
        """The steps on text no substitution changes (the common case): pieces as strings."""
        pieces = [text]
        for step, _ in self._steps:
            out: list[str] = []
            append = out.append
            if not isinstance(step, regex.Pattern):
                for piece in pieces:
                    out.extend(piece[s:e] for s, e in step(piece))
            else:
                for piece in pieces:
                    done = 0
                    for match in step.finditer(piece):
                        s, e = match.span()
                        if s > done:
                            append(piece[done:s])
                        if e > s:  # an empty match only cuts
                            append(piece[s:e])
                        done = e
                    if done < len(piece):
                        append(piece[done:])
            pieces = out
        return pieces


def _split_spans(step, subject: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    append = out.append
    is_pattern = isinstance(step, regex.Pattern)
    for start, end in spans:
        piece = subject[start:end]
        if not is_pattern:
            out.extend((start + s, start + e) for s, e in step(piece))
            continue
        done = 0
        for match in step.finditer(piece):
            s, e = match.span()
            if s > done:
                append((start + done, start + s))
            if e > s:  # an empty match only cuts
                append((start + s, start + e))
            done = e
        if done < len(piece):
            append((start + done, end))
    return out
