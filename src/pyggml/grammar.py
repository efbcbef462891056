"""Constrained decoding with llguidance: grammars as a per-step token mask.

    grammar = LlamaGrammar.from_json_schema('{"type": "object", ...}')   # or from_string(gbnf),
    llm("...", grammar=grammar)                                       # from_file, from_regex, from_lark

llguidance (a Rust library with Python bindings, no dependencies) compiles JSON schema, regex,
Lark and llama.cpp's GBNF (via its converter) and, each step, fills a bitmask over the
vocabulary: bit i set = token i may come next. It needs each token's bytes, which
`TokenizerAdapter` takes from our tokenizer once per model file (control tokens get llguidance's
0xFF prefix so grammar text never matches them). The end-of-generation tokens are the only
tokens allowed once the grammar is complete, so an output that stops for end-of-generation is
always a full match.

JSON output is compact and canonical (", " and ": " separators, no free whitespace): small
models given free whitespace tend to emit newlines instead of values. Unsupported JSON-schema
keywords raise an error (not silently dropped).
"""
from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

_JSON_OPTIONS = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}


def _llguidance():
    try:
        import llguidance
        import llguidance.numpy  # noqa: F401  (bitmask helpers)
    except ImportError:
        raise ImportError("grammars, response_format and tool calls need llguidance: "
                          "pip install 'pyggml[grammar]' (or pip install llguidance)") from None
    return llguidance


class GrammarError(ValueError):
    """A grammar, schema or regex that does not compile, or a matcher that failed."""


class LlamaGrammar:
    """A compiled-on-use grammar (llguidance's serialized form), llama-cpp-python's names."""

    def __init__(self, *, _grammar: str, source: str = ""):
        self._grammar = _grammar
        self.source = source
        error = _llguidance().LLMatcher.validate_grammar(_grammar)
        if error:
            raise GrammarError(f"grammar does not compile: {error}")

    @property
    def serialized(self) -> str:
        return self._grammar

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True) -> LlamaGrammar:
        """A llama.cpp GBNF grammar (root rule `root`); Lark syntax is accepted too."""
        if not isinstance(grammar, str) or not grammar.strip():
            raise GrammarError("grammar must be a non-empty GBNF string")
        try:
            text = _llguidance().grammar_from("gbnf", grammar)
        except ValueError as e:
            raise GrammarError(f"GBNF grammar does not convert: {e}") from None
        return cls(_grammar=text, source=grammar)

    @classmethod
    def from_file(cls, file: str | os.PathLike, verbose: bool = True) -> LlamaGrammar:
        try:
            with open(file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise GrammarError(f"cannot read grammar file {os.fspath(file)!r}: {e}") from None
        return cls.from_string(text, verbose)

    @classmethod
    def from_json_schema(cls, json_schema: str | Mapping[str, Any], verbose: bool = True) -> LlamaGrammar:
        """Output that is a JSON value valid against the schema (a string or a dict)."""
        if isinstance(json_schema, Mapping):
            json_schema = json.dumps(json_schema)
        try:
            json.loads(json_schema)
        except (TypeError, ValueError) as e:
            raise GrammarError(f"json_schema is not valid JSON: {e}") from None
        text = _llguidance().LLMatcher.grammar_from_json_schema(json_schema, defaults=dict(_JSON_OPTIONS))
        return cls(_grammar=text, source=json_schema)

    @classmethod
    def from_regex(cls, regex: str) -> LlamaGrammar:
        """Output that matches the regex in full (Rust regex syntax)."""
        if not isinstance(regex, str) or not regex:
            raise GrammarError("regex must be a non-empty string")
        return cls(_grammar=_llguidance().LLMatcher.grammar_from_regex(regex), source=regex)

    @classmethod
    def from_lark(cls, lark: str) -> LlamaGrammar:
        return cls(_grammar=_llguidance().LLMatcher.grammar_from_lark(lark), source=lark)


def grammar_for_response_format(response_format: Mapping[str, Any] | None) -> LlamaGrammar | None:
    """OpenAI / llama-cpp-python response_format: {"type": "text"}, {"type": "json_object"
    [, "schema": ...]}, {"type": "json_schema", "json_schema": {"schema": ...}} (or "schema")."""
    if response_format is None:
        return None
    if not isinstance(response_format, Mapping):
        raise ValueError(f"response_format must be a dict, got {type(response_format).__name__}")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind not in ("json_object", "json_schema"):
        raise ValueError(f"response_format['type'] must be 'text', 'json_object' or 'json_schema', got {kind!r}")
    schema = response_format.get("schema")
    nested = response_format.get("json_schema")
    if schema is None and isinstance(nested, Mapping):
        schema = nested.get("schema")
    if schema is None:
        if kind == "json_schema":
            raise ValueError("response_format of type 'json_schema' needs a schema "
                             "(response_format['json_schema']['schema'])")
        schema = {"type": "object"}
    return LlamaGrammar.from_json_schema(schema)


class TokenizerAdapter:
    """llguidance's view of one model's vocabulary; build once per model (~0.1-1 s)."""

    def __init__(self, tokenizer, n_vocab: int):
        llg = _llguidance()
        vocab = tokenizer.vocab
        from .tokenizer import TokenAttr

        control = int(TokenAttr.CONTROL | TokenAttr.UNKNOWN | TokenAttr.UNUSED)
        tokens, special = [], []
        for i in range(n_vocab):
            if i >= vocab.n_vocab:
                tokens.append(b"")
                continue
            piece = tokenizer.token_to_piece(i, special=True)
            if vocab.attrs[i] & control or tokenizer.is_eog(i):
                piece = b"\xff" + piece
                special.append(i)
            tokens.append(piece)
        self.n_vocab = n_vocab
        self.eog_ids = sorted(tokenizer.eog_ids) or [tokenizer.eos_id]

        class _Wrapped:
            eos_token_id = self.eog_ids[0]
            bos_token_id = tokenizer.bos_id

            def __call__(_, text: bytes) -> list[int]:
                return tokenizer.encode(text, add_special=False, parse_special=False)

        wrapped = _Wrapped()
        wrapped.tokens = tokens
        wrapped.special_token_ids = special
        self.lltokenizer = llg.LLTokenizer(llg.TokenizerWrapper(wrapped), n_vocab=n_vocab,
                                           eos_token=self.eog_ids)


_ADAPTERS: OrderedDict[tuple, TokenizerAdapter] = OrderedDict()
MAX_CACHED_ADAPTERS = 2


def adapter_for(model_path: str, tokenizer, n_vocab: int) -> TokenizerAdapter:
    """The adapter of a model file, shared by every Llama that opened the same file (building
    one takes ~0.5 s for a 49k vocabulary, ~5 s for 262k)."""
    st = os.stat(model_path)
    key = (os.path.realpath(model_path), st.st_size, st.st_mtime_ns, n_vocab)
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        adapter = _ADAPTERS[key] = TokenizerAdapter(tokenizer, n_vocab)
        while len(_ADAPTERS) > MAX_CACHED_ADAPTERS:
            _ADAPTERS.popitem(last=False)
    _ADAPTERS.move_to_end(key)
    return adapter


class GrammarConstraint:
    """One generation's matcher: apply(logits) masks, accept(token) advances."""

    def __init__(self, adapter: TokenizerAdapter, grammar: LlamaGrammar):
        llg = _llguidance()
        self._llg = llg
        self.matcher = llg.LLMatcher(adapter.lltokenizer, grammar.serialized, log_level=0)
        self._check()
        self.n_vocab = adapter.n_vocab
        self._bitmask = llg.numpy.allocate_token_bitmask(1, adapter.n_vocab)
        self.mask_ms = 0.0   # time spent computing masks (for the benchmark)
        self.steps = 0

    def _check(self) -> None:
        if self.matcher.is_error():
            raise GrammarError(f"grammar matcher failed: {self.matcher.get_error()}")

    def allowed(self) -> np.ndarray:
        """(n_vocab,) bool: the tokens the grammar allows next."""
        t0 = time.perf_counter()
        self._llg.numpy.fill_next_token_bitmask(self.matcher, self._bitmask, 0)
        self._check()
        bits = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")[: self.n_vocab]
        self.mask_ms += (time.perf_counter() - t0) * 1e3
        self.steps += 1
        return bits.view(bool)

    def apply(self, logits: np.ndarray) -> None:
        logits[~self.allowed()[: len(logits)]] = -np.inf

    def accept(self, token: int) -> None:
        if not self.matcher.consume_token(int(token)):
            raise GrammarError(f"token {token} was sampled but the grammar does not allow it: "
                               f"{self.matcher.get_error()}")
