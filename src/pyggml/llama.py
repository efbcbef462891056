"""`Llama`: the high-level API, with llama-cpp-python's names, arguments and return shapes.

    llm = Llama("model.gguf", n_ctx=512, seed=42)
    out = llm("The capital of France is", max_tokens=16, temperature=0)
    out["choices"][0]["text"]                    # OpenAI-style completion dict
    for chunk in llm("Once", stream=True): ...   # or chunks
    llm.create_chat_completion([{"role": "user", "content": "Hi"}])

Under it: pyggml.runner.ModelRunner (graphs, KV cache), pyggml.tokenizer.Tokenizer,
pyggml.sampling.Sampler and pyggml.chat.ChatFormatter. A new prompt reuses the KV cache for the
prefix it shares with the tokens already evaluated.
"""
from __future__ import annotations

import numbers
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from .cli.timings import PerfStats, format_perf
from .guard import ObjectGuard, serialized
from .runner import ModelRunner
from .sampling import RANDOM_SEED, Sampler, SamplingParams, make_rng
from .tokenizer import Tokenizer

if TYPE_CHECKING:
    from .chat import ChatFormatter

# the fallback ChatML template's end-of-turn text, a stop string when it is not a token
_CHATML_END = "<|im_end|>"


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _stop_list(stop) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    for s in stops:
        if not isinstance(s, str):
            raise ValueError(f"stop must be a string or a list of strings, got an item {s!r}")
    return [s for s in stops if s]


def _find_stop(text: str, start: int, stops: Sequence[str]) -> int:
    """Index of the earliest stop string in text[start:], or -1."""
    return min((i for i in (text.find(s, start) for s in stops) if i >= 0), default=-1)


def _held_back(text: str, start: int, stops: Sequence[str]) -> int:
    """Length of the longest tail of text[start:] that is a proper prefix of a stop string:
    text that may still become a stop, so it is not emitted yet."""
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text) - start), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


@dataclass
class _Outcome:
    """Filled in by the token loop when it ends."""
    finish_reason: str = "length"
    completion_tokens: int = 0


class Llama:
    def __init__(self, model_path: str, *, n_ctx: int = 512, n_batch: int = 512, n_threads: int | None = None,
                 seed: int = RANDOM_SEED, logits_all: bool = False, last_n_tokens_size: int = 64,
                 verbose: bool = True):
        t_start = time.perf_counter()
        self._guard = ObjectGuard("Llama")   # thread safety: see pyggml.guard
        self.model_path = os.fspath(model_path)
        if not os.path.isfile(self.model_path):
            raise ValueError(f"Model path does not exist: {self.model_path}")
        n_ctx = _positive_int("n_ctx", n_ctx)
        n_batch = _positive_int("n_batch", n_batch)
        if n_threads is not None:
            n_threads = _positive_int("n_threads", n_threads)
        if isinstance(last_n_tokens_size, bool) or not isinstance(last_n_tokens_size, int) or last_n_tokens_size < -1:
            raise ValueError(f"last_n_tokens_size must be an integer >= -1, got {last_n_tokens_size!r}")
        self._seed_source = make_rng(seed)
        self.verbose = verbose
        self.logits_all = bool(logits_all)
        self.last_n_tokens_size = last_n_tokens_size
        self.runner = ModelRunner(self.model_path, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads)
        self.metadata = self.runner.metadata
        self.tokenizer = Tokenizer.from_metadata(self.metadata)
        self.n_batch = self.runner.n_batch
        self._n_ctx = n_ctx
        self._n_vocab = self.runner.config.n_vocab
        self._input_ids = np.zeros(n_ctx, dtype=np.int32)
        self._n_tokens = 0
        # logits_all: one row per cache position (np.zeros: pages are committed only when written)
        self._scores = np.zeros((n_ctx, self._n_vocab), np.float32) if self.logits_all else None
        self._last_logits: np.ndarray | None = None
        self._chat_formatter: ChatFormatter | None = None
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

    def token_bos(self) -> int:
        return -1 if self.tokenizer.bos_id is None else self.tokenizer.bos_id

    def token_eos(self) -> int:
        return -1 if self.tokenizer.eos_id is None else self.tokenizer.eos_id

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
        self._n_tokens = 0
        self._last_logits = None
        self.runner.reset()

    @serialized(takeover=False)
    def set_seed(self, seed: int) -> None:
        """Seed of the stream that gives each completion without its own seed its generator."""
        self._seed_source = make_rng(seed)

    def close(self) -> None:
        """Free the model; a call running on another thread stops with ClosedError."""
        self._guard.close(self.runner.close)

    def __enter__(self) -> Llama:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- tokens --------------------------------------------------------------------------------

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of UTF-8 text; add_bos adds BOS if the model's metadata asks for it;
        special parses control-token text such as "<|im_start|>" into the token."""
        return self.tokenizer.encode(text, add_special=add_bos, parse_special=special)

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        return self.tokenizer.decode(self._check_tokens(tokens), special=special)

    def _check_tokens(self, tokens) -> list[int]:
        ids = [int(t) for t in tokens]
        for t in ids:
            if not 0 <= t < self._n_vocab:
                raise ValueError(f"token id {t} is outside the vocabulary 0..{self._n_vocab - 1}")
        return ids

    # ---- evaluation ----------------------------------------------------------------------------

    @serialized
    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluate tokens after the first n_tokens positions (batches of n_batch)."""
        ids = self._check_tokens(tokens)
        if not ids:
            return
        n_past = self._n_tokens
        if n_past + len(ids) > self._n_ctx:
            raise ValueError(f"Requested tokens ({n_past + len(ids)}) exceed context window of {self._n_ctx}")
        if self.runner.n_past > n_past:
            self.runner.truncate(n_past)
        logits = self.runner.eval(ids, logits_all=self.logits_all)
        self._input_ids[n_past:n_past + len(ids)] = ids
        if self._scores is not None:
            self._scores[n_past:n_past + len(ids)] = logits
            self._last_logits = self._scores[n_past + len(ids) - 1:n_past + len(ids)]
        else:
            self._last_logits = logits[-1:]
        self._n_tokens = n_past + len(ids)

    def _prefill(self, tokens: list[int]) -> None:
        """Make the cache hold exactly `tokens` with fresh logits for the last one, evaluating
        only what differs from the tokens already cached."""
        cached = self.input_ids
        n_same = 0
        limit = min(len(cached), len(tokens) - 1)  # the last token is always evaluated
        while n_same < limit and cached[n_same] == tokens[n_same]:
            n_same += 1
        self._n_tokens = n_same
        self.eval(tokens[n_same:])

    @serialized
    def generate(self, tokens: Sequence[int], top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05,
                 temp: float = 0.80, repeat_penalty: float = 1.0, reset: bool = True,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                 seed: int | None = None) -> Iterator[int]:
        """Tokens sampled after `tokens`, one per step, until the context is full or the caller
        stops. reset=True starts from `tokens` alone (reusing the cached common prefix);
        reset=False appends them to what is cached."""
        params = self._sampling_params(temp, top_k, top_p, min_p, repeat_penalty,
                                       frequency_penalty, presence_penalty)
        ids = self._check_tokens(tokens)
        if reset and not ids:
            raise ValueError("generate needs at least one token")
        return self._token_loop(ids, params, self._completion_rng(seed), reset)

    def _token_loop(self, ids: list[int], params: SamplingParams, rng: np.random.Generator,
                    reset: bool = True) -> Iterator[int]:
        if reset:
            self._prefill(ids)
        else:
            self.eval(ids)
        if self._last_logits is None:
            raise ValueError("nothing evaluated yet: no logits to sample from")
        sampler = Sampler(params, rng)
        while True:
            t0 = time.perf_counter()
            token = sampler.sample(self._last_logits[0], self.input_ids)
            self._sample_ms += (time.perf_counter() - t0) * 1e3
            self._sample_runs += 1
            yield token
            if self._n_tokens >= self._n_ctx:
                return
            self.eval([token])

    def _sampling_params(self, temperature, top_k, top_p, min_p, repeat_penalty,
                         frequency_penalty, presence_penalty) -> SamplingParams:
        return SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                              repeat_penalty=repeat_penalty, repeat_last_n=self.last_n_tokens_size,
                              frequency_penalty=frequency_penalty, presence_penalty=presence_penalty)

    def _completion_rng(self, seed: int | None) -> np.random.Generator:
        if seed is None:
            return np.random.default_rng(int(self._seed_source.integers(0, 2**63)))
        return make_rng(seed)

    # ---- completions ---------------------------------------------------------------------------

    def _prompt_tokens(self, prompt) -> tuple[list[int], str]:
        if isinstance(prompt, (bytes, bytearray)):
            prompt = bytes(prompt).decode("utf-8", errors="replace")
        if isinstance(prompt, str):
            if prompt == "":
                raise ValueError("prompt is empty")
            ids = self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            text = prompt
        elif isinstance(prompt, Sequence) and all(isinstance(t, numbers.Integral) for t in prompt):
            ids = self._check_tokens(prompt)
            text = self.detokenize(ids).decode("utf-8", errors="replace")
        else:
            raise ValueError(f"prompt must be a string or a list of token ids, got {type(prompt).__name__}")
        if not ids:
            raise ValueError("prompt is empty after tokenization")
        if len(ids) > self._n_ctx:
            raise ValueError(f"Requested tokens ({len(ids)}) exceed context window of {self._n_ctx}")
        return ids, text

    def _max_new_tokens(self, max_tokens, n_prompt: int) -> int:
        room = self._n_ctx - n_prompt + 1  # the last sampled token needs no cache slot
        if max_tokens is None or (isinstance(max_tokens, numbers.Integral) and max_tokens <= 0):
            return room
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, numbers.Integral):
            raise ValueError(f"max_tokens must be an integer or None, got {max_tokens!r}")
        return min(int(max_tokens), room)

    def _text_loop(self, prompt_ids: list[int], params: SamplingParams, rng: np.random.Generator,
                   stops: list[str], max_new: int, outcome: _Outcome) -> Iterator[str]:
        """Text pieces of the completion as they become final: stops at an end-of-generation
        token, at a stop string (cut off, never partly emitted) or after max_new tokens."""
        detok = self.tokenizer.streaming_detokenizer()
        text, emitted, cut = "", 0, -1
        outcome.finish_reason = "length"
        for token in self._token_loop(prompt_ids, params, rng):
            if self.tokenizer.is_eog(token):
                outcome.finish_reason = "stop"
                break
            outcome.completion_tokens += 1
            text += detok.feed(token)
            cut = _find_stop(text, emitted, stops)
            if cut >= 0:
                break
            ready = len(text) - _held_back(text, emitted, stops)
            if ready > emitted:
                yield text[emitted:ready]
                emitted = ready
            if outcome.completion_tokens >= max_new:
                break
        if cut < 0:
            text += detok.flush()  # an unfinished UTF-8 sequence may complete a stop string
            cut = _find_stop(text, emitted, stops)
        if cut >= 0:
            outcome.finish_reason, text = "stop", text[:cut]
        if len(text) > emitted:
            yield text[emitted:]
        if self.verbose:
            print(format_perf(self.perf_stats()), file=sys.stderr)

    @serialized
    def create_completion(self, prompt, max_tokens: int | None = 16, temperature: float = 0.8,
                          top_p: float = 0.95, min_p: float = 0.05, echo: bool = False, stop=None,
                          frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                          repeat_penalty: float = 1.0, top_k: int = 40, stream: bool = False,
                          seed: int | None = None):
        """OpenAI-style text completion: a dict, or an iterator of chunk dicts when stream."""
        params = self._sampling_params(temperature, top_k, top_p, min_p, repeat_penalty,
                                       frequency_penalty, presence_penalty)
        prompt_ids, prompt_text = self._prompt_tokens(prompt)
        stops = _stop_list(stop)
        max_new = self._max_new_tokens(max_tokens, len(prompt_ids))
        outcome = _Outcome()
        pieces = self._text_loop(prompt_ids, params, self._completion_rng(seed), stops, max_new, outcome)
        head = {"id": f"cmpl-{uuid.uuid4()}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_path}

        def choice(text: str, finish_reason: str | None) -> dict:
            return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}

        if stream:
            def chunks() -> Iterator[dict]:
                if echo:
                    yield dict(head, choices=[choice(prompt_text, None)])
                for piece in pieces:
                    yield dict(head, choices=[choice(piece, None)])
                yield dict(head, choices=[choice("", outcome.finish_reason)])
            return chunks()
        text = "".join(pieces)
        return dict(head, choices=[choice(prompt_text + text if echo else text, outcome.finish_reason)],
                    usage={"prompt_tokens": len(prompt_ids), "completion_tokens": outcome.completion_tokens,
                           "total_tokens": len(prompt_ids) + outcome.completion_tokens})

    __call__ = create_completion

    # ---- chat ----------------------------------------------------------------------------------

    @property
    def chat_formatter(self) -> ChatFormatter:
        if self._chat_formatter is None:
            # imported here: jinja2 costs ~6 MiB of RSS, paid only once a chat is rendered
            from .chat import ChatFormatter

            self._chat_formatter = ChatFormatter.from_metadata(self.metadata)
        return self._chat_formatter

    def chat_prompt_tokens(self, messages) -> list[int]:
        """Token ids of the chat template applied to messages, with the generation prompt."""
        text = self.chat_formatter.render(messages, add_generation_prompt=True)
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
    def create_chat_completion(self, messages, temperature: float = 0.2, top_p: float = 0.95,
                               top_k: int = 40, min_p: float = 0.05, stream: bool = False, stop=None,
                               seed: int | None = None, max_tokens: int | None = None,
                               presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                               repeat_penalty: float = 1.0):
        """OpenAI-style chat completion using the GGUF's chat template (sandboxed jinja2)."""
        params = self._sampling_params(temperature, top_k, top_p, min_p, repeat_penalty,
                                       frequency_penalty, presence_penalty)
        prompt_ids = self.chat_prompt_tokens(messages)
        stops = _stop_list(stop)
        if self.chat_formatter.is_fallback and _CHATML_END not in stops:
            stops.append(_CHATML_END)
        max_new = self._max_new_tokens(max_tokens, len(prompt_ids))
        outcome = _Outcome()
        pieces = self._text_loop(prompt_ids, params, self._completion_rng(seed), stops, max_new, outcome)
        head = {"id": f"chatcmpl-{uuid.uuid4()}", "created": int(time.time()), "model": self.model_path}
        if stream:
            def chunks() -> Iterator[dict]:
                def chunk(delta: dict, finish_reason: str | None) -> dict:
                    return dict(head, object="chat.completion.chunk", choices=[
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])
                yield chunk({"role": "assistant"}, None)
                for piece in pieces:
                    yield chunk({"content": piece}, None)
                yield chunk({}, outcome.finish_reason)
            return chunks()
        text = "".join(pieces)
        return dict(head, object="chat.completion", choices=[
            {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
             "finish_reason": outcome.finish_reason}],
            usage={"prompt_tokens": len(prompt_ids), "completion_tokens": outcome.completion_tokens,
                   "total_tokens": len(prompt_ids) + outcome.completion_tokens})

    # ---- performance ---------------------------------------------------------------------------

    def perf_stats(self) -> PerfStats:
        """Accumulated timings since the model was loaded (llama.cpp's perf counters)."""
        t = self.runner.timings
        return PerfStats(load_ms=t["load_ms"], prompt_ms=t["prompt_ms"], prompt_tokens=t["prompt_tokens"],
                         eval_ms=t["eval_ms"], eval_tokens=t["eval_tokens"], sample_ms=self._sample_ms,
                         sample_runs=self._sample_runs, total_ms=(time.perf_counter() - self._t_start) * 1e3)
