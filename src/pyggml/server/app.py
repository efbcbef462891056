"""The OpenAI-compatible HTTP application (FastAPI) over a Scheduler.

Generation requests become scheduler Jobs; the scheduler thread sends their events back into
the event loop through an asyncio.Queue. Streams are Server-Sent Events (`data: {json}` lines,
then `data: [DONE]`) written with Starlette's StreamingResponse, which cancels the handler when
the client goes away; the handler's `finally` then cancels the job, so its sequence leaves the
batch before the next engine step. Every error is OpenAI's JSON: {"error": {"message", "type",
"param", "code"}}."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..batching import BatchEngine
from ..logprobs import chat_logprobs, completion_logprobs
from ..sampling import SamplingParams
from ..scheduler import Job, QueueFull, Scheduler
from .schemas import (ChatCompletionRequest, CompletionRequest, DetokenizeRequest, EmbeddingRequest,
                      TokenizeRequest)

_CHATML_END = "<|im_end|>"   # the fallback ChatML template's end of turn, when it is not a token


class APIError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code


def _error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class _APIKeyGuard:
    """ASGI middleware: /v1/* and /extras/* need `Authorization: Bearer <key>` (401 otherwise)."""

    def __init__(self, app, api_key: str):
        self.app, self.api_key = app, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(("/v1/", "/extras/")):
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            if given != f"Bearer {self.api_key}":
                body = _error_body("Incorrect or missing API key: send 'Authorization: Bearer <key>'",
                                   "invalid_request_error", code="invalid_api_key")
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ServerState:
    def __init__(self, engine: BatchEngine, model_path: str, max_queue: int):
        self.engine = engine
        self.model_path = os.fspath(model_path)
        self.model_id = os.path.splitext(os.path.basename(self.model_path))[0]
        self.created = int(time.time())
        self.scheduler = Scheduler(engine, max_queue=max_queue)
        self.requests = Counter()          # (endpoint, status) -> count
        self._chat_formatter = None
        self._grammar_vocab = None         # grammar.TokenizerAdapter, built on the first use
        self._embedder = None              # a Llama(embedding=True), built on the first use
        self._lock = threading.Lock()

    @property
    def chat_formatter(self):
        if self._chat_formatter is None:
            from ..chat import ChatFormatter
            self._chat_formatter = ChatFormatter.from_metadata(self.engine.metadata)
        return self._chat_formatter

    # ---- request checks ---------------------------------------------------------------------------

    def check_model(self, model: str | None) -> None:
        if model not in (None, "", self.model_id, self.model_path):
            raise APIError(404, f"The model '{model}' does not exist; this server serves '{self.model_id}'",
                           param="model", code="model_not_found")

    def check_context(self, n_prompt: int, param: str) -> None:
        if n_prompt > self.engine.n_ctx:
            raise APIError(400, f"This model's maximum context length is {self.engine.n_ctx} tokens; the "
                           f"prompt has {n_prompt} tokens", param=param, code="context_length_exceeded")

    def max_new(self, max_tokens: int | None) -> int | None:
        if max_tokens is None:
            return None
        if not 1 <= max_tokens <= self.engine.n_ctx:
            raise APIError(400, f"max_tokens must be between 1 and the context size {self.engine.n_ctx} "
                           f"(or null), got {max_tokens}", param="max_tokens", code="invalid_value")
        return max_tokens

    @staticmethod
    def sampling(body) -> SamplingParams:
        if body.n != 1:
            raise APIError(400, f"n={body.n}: only one choice per request is supported", param="n")
        return SamplingParams(temperature=body.temperature, top_k=body.top_k, top_p=body.top_p, min_p=body.min_p,
                              repeat_penalty=body.repeat_penalty, frequency_penalty=body.frequency_penalty,
                              presence_penalty=body.presence_penalty)

    @staticmethod
    def stops(stop) -> list[str]:
        if stop is None:
            return []
        return [stop] if isinstance(stop, str) else list(stop)

    def prompt_tokens(self, prompt) -> list[int]:
        tok = self.engine.tokenizer
        if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
            if len(prompt) != 1:
                raise APIError(400, f"{len(prompt)} prompts given: one per request is supported", param="prompt")
            prompt = prompt[0]
        if isinstance(prompt, str):
            ids = tok.encode(prompt, add_special=True, parse_special=True)
        else:
            ids = list(prompt)
            bad = [t for t in ids if not 0 <= t < self.engine.config.n_vocab]
            if bad:
                raise APIError(400, f"token id {bad[0]} is outside the vocabulary 0..{self.engine.config.n_vocab - 1}",
                               param="prompt")
        if not ids:
            raise APIError(400, "the prompt is empty", param="prompt")
        self.check_context(len(ids), "prompt")
        return ids

    def chat_tokens(self, messages: list[dict], tools: list[dict]) -> list[int]:
        """The chat template over messages; tools rendered as pyggml.Llama renders them (by the
        template when it knows tools, else in pyggml.tools' generic format)."""
        from ..tools import generic_messages, template_knows_tools

        fmt = self.chat_formatter
        has_calls = any(isinstance(m, dict) and m.get("tool_calls") for m in messages)
        try:
            if tools and template_knows_tools(fmt.source):
                text = fmt.render(messages, add_generation_prompt=True, tools=tools)
            elif tools or has_calls:
                text = fmt.render(generic_messages(messages, tools), add_generation_prompt=True)
            else:
                text = fmt.render(messages, add_generation_prompt=True)
        except (ValueError, TypeError) as e:
            raise APIError(400, f"messages: {e}", param="messages") from e
        tok = self.engine.tokenizer
        ids = tok.encode(text, add_special=True, parse_special=True)
        if len(ids) >= 2 and ids[0] == ids[1] == tok.bos_id:   # the template wrote BOS too
            ids = ids[1:]
        if not ids:
            raise APIError(400, "the chat template produced an empty prompt", param="messages")
        self.check_context(len(ids), "messages")
        return ids

    def constraint(self, response_format, tool_schema: dict | None = None):
        """A grammar constraint for response_format, or for a forced tool call's JSON schema
        (None for free text). Blocking: run in a thread."""
        if tool_schema is None and (response_format is None or response_format.get("type", "text") == "text"):
            return None
        param = "tool_choice" if tool_schema is not None else "response_format"
        try:
            from .. import grammar

            g = (grammar.LlamaGrammar.from_json_schema(tool_schema) if tool_schema is not None
                 else grammar.grammar_for_response_format(response_format))
            with self._lock:
                if self._grammar_vocab is None:
                    self._grammar_vocab = grammar.TokenizerAdapter(self.engine.tokenizer, self.engine.config.n_vocab)
            return grammar.GrammarConstraint(self._grammar_vocab, g)
        except ImportError as e:
            raise APIError(501, f"{param} needs the grammar support: {e}", type="server_error",
                           param=param, code="not_implemented") from e
        except (ValueError, TypeError) as e:
            raise APIError(400, f"{param}: {e}", param=param, code="invalid_schema") from e

    def embed(self, inputs) -> dict:
        """OpenAI embeddings of a string or list of strings (blocking: run in a thread): one vector
        per input, pooled as the model says, or by the mean for a model that names no pooling
        (OpenAI's shape has no per-token vectors). Computed by a Llama of its own, one at a time."""
        from ..llama import Llama
        from ..llama_args import POOLING_MEAN, POOLING_UNSPECIFIED

        with self._lock:
            if self._embedder is None:
                arch = self.engine.config.arch
                pooling = POOLING_UNSPECIFIED if f"{arch}.pooling_type" in self.engine.metadata else POOLING_MEAN
                self._embedder = Llama(self.model_path, n_ctx=self.engine.n_ctx, n_batch=self.engine.n_ctx,
                                       n_threads=self.engine.runner.n_threads, embedding=True,
                                       pooling_type=pooling, verbose=False)
            out = self._embedder.create_embedding(inputs)
        out["model"] = self.model_id
        return out

    # ---- running a job ------------------------------------------------------------------------------

    def start(self, prompt: list[int], params: SamplingParams, max_new, stops, seed, *, constraint=None,
              n_logprobs: int | None = None) -> tuple[Job, asyncio.Queue]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def on_event(kind, payload):
            loop.call_soon_threadsafe(events.put_nowait, (kind, payload))

        if seed is not None and seed < 0:
            seed = None
        job = Job(prompt, params, on_event, max_new=max_new, stops=stops, seed=seed, constraint=constraint,
                  n_logprobs=n_logprobs)
        try:
            self.scheduler.submit(job)
        except QueueFull as e:
            raise APIError(503, f"Server busy: {e}; retry later", type="server_error", code="queue_full") from e
        return job, events

    async def events(self, job: Job, events: asyncio.Queue) -> AsyncIterator[tuple[str, Any]]:
        """The job's events up to its "done" or "error"; cancels it if the consumer stops early
        (client gone)."""
        try:
            while True:
                kind, payload = await events.get()
                yield kind, payload
                if kind in ("done", "error"):
                    return
        finally:
            if job.finish_reason is None:
                self.scheduler.cancel(job)


def _generation_error(message: str) -> dict:
    """A stream's last event when its generation failed (the HTTP status was already sent)."""
    return _error_body(f"generation failed: {message}", "server_error")


def _sse(data) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def create_app(engine: BatchEngine, model_path: str, *, api_key: str | None = None, max_queue: int = 64,
               drain_timeout: float = 30.0) -> FastAPI:
    state = ServerState(engine, model_path, max_queue)

    @asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.to_thread(state.scheduler.shutdown, True, drain_timeout)
        # uvicorn then re-raises the SIGINT/SIGTERM it caught: the exit status names the signal
        print(f"pyggml-server: stopped ({state.scheduler.counters['jobs_completed']} generations served)",
              file=sys.stderr, flush=True)

    app = FastAPI(title="pyggml OpenAI-compatible server", version="0.1.0", lifespan=lifespan)
    app.state.pyggml = state
    if api_key:
        app.add_middleware(_APIKeyGuard, api_key=api_key)

    # ---- errors ---------------------------------------------------------------------------------------

    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        state.requests[(request.url.path, e.status)] += 1
        return JSONResponse(_error_body(e.message, e.type, e.param, e.code), status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        errors = e.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            message, param = f"The request body is not valid JSON: {first.get('msg', '')}", None
        else:
            loc = [str(p) for p in first.get("loc", ()) if p != "body"]
            param = loc[0] if loc else None      # the top-level field (not the union member tried)
            message = "; ".join(f"{'.'.join(str(p) for p in err.get('loc', ()) if p != 'body') or 'body'}: "
                                f"{err.get('msg')}" for err in errors[:5])
        state.requests[(request.url.path, 400)] += 1
        return JSONResponse(_error_body(message, "invalid_request_error", param, "invalid_request"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        kind = "not_found_error" if e.status_code == 404 else "invalid_request_error"
        return JSONResponse(_error_body(str(e.detail), kind), status_code=e.status_code)

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, e: ValueError):
        state.requests[(request.url.path, 400)] += 1
        return JSONResponse(_error_body(str(e), "invalid_request_error"), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):
        state.requests[(request.url.path, 500)] += 1
        return JSONResponse(_error_body(f"internal error: {type(e).__name__}: {e}", "server_error"), status_code=500)

    # ---- plain endpoints ---------------------------------------------------------------------------

    @app.get("/health")
    async def health():
        return {"status": "ok", "slots_total": engine.n_seq_max, "slots_active": state.scheduler.active,
                "queue_depth": state.scheduler.queue_depth}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": state.model_id, "object": "model", "created": state.created,
                                            "owned_by": "pyggml"}]}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics():
        return _prometheus(state)

    @app.post("/extras/tokenize")
    async def tokenize(body: TokenizeRequest):
        state.check_model(body.model)
        ids = engine.tokenizer.encode(body.input, add_special=body.add_special, parse_special=body.parse_special)
        return {"tokens": ids}

    @app.post("/extras/detokenize")
    async def detokenize(body: DetokenizeRequest):
        state.check_model(body.model)
        bad = [t for t in body.tokens if not 0 <= t < engine.config.n_vocab]
        if bad:
            raise APIError(400, f"token id {bad[0]} is outside the vocabulary 0..{engine.config.n_vocab - 1}",
                           param="tokens")
        return {"text": engine.tokenizer.decode(body.tokens).decode("utf-8", errors="replace")}

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest):
        state.check_model(body.model)
        inputs = body.input
        if isinstance(inputs, list) and inputs and not all(isinstance(x, str) for x in inputs):
            raise APIError(400, "input: token-id inputs are not supported; send a string or a list of strings",
                           param="input")
        if inputs == "" or inputs == []:
            raise APIError(400, "input is empty", param="input")
        out = await asyncio.to_thread(state.embed, inputs)
        state.requests[("/v1/embeddings", 200)] += 1
        return out

    # ---- generation --------------------------------------------------------------------------------

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest):
        state.check_model(body.model)
        params = state.sampling(body)
        prompt = state.prompt_tokens(body.prompt)
        max_new = state.max_new(body.max_tokens)
        constraint = await asyncio.to_thread(state.constraint, body.response_format)
        job, events = state.start(prompt, params, max_new, state.stops(body.stop), body.seed,
                                  constraint=constraint, n_logprobs=body.logprobs)
        head = {"id": f"cmpl-{uuid.uuid4()}", "object": "text_completion", "created": int(time.time()),
                "model": state.model_id}
        echo = engine.tokenizer.decode(prompt).decode("utf-8", errors="replace") if body.echo else ""
        offset = [len(echo)]

        def choice(text, finish, entries=None):
            lp = None
            if body.logprobs is not None and entries is not None:
                lp = completion_logprobs(entries, offset[0])
                offset[0] += sum(len(e.text) for e in entries)
            return {"text": text, "index": 0, "logprobs": lp, "finish_reason": finish}

        def usage():
            return {"prompt_tokens": len(prompt), "completion_tokens": job.completion_tokens,
                    "total_tokens": len(prompt) + job.completion_tokens}

        state.requests[("/v1/completions", 200)] += 1
        if body.stream:
            async def stream():
                if echo:
                    yield _sse(dict(head, choices=[choice(echo, None)]))
                async for kind, payload in state.events(job, events):
                    if kind == "text":
                        yield _sse(dict(head, choices=[choice(payload[0], None, payload[1])]))
                    elif kind == "error":
                        yield _sse(_generation_error(payload))
                        return
                    else:
                        yield _sse(dict(head, choices=[choice("", payload)]))
                if _include_usage(body):
                    yield _sse(dict(head, choices=[], usage=usage()))
                yield _sse("[DONE]")
            return _stream_response(stream())
        text, finish, entries = await _collect(state, job, events)
        return dict(head, choices=[choice(echo + text, finish, entries)], usage=usage())

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest):
        state.check_model(body.model)
        params = state.sampling(body)
        from ..tools import call_schema, check_tools, forced_tool_names, parse_tool_calls

        try:
            tools = check_tools(body.tools)
            forced = forced_tool_names(tools, body.tool_choice)
        except ValueError as e:
            raise APIError(400, str(e), param="tools" if "tool_choice" not in str(e) else "tool_choice") from e
        use_tools = tools if tools and body.tool_choice != "none" else []
        if forced and body.response_format is not None and body.response_format.get("type", "text") != "text":
            raise APIError(400, "give at most one of response_format and a forced tool_choice", param="tool_choice")
        if body.top_logprobs is not None and not body.logprobs:
            raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
        n_logprobs = (body.top_logprobs or 0) if body.logprobs else None
        prompt = state.chat_tokens(body.messages, use_tools)
        max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        max_new = state.max_new(max_tokens)
        stops = state.stops(body.stop)
        if state.chat_formatter.is_fallback and _CHATML_END not in stops:
            stops.append(_CHATML_END)
        constraint = await asyncio.to_thread(state.constraint, body.response_format,
                                             call_schema(tools, forced) if forced else None)
        job, events = state.start(prompt, params, max_new, stops, body.seed, constraint=constraint,
                                  n_logprobs=n_logprobs)
        head = {"id": f"chatcmpl-{uuid.uuid4()}", "created": int(time.time()), "model": state.model_id}

        def logprobs(entries):
            return chat_logprobs(entries) if n_logprobs is not None and entries is not None else None

        def usage():
            return {"prompt_tokens": len(prompt), "completion_tokens": job.completion_tokens,
                    "total_tokens": len(prompt) + job.completion_tokens}

        def message(text, finish):
            """The reply, as tool calls when tools were offered and the text is a call."""
            calls = parse_tool_calls(text, tools) if use_tools else []
            if not calls:
                return {"role": "assistant", "content": text}, finish
            return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"

        state.requests[("/v1/chat/completions", 200)] += 1
        if body.stream:
            def chunk(delta, finish, entries=None):
                return dict(head, object="chat.completion.chunk",
                            choices=[{"index": 0, "delta": delta, "logprobs": logprobs(entries), "finish_reason": finish}])

            async def stream():
                yield _sse(chunk({"role": "assistant", "content": ""}, None))
                if use_tools:     # a reply may be a tool call: known only at its end
                    try:
                        text, finish, entries = await _collect(state, job, events)
                    except APIError as e:
                        yield _sse(_error_body(e.message, e.type))
                        return
                    msg, finish = message(text, finish)
                    delta = ({"tool_calls": [dict(c, index=i) for i, c in enumerate(msg["tool_calls"])]}
                             if msg.get("tool_calls") else {"content": text})
                    yield _sse(chunk(delta, None, entries))
                    yield _sse(chunk({}, finish))
                    if _include_usage(body):
                        yield _sse(dict(head, object="chat.completion.chunk", choices=[], usage=usage()))
                    yield _sse("[DONE]")
                    return
                async for kind, payload in state.events(job, events):
                    if kind == "text":
                        yield _sse(chunk({"content": payload[0]}, None, payload[1]))
                    elif kind == "error":
                        yield _sse(_generation_error(payload))
                        return
                    else:
                        yield _sse(chunk({}, payload))
                if _include_usage(body):
                    yield _sse(dict(head, object="chat.completion.chunk", choices=[], usage=usage()))
                yield _sse("[DONE]")
            return _stream_response(stream())
        text, finish, entries = await _collect(state, job, events)
        msg, finish = message(text, finish)
        return dict(head, object="chat.completion",
                    choices=[{"index": 0, "message": msg, "logprobs": logprobs(entries), "finish_reason": finish}],
                    usage=usage())

    return app


def _include_usage(body) -> bool:
    return bool((body.stream_options or {}).get("include_usage"))


async def _collect(state: ServerState, job: Job, events: asyncio.Queue) -> tuple[str, str, list]:
    pieces, finish, entries = [], None, []
    async for kind, payload in state.events(job, events):
        if kind == "text":
            pieces.append(payload[0])
            entries.extend(payload[1])
        elif kind == "error":
            raise APIError(500, f"generation failed: {payload}", type="server_error")
        else:
            finish = payload
    return "".join(pieces), finish, entries


def _stream_response(gen) -> StreamingResponse:
    return StreamingResponse(gen, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _prometheus(state: ServerState) -> str:
    sched, eng = state.scheduler, state.engine
    t = eng.totals
    lines = [
        "# HELP pyggml_requests_total HTTP requests answered, by endpoint and status.",
        "# TYPE pyggml_requests_total counter",
    ]
    for (path, status), n in sorted(state.requests.items()):
        lines.append(f'pyggml_requests_total{{endpoint="{path}",status="{status}"}} {n}')
    gauges = {
        "pyggml_queue_depth": ("Requests waiting for a sequence slot.", sched.queue_depth),
        "pyggml_slots_active": ("Sequences being generated.", sched.active),
        "pyggml_slots_total": ("Sequence slots (--parallel).", eng.n_seq_max),
        "pyggml_kv_cells_used": ("KV cache cells of running requests.", eng.cells.n_running),
        "pyggml_kv_cells_kept": ("KV cache cells of finished requests kept for prompt-prefix reuse.",
                                 eng.cells.n_cells - eng.cells.n_free - eng.cells.n_running),
        "pyggml_prompt_tokens_per_second": ("Prompt tokens per second of the engine steps that read prompts.",
                                            t.n_prompt * 1e3 / t.mixed_ms if t.mixed_ms else 0.0),
        "pyggml_decode_tokens_per_second": ("Aggregate decoded tokens per second of the decode-only steps.",
                                            t.decode_only_tokens * 1e3 / t.decode_only_ms if t.decode_only_ms else 0.0),
    }
    for name, (help_, value) in gauges.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"]
    counters = {
        "pyggml_prompt_tokens_total": ("Prompt tokens evaluated.", sched.counters["prompt_tokens"]),
        "pyggml_prompt_tokens_reused_total": ("Prompt tokens found in kept prefixes (not evaluated).",
                                              sched.counters["prompt_tokens_reused"]),
        "pyggml_generated_tokens_total": ("Tokens sampled.", sched.counters["generated_tokens"]),
        "pyggml_jobs_completed_total": ("Generations finished.", sched.counters["jobs_completed"]),
        "pyggml_jobs_cancelled_total": ("Generations cancelled (client gone).", sched.counters["jobs_cancelled"]),
        "pyggml_jobs_rejected_total": ("Requests refused because the queue was full.", sched.counters["jobs_rejected"]),
        "pyggml_engine_seconds_total": ("Seconds spent in engine steps.", sched.step_seconds),
    }
    for name, (help_, value) in counters.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} counter", f"{name} {value:g}"]
    return "\n".join(lines) + "\n"
