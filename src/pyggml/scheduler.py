"""Scheduler: one thread drives a BatchEngine for requests submitted from other threads.

    sched = Scheduler(engine, max_queue=64)
    job = sched.submit(Job(prompt_ids, params, max_new=32, stops=["\\n\\n"], on_event=callback))
    ...; sched.cancel(job)          # e.g. the client went away; freed before the next step
    sched.shutdown(drain=True)

A job waits in a bounded queue (QueueFull when it is full) until a sequence slot is free, then
takes part in every engine step until it ends. Its callback receives, on the scheduler thread:
("text", (piece, logprobs)) as text becomes final (stop strings are cut, never partly sent;
logprobs: the TokenLogprob entries of the tokens since the previous piece, when asked for), then
exactly one ("done", finish_reason) or ("error", message)."""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .batching import BatchEngine, Seq
from .stops import find_stop, held_back
from .sampling import SamplingParams


class QueueFull(RuntimeError):
    pass


class TextStream:
    """Token ids -> final text pieces, honouring stop strings (held back while they may form)."""

    def __init__(self, tokenizer, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self._detok = tokenizer.streaming_detokenizer()
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, token: int) -> str:
        """Text now final; sets self.stopped when a stop string appeared (text cut before it)."""
        self.text += self._detok.feed(token)
        return self._advance(final=False)

    def flush(self) -> str:
        if not self.stopped:
            self.text += self._detok.flush()   # an unfinished UTF-8 sequence may complete a stop
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        if self.stopped:
            return ""
        cut = find_stop(self.text, self.emitted, self.stops)
        if cut >= 0:
            self.stopped, self.text = True, self.text[:cut]
            ready = cut
        else:
            ready = len(self.text) if final else len(self.text) - held_back(self.text, self.emitted, self.stops)
        piece = self.text[self.emitted:ready] if ready > self.emitted else ""
        self.emitted = max(self.emitted, ready)
        return piece


@dataclass(eq=False)
class Job:
    prompt: list[int]
    params: SamplingParams
    on_event: Callable[[str, object], None]
    max_new: int | None = None
    stops: list[str] = field(default_factory=list)
    seed: int | None = None
    constraint: object = None       # see BatchEngine.add
    n_logprobs: int | None = None
    # filled by the scheduler
    completion_tokens: int = 0
    finish_reason: str | None = None
    cancelled: bool = False
    seq: Seq | None = None
    text: TextStream | None = None
    submitted_at: float = 0.0
    logprobs_sent: int = 0


class Scheduler:
    def __init__(self, engine: BatchEngine, *, max_queue: int = 64):
        self.engine = engine
        self.max_queue = max_queue
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: dict[int, Job] = {}          # seq_id -> job
        self._cv = threading.Condition()
        self._stopping = False
        self._accepting = True
        self.counters = collections.Counter()       # jobs_*, prompt_tokens, generated_tokens
        self.step_seconds = 0.0
        self._thread = threading.Thread(target=self._loop, name="pyggml-scheduler", daemon=True)
        self._thread.start()

    # ---- called from other threads --------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        with self._cv:
            if not self._accepting:
                raise QueueFull("the server is shutting down")
            if len(self._waiting) >= self.max_queue:
                self.counters["jobs_rejected"] += 1
                raise QueueFull(f"the request queue is full ({self.max_queue} waiting)")
            job.submitted_at = time.perf_counter()
            self._waiting.append(job)
            self.counters["jobs_submitted"] += 1
            self._cv.notify()
        return job

    def cancel(self, job: Job) -> None:
        """The job ends before the next engine step (no more events are sent)."""
        with self._cv:
            job.cancelled = True
            self._cv.notify()

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._running)

    def shutdown(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop taking jobs; with drain, let the queued and running ones finish (for up to
        timeout seconds), then cancel what is left. Returns once the thread has stopped."""
        with self._cv:
            self._accepting = False
            self._stopping = True
            if not drain:
                self._cancel_all()
            self._cv.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cv:
                self._cancel_all()
                self._cv.notify()
            self._thread.join()   # the cancelled jobs leave before the next step

    def _cancel_all(self) -> None:
        for job in list(self._waiting) + list(self._running.values()):
            job.cancelled = True

    # ---- the scheduler thread -------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._drop_cancelled()
                self._admit()
                if not self._running:
                    if self._stopping and not self._waiting:
                        return
                    self._cv.wait()
                    continue
            t0 = time.perf_counter()
            try:
                results = self.engine.step()
            except Exception as e:   # noqa: BLE001 - reported to every running job, then go on
                for job in list(self._running.values()):
                    self._end(job, "error", f"{type(e).__name__}: {e}")
                continue
            self.step_seconds += time.perf_counter() - t0
            stats = self.engine.last_step
            self.counters["prompt_tokens"] += stats.n_prompt
            self.counters["generated_tokens"] += len(results)
            for seq, token in results:
                job = self._running.get(seq.seq_id)
                if job is not None:
                    self._on_token(job, seq, token)
            for job in [j for j in self._running.values() if j.seq.finish_reason == "error"]:
                self._end(job, "error", job.seq.error)

    def _drop_cancelled(self) -> None:
        for job in [j for j in self._waiting if j.cancelled]:
            self._waiting.remove(job)
            self.counters["jobs_cancelled"] += 1
        for job in [j for j in self._running.values() if j.cancelled]:
            self.engine.cancel(job.seq)
            del self._running[job.seq.seq_id]
            self.counters["jobs_cancelled"] += 1

    def _admit(self) -> None:
        while self._waiting and len(self.engine.active) < self.engine.n_seq_max:
            job = self._waiting.popleft()
            try:
                job.seq = self.engine.add(job.prompt, job.params, max_new=job.max_new,
                                          seed=job.seed if job.seed is not None else np.random.default_rng(),
                                          constraint=job.constraint, n_logprobs=job.n_logprobs)
            except (ValueError, RuntimeError) as e:
                self._emit(job, "error", str(e))
                continue
            self.counters["prompt_tokens_reused"] += job.seq.n_reused
            job.text = TextStream(self.engine.tokenizer, job.stops)
            self._running[job.seq.seq_id] = job

    def _on_token(self, job: Job, seq: Seq, token: int) -> None:
        if seq.finished and seq.finish_reason == "stop":     # an end-of-generation token
            self._end(job, "done", "stop")
            return
        job.completion_tokens += 1
        piece = job.text.feed(token)
        if piece:
            self._emit_text(job, piece)
        if job.text.stopped:
            self.engine.cancel(seq, "stop")
            self._end(job, "done", "stop")
        elif seq.finished:
            self._end(job, "done", seq.finish_reason)

    def _end(self, job: Job, kind: str, payload) -> None:
        if kind == "done":
            tail = job.text.flush()
            if tail or job.logprobs_sent < min(len(job.seq.logprobs), job.completion_tokens):
                self._emit_text(job, tail)
            if job.text.stopped:
                payload = "stop"
            job.finish_reason = payload
            self.counters["jobs_completed"] += 1
        else:
            self.counters["jobs_failed"] += 1
        if not job.seq.finished:
            self.engine.cancel(job.seq)
        self._running.pop(job.seq.seq_id, None)
        self._emit(job, kind, payload)

    def _emit_text(self, job: Job, piece: str) -> None:
        """A text piece with the logprobs of the completion tokens not yet sent."""
        entries = job.seq.logprobs[job.logprobs_sent:job.completion_tokens]
        job.logprobs_sent += len(entries)
        self._emit(job, "text", (piece, entries))

    @staticmethod
    def _emit(job: Job, kind: str, payload) -> None:
        if job.cancelled:
            return
        try:
            job.on_event(kind, payload)
        except Exception:   # noqa: BLE001 - a broken listener must not stop the engine
            job.cancelled = True
