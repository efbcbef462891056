"""`Llama`: the high-level API, with llama-cpp-python's names, arguments and return shapes.

    llm = Llama("model.gguf", n_ctx=512, seed=42)
    out = llm("The capital of France is", max_tokens=16, temperature=0)
    out["choices"][0]["text"]                    # OpenAI-style completion dict
    for chunk in llm("Once", stream=True): ...   # or chunks
    llm.create_chat_completion([{"role": "user", "content": "Hi"}])

Under it: pyggml.runner.ModelRunner (graphs, KV cache), pyggml.tokenizer.Tokenizer,
pyggml.sampling.Sampler and pyggml.chat.ChatFormatter. A new prompt reuses the KV cache for the
prefix it shares with the tokens already evaluated (and, with set_cache, saved states).

Constructor arguments: see pyggml.llama_args (which of llama-cpp-python's are used, have no
effect on a CPU engine, or are refused). Structured output: pyggml.grammar (llguidance). Tools:
pyggml.tools. Embeddings: Llama(embedding=True).embed / create_embedding. State:
save_state / load_state (pyggml.state).
"""
from __future__ import annotations

import itertools
import numbers
import os
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from . import llama_args
from .timings import PerfStats, format_perf
from .embeddings import normalize as normalize_rows
from .embeddings import pool
from .logprobs import TokenLogprob, completion_logprobs, token_logprob
from .guard import ObjectGuard, serialized
from .runner import ModelRunner
from .stops import find_stop, held_back, stop_list
from .sampling import (RANDOM_SEED, LogitBiasProcessor, MinTokensProcessor, Sampler, SamplingParams,
                       make_rng)
from .state import BaseLlamaCache, LlamaState
from .tokenizer import Tokenizer

if TYPE_CHECKING:
    from .chat import ChatFormatter

# the fallback ChatML template's end-of-turn text, a stop string when it is not a token
CHATML_END = "<|im_end|>"


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class Outcome:
    """Filled in by the token loop when it ends."""
    finish_reason: str = "length"
    completion_tokens: int = 0
    tokens: list = None    # the completion's token ids (kept for the prompt cache)


class Llama:
    def __init__(self, model_path: str, *, n_ctx: int = 512, n_batch: int = 512, n_ubatch: int = 512,
                 n_threads: int | None = None, seed: int = RANDOM_SEED, logits_all: bool = False,
                 last_n_tokens_size: int = 64,
                 embedding: bool = False, pooling_type: int = llama_args.POOLING_UNSPECIFIED,
                 attention_type: int = llama_args.ATTENTION_UNSPECIFIED,
                 rope_freq_base: float = 0.0, rope_freq_scale: float = 0.0, kv_overrides: dict | None = None,
                 type_k: int | None = None, type_v: int | None = None, chat_format: str | None = None,
                 spm_infill: bool = False, verbose: bool = True, pre_tokenizer_fallback: str | None = None,
                 **kwargs):
        """Arguments as llama-cpp-python's; see pyggml.llama_args for the ones not listed here
        (accepted with no effect on a CPU engine, or refused with an error naming them).
        pre_tokenizer_fallback: a known tokenizer.ggml.pre type to tokenize with when the file's
        is unknown to pyggml (default: refuse such a file; env PYGGML_PRE_TOKENIZER_FALLBACK too)."""
        t_start = time.perf_counter()
        self._guard = ObjectGuard("Llama")   # thread safety: see pyggml.guard
        self._init_kwargs = dict(n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_ubatch, n_threads=n_threads, seed=seed,
                                 logits_all=logits_all, last_n_tokens_size=last_n_tokens_size, embedding=embedding,
                                 pooling_type=pooling_type, attention_type=attention_type,
                                 rope_freq_base=rope_freq_base, rope_freq_scale=rope_freq_scale,
                                 kv_overrides=kv_overrides, type_k=type_k, type_v=type_v, chat_format=chat_format,
                                 spm_infill=spm_infill, verbose=verbose,
                                 pre_tokenizer_fallback=pre_tokenizer_fallback, **kwargs)
        self.model_path = os.fspath(model_path)
        if not os.path.isfile(self.model_path):
            raise ValueError(f"Model path does not exist: {self.model_path}")
        n_ctx = _positive_int("n_ctx", n_ctx)
        n_batch = _positive_int("n_batch", n_batch)
        n_ubatch = _positive_int("n_ubatch", n_ubatch)
        if n_threads is not None:
            n_threads = _positive_int("n_threads", n_threads)
        if isinstance(last_n_tokens_size, bool) or not isinstance(last_n_tokens_size, int) or last_n_tokens_size < -1:
            raise ValueError(f"last_n_tokens_size must be an integer >= -1, got {last_n_tokens_size!r}")
        self.no_effect_params = llama_args.check_extra_kwargs(kwargs)
        llama_args.check_attention_type(attention_type)
        llama_args.check_chat_format(chat_format)
        kv_type = llama_args.kv_type_name(type_k, type_v)
        self._seed_source = make_rng(seed)
        self.verbose = verbose
        self.logits_all = bool(logits_all)
        self.last_n_tokens_size = last_n_tokens_size
        self.embedding = bool(embedding)
        self.chat_format = chat_format
        self.spm_infill = bool(spm_infill)
        self.runner = ModelRunner(self.model_path, n_ctx=n_ctx, n_batch=min(n_batch, n_ubatch), n_threads=n_threads,
                                  kv_type=kv_type, metadata_overrides=llama_args.check_kv_overrides(kv_overrides),
                                  config_overrides=llama_args.rope_overrides(rope_freq_base, rope_freq_scale))
        self.metadata = self.runner.metadata
        self._pooling_type = llama_args.check_pooling(pooling_type, self.metadata, self.runner.config.arch)
        self.tokenizer = Tokenizer.from_metadata(self.metadata, pre_tokenizer_fallback=pre_tokenizer_fallback)
        self.n_batch = min(n_batch, n_ctx)
        self.n_ubatch = self.runner.n_batch   # tokens per forward pass
        self._n_ctx = n_ctx
        self._n_vocab = self.runner.config.n_vocab
        self._input_ids = np.zeros(n_ctx, dtype=np.int32)
        self._n_tokens = 0
        # logits_all: one row per cache position (np.zeros: pages are committed only when written)
        self._scores = np.zeros((n_ctx, self._n_vocab), np.float32) if self.logits_all else None
        self._last_logits: np.ndarray | None = None
        self._chat_formatter: ChatFormatter | None = None
        self._grammar_adapter = None   # llguidance's vocabulary view, built on first use
        self.cache: BaseLlamaCache | None = None
        self._generation = 0    # bumped by anything that moves the cache under an open stream
        self._t_start = t_start
        self._sample_ms = 0.0
        self._sample_runs = 0
        if verbose:
            cfg = self.runner.config
            print(f"pyggml: loaded {self.model_path}: arch {cfg.arch}, {cfg.n_layer} layers, n_embd {cfg.n_embd}, "
                  f"n_vocab {cfg.n_vocab}, n_ctx {n_ctx} (trained {cfg.n_ctx_train}), "
                  f"n_threads {self.runner.n_threads}", file=sys.stderr)

    # ---- sizes and special tokens --------------------------------------------------------------

    def n_ctx(self) -> int:
        return self._n_ctx

    def n_vocab(self) -> int:
        return self._n_vocab

    def n_embd(self) -> int:
        return self.runner.config.n_embd

    def pooling_type(self) -> int:
        return self._pooling_type

    def token_bos(self) -> int:
        return -1 if self.tokenizer.bos_id is None else self.tokenizer.bos_id

    def token_eos(self) -> int:
        return -1 if self.tokenizer.eos_id is None else self.tokenizer.eos_id

    def token_nl(self) -> int:
        ids = self.tokenizer.encode(b"\n", add_special=False)
        return ids[0] if len(ids) == 1 else -1

    # ---- state ---------------------------------------------------------------------------------

    @property
    def n_tokens(self) -> int:
        """Tokens evaluated so far (positions in the KV cache). Lowering it forgets the tail."""
        return self._n_tokens

    @n_tokens.setter
    @serialized
    def n_tokens(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= self._n_tokens:
            raise ValueError(f"n_tokens can only be lowered, to 0..{self._n_tokens}; got {value!r}")
        self._n_tokens = int(value)

    @property
    def input_ids(self) -> np.ndarray:
        return self._input_ids[: self._n_tokens]

    @property
    def scores(self) -> np.ndarray:
        """float32 logits: with logits_all, one row per evaluated token (n_tokens, n_vocab);
        otherwise only the last evaluated token's row (1, n_vocab), or (0, n_vocab) before any eval."""
        if self._scores is not None:
            return self._scores[: self._n_tokens]
        if self._last_logits is None or self._n_tokens == 0:
            return np.zeros((0, self._n_vocab), np.float32)
        return self._last_logits

    @serialized
    def reset(self) -> None:
        self._generation += 1
        self._n_tokens = 0
        self._last_logits = None
        self.runner.reset()

    @serialized(takeover=False)
    def set_seed(self, seed: int) -> None:
        """Seed of the stream that gives each completion without its own seed its generator."""
        self._seed_source = make_rng(seed)

    def _model_key(self) -> tuple:
        cfg = self.runner.config
        return (cfg.arch, self._n_vocab, cfg.n_layer, cfg.n_embd_k_gqa, cfg.n_embd_v_gqa,
                str(self.runner.kv[0].k.type))

    @serialized(takeover=False)
    def save_state(self) -> LlamaState:
        """Tokens, last logits, their KV cache rows and the seed stream: picklable."""
        n = self._n_tokens
        kv = self.runner.kv_state(n)
        size = sum(len(k) + len(v) for k, v in kv)
        scores = self.scores.copy()
        return LlamaState(self.input_ids.copy(), scores, n, kv, size,
                          self._seed_source.bit_generator.state, model_key=self._model_key())

    @serialized
    def load_state(self, state: LlamaState) -> None:
        if not isinstance(state, LlamaState):
            raise ValueError(f"load_state needs a LlamaState, got {type(state).__name__}")
        if state.model_key != self._model_key():
            raise ValueError(f"state was saved from a different model or cache type: {state.model_key} "
                             f"vs {self._model_key()}")
        if state.n_tokens > self._n_ctx:
            raise ValueError(f"state holds {state.n_tokens} tokens, more than n_ctx={self._n_ctx}")
        self._generation += 1
        self.runner.set_kv_state(state.llama_state, state.n_tokens)
        self._input_ids[: state.n_tokens] = state.input_ids[: state.n_tokens]
        self._n_tokens = state.n_tokens
        scores = np.asarray(state.scores, np.float32)
        if self._scores is not None and len(scores) == state.n_tokens:
            self._scores[: state.n_tokens] = scores
            self._last_logits = self._scores[state.n_tokens - 1:state.n_tokens] if state.n_tokens else None
        else:
            self._last_logits = scores[-1:].copy() if len(scores) else None
        self._seed_source.bit_generator.state = state.seed

    def set_cache(self, cache: BaseLlamaCache | None) -> None:
        """Prompt cache (e.g. LlamaRAMCache()): completions start from the saved state whose
        tokens are the longest prefix of the prompt, and save their final state."""
        self.cache = cache

    def close(self) -> None:
        """Free the model; a call running on another thread stops with ClosedError."""
        self._guard.close(self.runner.close)

    def __getstate__(self) -> dict:
        """Pickling a Llama keeps its arguments (as llama-cpp-python); unpickling reloads the model."""
        return {"model_path": self.model_path, **self._init_kwargs}

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        self.__init__(state.pop("model_path"), **state)

    @property
    def eval_tokens(self) -> deque:
        """The evaluated token ids (llama-cpp-python's deque view)."""
        return deque(self.input_ids.tolist(), maxlen=self._n_ctx)

    @property
    def eval_logits(self) -> deque:
        """Logits rows as lists: one per evaluated token with logits_all, else the last one."""
        return deque(self.scores.tolist(), maxlen=self._n_ctx if self.logits_all else 1)

    @staticmethod
    def logits_to_logprobs(logits, axis: int = -1) -> np.ndarray:
        x = np.asarray(logits, dtype=np.float32)
        m = np.max(x, axis=axis, keepdims=True)
        return (x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).astype(np.float32)

    @staticmethod
    def longest_token_prefix(a: Sequence[int], b: Sequence[int]) -> int:
        n = 0
        for x, y in zip(a, b):
            if x != y:
                break
            n += 1
        return n

    def __enter__(self) -> Llama:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- tokens --------------------------------------------------------------------------------

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of UTF-8 text; add_bos adds BOS if the model's metadata asks for it;
        special parses control-token text such as "<|im_start|>" into the token."""
        return self.tokenizer.encode(text, add_special=add_bos, parse_special=special)

    def detokenize(self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None,
                   special: bool = False) -> bytes:
        return self.tokenizer.decode(self._check_tokens(tokens), special=special)

    def _check_tokens(self, tokens) -> list[int]:
        ids = [int(t) for t in tokens]
        for t in ids:
            if not 0 <= t < self._n_vocab:
                raise ValueError(f"token id {t} is outside the vocabulary 0..{self._n_vocab - 1}")
        return ids

    def _piece(self, token: int) -> str:
        return self.tokenizer.token_to_piece(token, special=False).decode("utf-8", errors="ignore")

    # ---- evaluation ----------------------------------------------------------------------------

    @serialized
    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate tokens after the first n_tokens positions (batches of n_batch)."""
        self._eval(self._check_tokens(tokens), self.logits_all)

    @serialized(takeover=False)   # per batch: a close() from another thread stops here
    def _eval(self, ids: list[int], all_rows: bool) -> np.ndarray | None:
        """Evaluate ids; returns their logits rows when all_rows."""
        if not ids:
            return None
        n_past = self._n_tokens
        if n_past + len(ids) > self._n_ctx:
            raise ValueError(f"Requested tokens ({n_past + len(ids)}) exceed context window of {self._n_ctx}")
        if self.runner.n_past != n_past:
            self.runner.truncate(n_past)
        logits = self.runner.eval(ids, logits_all=all_rows or self.logits_all)
        self._input_ids[n_past:n_past + len(ids)] = ids
        if self._scores is not None:
            self._scores[n_past:n_past + len(ids)] = logits
            self._last_logits = self._scores[n_past + len(ids) - 1:n_past + len(ids)]
        else:
            self._last_logits = logits[-1:]
        self._n_tokens = n_past + len(ids)
        return logits if all_rows else None

    def _prefill(self, tokens: list[int], prompt_logits: bool = False) -> np.ndarray | None:
        """Make the cache hold exactly `tokens` with fresh logits for the last one, evaluating
        only what differs from the tokens already cached (or a saved state in the prompt
        cache). prompt_logits: evaluate all of them and return every row."""
        if prompt_logits:
            self._n_tokens = 0
            return self._eval(tokens, True)
        n_same = self._common_prefix(tokens)
        if self.cache is not None and min(self.cache.longest_prefix(tokens), len(tokens) - 1) > n_same:
            state = self.cache[tokens]
            if state.model_key == self._model_key():
                self.load_state(state)
                n_same = self._common_prefix(tokens)   # the state's tail past the prompt is dropped
        self._n_tokens = n_same
        self._eval(tokens[n_same:], False)
        return None

    def _common_prefix(self, tokens: list[int]) -> int:
        cached = self.input_ids
        limit = min(len(cached), len(tokens) - 1)  # the last token is always evaluated
        diff = np.flatnonzero(cached[:limit] != np.asarray(tokens[:limit], dtype=np.int32))
        return int(diff[0]) if len(diff) else limit

    # ---- sampling ------------------------------------------------------------------------------

    def _sampling_params(self, temperature, top_k, top_p, min_p, repeat_penalty, frequency_penalty,
                         presence_penalty, typical_p=1.0, mirostat_mode=0, mirostat_tau=5.0,
                         mirostat_eta=0.1) -> SamplingParams:
        return SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                              repeat_penalty=repeat_penalty, repeat_last_n=self.last_n_tokens_size,
                              frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
                              typical_p=typical_p, mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau,
                              mirostat_eta=mirostat_eta)

    def _completion_rng(self, seed: int | None) -> np.random.Generator:
        if seed is None:
            return np.random.default_rng(int(self._seed_source.integers(0, 2**63)))
        return make_rng(seed)

    def grammar_adapter(self):
        """llguidance's view of this model's vocabulary (built once per model file, then cached)."""
        if self._grammar_adapter is None:
            from .grammar import TokenizerAdapter, adapter_for

            overrides = self._init_kwargs.get("kv_overrides") or {}
            if any(key.startswith("tokenizer.") for key in overrides):   # not the file's vocabulary
                self._grammar_adapter = TokenizerAdapter(self.tokenizer, self._n_vocab)
            else:
                self._grammar_adapter = adapter_for(self.model_path, self.tokenizer, self._n_vocab)
        return self._grammar_adapter

    def _sampler(self, params: SamplingParams, seed, logits_processor=None, logit_bias=None,
                 grammar=None, min_tokens: int = 0) -> Sampler:
        """The sampling chain: logit_bias, min_tokens, the caller's processors, penalties,
        grammar mask, filters, draw."""
        processors = []
        if logit_bias:
            processors.append(LogitBiasProcessor(logit_bias, self._n_vocab))
        if min_tokens:
            processors.append(MinTokensProcessor(min_tokens, self.tokenizer.eog_ids))
        if logits_processor is not None:
            processors.extend(logits_processor if isinstance(logits_processor, list) else [logits_processor])
        constraint = None
        if grammar is not None:
            from .grammar import GrammarConstraint, LlamaGrammar

            if not isinstance(grammar, LlamaGrammar):
                raise ValueError(f"grammar must be a LlamaGrammar, got {type(grammar).__name__}")
            constraint = GrammarConstraint(self.grammar_adapter(), grammar)
        return Sampler(params, self._completion_rng(seed), logits_processors=processors, grammar=constraint,
                       n_vocab=self._n_vocab)

    @serialized(takeover=False)
    def sample(self, top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05, typical_p: float = 1.0,
               temp: float = 0.80, repeat_penalty: float = 1.0, frequency_penalty: float = 0.0,
               presence_penalty: float = 0.0, tfs_z: float = 1.0, mirostat_mode: int = 0, mirostat_eta: float = 0.1,
               mirostat_tau: float = 5.0, penalize_nl: bool = True, logits_processor=None, grammar=None,
               idx: int | None = None) -> int:
        """One token from the last evaluated logits (or row idx of scores with logits_all)."""
        _check_tfs(tfs_z)
        if self._n_tokens == 0 or self._last_logits is None:
            raise ValueError("nothing evaluated yet: no logits to sample from")
        row = self._last_logits[0]
        if idx is not None:
            if self._scores is None or not 0 <= idx < self._n_tokens:
                raise ValueError(f"sample(idx={idx!r}) needs logits_all=True and 0 <= idx < n_tokens")
            row = self._scores[idx]
        params = self._sampling_params(temp, top_k, top_p, min_p, repeat_penalty, frequency_penalty,
                                       presence_penalty, typical_p, mirostat_mode, mirostat_tau, mirostat_eta)
        sampler = self._sampler(params, None, logits_processor, None, grammar)
        return sampler.sample(row, self.input_ids)

    @serialized
    def generate(self, tokens: Sequence[int], top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                 typical_p: float = 1.0, temp: float = 0.80, repeat_penalty: float = 1.0, reset: bool = True,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0, tfs_z: float = 1.0,
                 mirostat_mode: int = 0, mirostat_tau: float = 5.0, mirostat_eta: float = 0.1,
                 penalize_nl: bool = True, logits_processor=None, stopping_criteria=None, grammar=None,
                 seed: int | None = None) -> Iterator[int]:
        """Tokens sampled after `tokens`, one per step, until the context is full, a stopping
        criterion says stop, or the caller stops. reset=True starts from `tokens` alone (reusing
        the cached common prefix); reset=False appends them to what is cached."""
        _check_tfs(tfs_z)
        params = self._sampling_params(temp, top_k, top_p, min_p, repeat_penalty, frequency_penalty,
                                       presence_penalty, typical_p, mirostat_mode, mirostat_tau, mirostat_eta)
        ids = self._check_tokens(tokens)
        if reset and not ids:
            raise ValueError("generate needs at least one token")
        sampler = self._sampler(params, seed, logits_processor, None, grammar)
        return self._token_loop(ids, sampler, reset, stopping_criteria)

    def _token_loop(self, ids: list[int], sampler: Sampler, reset: bool = True, stopping_criteria=None,
                    on_prompt_logits=None) -> Iterator[int]:
        """Interleaving two open generations on one Llama would mix their caches: the older one
        raises RuntimeError when resumed (finish or close one stream before starting another)."""
        if reset:
            rows = self._prefill(ids, prompt_logits=on_prompt_logits is not None)
            if on_prompt_logits is not None:
                on_prompt_logits(rows)
        else:
            self._eval(ids, False)
        if self._last_logits is None:
            raise ValueError("nothing evaluated yet: no logits to sample from")
        self._generation += 1
        mine = self._generation
        while True:
            t0 = time.perf_counter()
            token = sampler.sample(self._last_logits[0], self.input_ids)
            self._sample_ms += (time.perf_counter() - t0) * 1e3
            self._sample_runs += 1
            if stopping_criteria is not None and stopping_criteria(self.input_ids, self._last_logits[0]):
                return
            yield token
            if self._generation != mine:
                raise RuntimeError("this Llama started another generation, embedding, reset or load_state "
                                   "while this stream was open; its cache no longer holds this stream's tokens")
            if self._n_tokens >= self._n_ctx:
                return
            self._eval([token], False)

    # ---- completions ---------------------------------------------------------------------------

    def _prompt_tokens(self, prompt, suffix: str | None = None) -> tuple[list[int], str]:
        if isinstance(prompt, (bytes, bytearray)):
            prompt = bytes(prompt).decode("utf-8", errors="replace")
        if isinstance(prompt, str):
            if prompt == "" and suffix is None:
                raise ValueError("prompt is empty")
            ids = self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            text = prompt
        elif isinstance(prompt, Sequence) and all(isinstance(t, numbers.Integral) for t in prompt):
            ids = self._check_tokens(prompt)
            text = self.detokenize(ids).decode("utf-8", errors="replace")
        else:
            raise ValueError(f"prompt must be a string or a list of token ids, got {type(prompt).__name__}")
        if suffix is not None:
            ids = self._infill_tokens(ids, suffix)
        if not ids:
            raise ValueError("prompt is empty after tokenization")
        if len(ids) > self._n_ctx:
            raise ValueError(f"Requested tokens ({len(ids)}) exceed context window of {self._n_ctx}")
        return ids, text

    def _infill_tokens(self, prompt_ids: list[int], suffix: str) -> list[int]:
        """Fill-in-the-middle: <pre> prompt <suf> suffix <mid> (spm_infill: <suf> suffix <pre> prompt <mid>)."""
        if not isinstance(suffix, str):
            raise ValueError(f"suffix must be a string, got {type(suffix).__name__}")
        special = self.tokenizer.vocab.special_ids
        pre, suf, mid = special.get("fim_pre"), special.get("fim_suf"), special.get("fim_mid")
        if pre is None or suf is None or mid is None:
            raise ValueError("suffix needs a model with fill-in-the-middle tokens (tokenizer.ggml.fim_pre/"
                             "fim_suf/fim_mid_token_id); this model has none")
        bos = [prompt_ids[0]] if prompt_ids and prompt_ids[0] == self.tokenizer.bos_id else []
        body = prompt_ids[len(bos):]
        suffix_ids = self.tokenize(suffix.encode("utf-8"), add_bos=False, special=False)
        parts = ([suf] + suffix_ids + [pre] + body) if self.spm_infill else ([pre] + body + [suf] + suffix_ids)
        return bos + parts + [mid]

    def _max_new_tokens(self, max_tokens, n_prompt: int) -> int:
        room = self._n_ctx - n_prompt + 1  # the last sampled token needs no cache slot
        if max_tokens is None or (isinstance(max_tokens, numbers.Integral) and max_tokens <= 0):
            return room
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, numbers.Integral):
            raise ValueError(f"max_tokens must be an integer or None, got {max_tokens!r}")
        return min(int(max_tokens), room)

    def _text_loop(self, prompt_ids: list[int], sampler: Sampler, stops: list[str], max_new: int,
                   outcome: Outcome, n_logprobs: int | None = None, stopping_criteria=None,
                   on_prompt_logits=None) -> Iterator[tuple[str, list[TokenLogprob]]]:
        """(text, logprob entries) pieces of the completion as they become final: stops at an
        end-of-generation token, at a stop string (cut off, never partly emitted), when a
        stopping criterion says so, or after max_new tokens. Entries only when n_logprobs is
        not None: one per token whose text starts in the piece."""
        detok = self.tokenizer.streaming_detokenizer()
        text, emitted, cut = "", 0, -1
        entries: list[TokenLogprob] = []
        starts: list[int] = []          # text position where each entry's token starts
        outcome.tokens = []
        fired = []

        def criteria(input_ids, logits) -> bool:
            if stopping_criteria(input_ids, logits):
                fired.append(True)
                return True
            return False

        def take(upto: int) -> list[TokenLogprob]:
            n = 0
            while n < len(starts) and starts[n] < upto:
                n += 1
            taken = entries[:n]
            del entries[:n], starts[:n]
            return taken

        outcome.finish_reason = "length"
        for token in self._token_loop(prompt_ids, sampler, True, criteria if stopping_criteria else None,
                                      on_prompt_logits):
            if self.tokenizer.is_eog(token):
                outcome.finish_reason = "stop"
                break
            outcome.completion_tokens += 1
            outcome.tokens.append(token)
            if n_logprobs is not None:
                entries.append(token_logprob(self._last_logits[0], token, n_logprobs, self._piece))
                starts.append(len(text))
            text += detok.feed(token)
            cut = find_stop(text, emitted, stops)
            if cut >= 0:
                break
            ready = len(text) - held_back(text, emitted, stops)
            if ready > emitted:
                yield text[emitted:ready], take(ready)
                emitted = ready
            if outcome.completion_tokens >= max_new:
                break
        else:
            outcome.finish_reason = "stop" if fired else "length"
        if cut < 0:
            text += detok.flush()  # an unfinished UTF-8 sequence may complete a stop string
            cut = find_stop(text, emitted, stops)
        if cut >= 0:
            outcome.finish_reason, text = "stop", text[:cut]
        if len(text) > emitted or entries:
            yield text[emitted:], take(len(text))
        if self.cache is not None and self._n_tokens:
            self.cache[self.input_ids.tolist()] = self.save_state()
        if self.verbose:
            print(format_perf(self.perf_stats()), file=sys.stderr)

    @serialized
    def create_completion(self, prompt, suffix: str | None = None, max_tokens: int | None = 16,
                          temperature: float = 0.8, top_p: float = 0.95, min_p: float = 0.05,
                          typical_p: float = 1.0, logprobs: int | None = None, echo: bool = False, stop=None,
                          frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                          repeat_penalty: float = 1.0, top_k: int = 40, stream: bool = False,
                          seed: int | None = None, tfs_z: float = 1.0, mirostat_mode: int = 0,
                          mirostat_tau: float = 5.0, mirostat_eta: float = 0.1, model: str | None = None,
                          stopping_criteria=None, logits_processor=None, grammar=None, logit_bias=None,
                          min_tokens: int = 0):
        """OpenAI-style text completion: a dict, or an iterator of chunk dicts when stream."""
        _check_tfs(tfs_z)
        if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int) or logprobs < 0):
            raise ValueError(f"logprobs must be None or an integer >= 0, got {logprobs!r}")
        params = self._sampling_params(temperature, top_k, top_p, min_p, repeat_penalty, frequency_penalty,
                                       presence_penalty, typical_p, mirostat_mode, mirostat_tau, mirostat_eta)
        prompt_ids, prompt_text = self._prompt_tokens(prompt, suffix)
        stops = stop_list(stop)
        max_new = self._max_new_tokens(max_tokens, len(prompt_ids))
        sampler = self._sampler(params, seed, logits_processor, logit_bias, grammar, min_tokens)
        return self._completion(prompt_ids, prompt_text, sampler, stops, max_new, stream, echo, logprobs,
                                stopping_criteria, model)

    def _completion(self, prompt_ids, prompt_text, sampler, stops, max_new, stream, echo, logprobs,
                    stopping_criteria, model):
        outcome = Outcome()
        echo_entries: list[TokenLogprob] = []

        def fill_echo_entries(rows: np.ndarray) -> None:
            # the logprob of prompt token i comes from row i-1; the first has none; a leading BOS is skipped
            for i, token in enumerate(prompt_ids):
                if i == 0 and token == self.tokenizer.bos_id:
                    continue
                if i == 0:
                    echo_entries.append(TokenLogprob(token, self._piece(token), None))
                else:
                    echo_entries.append(token_logprob(rows[i - 1], token, logprobs, self._piece))
            if echo_entries and echo_entries[0].logprob is not None:
                echo_entries[0] = TokenLogprob(echo_entries[0].token, echo_entries[0].text, None)

        on_prompt_logits = fill_echo_entries if echo and logprobs is not None else None
        pieces = self._text_loop(prompt_ids, sampler, stops, max_new, outcome, logprobs, stopping_criteria,
                                 on_prompt_logits)
        head = {"id": f"cmpl-{uuid.uuid4()}", "object": "text_completion", "created": int(time.time()),
                "model": model or self.model_path}
        base_offset = 0 if echo else len(prompt_text)

        def choice(text: str, finish_reason: str | None, lp: dict | None) -> dict:
            return {"text": text, "index": 0, "logprobs": lp, "finish_reason": finish_reason}

        if stream:
            def chunks() -> Iterator[dict]:
                offset, source = base_offset, pieces
                if echo:
                    # with logprobs, the first piece runs the prompt, which fills echo_entries
                    first = next(pieces, None) if logprobs is not None else None
                    lp = completion_logprobs(echo_entries, 0) if logprobs is not None else None
                    yield dict(head, choices=[choice(prompt_text, None, lp)])
                    offset = len(prompt_text)
                    source = itertools.chain([first] if first is not None else [], pieces)
                for piece, entries in source:
                    lp = completion_logprobs(entries, offset) if logprobs is not None else None
                    offset += sum(len(e.text) for e in entries)
                    yield dict(head, choices=[choice(piece, None, lp)])
                yield dict(head, choices=[choice("", outcome.finish_reason, None)])
            return chunks()
        parts = list(pieces)
        text = "".join(p for p, _ in parts)
        lp = None
        if logprobs is not None:
            lp = completion_logprobs(echo_entries + [e for _, es in parts for e in es], base_offset)
        return dict(head, choices=[choice(prompt_text + text if echo else text, outcome.finish_reason, lp)],
                    usage={"prompt_tokens": len(prompt_ids), "completion_tokens": outcome.completion_tokens,
                           "total_tokens": len(prompt_ids) + outcome.completion_tokens})

    __call__ = create_completion

    def create_chat_completion_openai_v1(self, *args, **kwargs):
        """create_chat_completion, returned as the openai package's typed objects."""
        try:
            from openai.types.chat import ChatCompletion, ChatCompletionChunk
        except ImportError:
            raise ImportError("create_chat_completion_openai_v1 needs the openai package (pip install openai)") from None
        result = self.create_chat_completion(*args, **kwargs)
        if kwargs.get("stream", False):
            return (ChatCompletionChunk(**chunk) for chunk in result)
        return ChatCompletion(**result)

    # ---- chat ----------------------------------------------------------------------------------

    @property
    def chat_formatter(self) -> ChatFormatter:
        if self._chat_formatter is None:
            # imported here: jinja2 costs ~6 MiB of RSS, paid only once a chat is rendered
            from .chat import CHATML_TEMPLATE, ChatFormatter

            if self.chat_format == "chatml":
                formatter = ChatFormatter.from_metadata(self.metadata)
                self._chat_formatter = ChatFormatter(CHATML_TEMPLATE, bos_token=formatter.bos_token,
                                                     eos_token=formatter.eos_token)
                self._chat_formatter.is_fallback = True   # <|im_end|> may be text: a stop string
            else:
                self._chat_formatter = ChatFormatter.from_metadata(self.metadata)
        return self._chat_formatter

    def chat_prompt_tokens(self, messages, tools: list | None = None) -> list[int]:
        """Token ids of the chat template applied to messages, with the generation prompt.
        tools: rendered by the template if it knows them, else in pyggml.tools' generic format."""
        from .tools import generic_messages, template_knows_tools

        formatter = self.chat_formatter
        has_calls = any(isinstance(m, dict) and m.get("tool_calls") for m in messages or [])
        if tools and template_knows_tools(formatter.source):
            text = formatter.render(messages, add_generation_prompt=True, tools=tools)
        elif tools or has_calls:
            text = formatter.render(generic_messages(messages, tools or []), add_generation_prompt=True)
        else:
            text = formatter.render(messages, add_generation_prompt=True)
        ids = self.tokenizer.encode(text, add_special=True, parse_special=True)
        bos = self.tokenizer.bos_id
        if len(ids) >= 2 and ids[0] == ids[1] == bos:  # the template wrote BOS too
            ids = ids[1:]
        if not ids:
            raise ValueError("the chat template produced an empty prompt")
        if len(ids) > self._n_ctx:
            raise ValueError(f"Requested tokens ({len(ids)}) exceed context window of {self._n_ctx}")
        return ids

    @serialized
    def create_chat_completion(self, messages, functions=None, function_call=None, tools=None, tool_choice=None,
                               temperature: float = 0.2, top_p: float = 0.95, top_k: int = 40,
                               min_p: float = 0.05, typical_p: float = 1.0, stream: bool = False, stop=None,
                               seed: int | None = None, response_format=None, max_tokens: int | None = None,
                               presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                               repeat_penalty: float = 1.0, tfs_z: float = 1.0, mirostat_mode: int = 0,
                               mirostat_tau: float = 5.0, mirostat_eta: float = 0.1, model: str | None = None,
                               logits_processor=None, grammar=None, logit_bias=None, logprobs: bool | None = None,
                               top_logprobs: int | None = None, stopping_criteria=None, min_tokens: int = 0):
        """OpenAI-style chat completion using the GGUF's chat template (sandboxed jinja2), with
        response_format (JSON mode / JSON schema), grammar, tools + tool_choice and logprobs:
        see pyggml.chat_completion."""
        from .chat_completion import chat_completion

        _check_tfs(tfs_z)
        params = self._sampling_params(temperature, top_k, top_p, min_p, repeat_penalty, frequency_penalty,
                                       presence_penalty, typical_p, mirostat_mode, mirostat_tau, mirostat_eta)
        return chat_completion(self, messages, params, functions=functions, function_call=function_call,
                               tools=tools, tool_choice=tool_choice, stream=stream, stop=stop, seed=seed,
                               response_format=response_format, max_tokens=max_tokens, model=model,
                               logits_processor=logits_processor, grammar=grammar, logit_bias=logit_bias,
                               logprobs=logprobs, top_logprobs=top_logprobs, stopping_criteria=stopping_criteria,
                               min_tokens=min_tokens)

    # ---- embeddings ----------------------------------------------------------------------------

    @serialized
    def embed(self, input, normalize: bool = False, truncate: bool = True, return_count: bool = False):
        """Embedding(s) of a string or a list of strings (needs Llama(embedding=True)): the final
        normed hidden states, pooled by pooling_type() — one vector per input, or one per token
        with pooling none. normalize: unit length. truncate: cut inputs to n_batch tokens."""
        if not self.embedding:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        inputs = [input] if isinstance(input, str) else input
        if isinstance(inputs, (bytes, dict)) or not isinstance(inputs, Sequence) or \
                not all(isinstance(t, str) for t in inputs):
            raise ValueError("input must be a string or a list of strings")
        data, total = [], 0
        try:
            for text in inputs:
                ids = self.tokenize(text.encode("utf-8"))
                if truncate:
                    ids = ids[: self.n_batch]
                if len(ids) > self.n_batch:
                    raise ValueError(f"Requested tokens ({len(ids)}) exceed batch size of {self.n_batch}")
                if not ids:
                    raise ValueError("cannot embed an empty input: it has no tokens")
                total += len(ids)
                self.reset()
                hidden = self.runner.eval(ids, logits_all=True, output="embd")
                vectors = pool(hidden, self._pooling_type)
                if normalize:
                    vectors = normalize_rows(vectors)
                data.append(vectors.tolist())
        finally:
            self.reset()   # the cache now holds an input, not the generation state
        output = data[0] if isinstance(input, str) else data
        return (output, total) if return_count else output

    def create_embedding(self, input, model: str | None = None) -> dict:
        """OpenAI-style embeddings response."""
        embeds, total = self.embed(input, return_count=True)
        if isinstance(input, str):
            embeds = [embeds]
        return {"object": "list", "model": model or self.model_path,
                "data": [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(embeds)],
                "usage": {"prompt_tokens": total, "total_tokens": total}}

    # ---- performance ---------------------------------------------------------------------------

    def perf_stats(self) -> PerfStats:
        """Accumulated timings since the model was loaded (llama.cpp's perf counters)."""
        t = self.runner.timings
        return PerfStats(load_ms=t["load_ms"], prompt_ms=t["prompt_ms"], prompt_tokens=t["prompt_tokens"],
                         eval_ms=t["eval_ms"], eval_tokens=t["eval_tokens"], sample_ms=self._sample_ms,
                         sample_runs=self._sample_runs, total_ms=(time.perf_counter() - self._t_start) * 1e3)


def _check_tfs(tfs_z) -> None:
    """tail-free sampling left llama.cpp; llama-cpp-python still takes tfs_z and ignores it.
    pyggml refuses a value that would change the output there."""
    if tfs_z != 1.0:
        raise ValueError(f"tfs_z={tfs_z!r} is not supported (tail-free sampling was removed from llama.cpp); "
                         f"leave it at 1.0")
