"""One lock per stateful object (Llama, ModelRunner): calls from several threads are serialised,
streams are invalidated rather than interleaved, and close() is safe while another thread works.

Policy (why serialise, why invalidate):
- A call on an object waits for the call running on it in another thread, then runs alone. Both
  calls succeed; an error instead would push every multi-threaded caller into writing this lock.
- A streaming generator runs each step under the lock. A later call that changes the object's
  state (another completion, eval, reset) takes the object over: the older stream's next step
  raises StreamInvalidatedError. Making the newer call wait for the older stream instead would
  deadlock a single thread that advances two generators in turn, or that drops one unfinished.
- close() marks the object closed at once: the call in flight on another thread stops with
  ClosedError at its next step (a token), then close() frees the memory. No call ever runs on
  freed memory; every later call raises ClosedError.

Usage:
    class Thing:
        def __init__(self):
            self._guard = ObjectGuard("Thing")

        @serialized                      # waits for other threads; a generator result is stepped
        def generate(self, ...): ...     # under the lock and invalidated by a later takeover

        @serialized(takeover=False)      # serialised, does not invalidate open streams
        def tokenize(self, ...): ...

        def close(self):
            self._guard.close(self._release)
"""
from __future__ import annotations

import functools
import threading
import types
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


class ClosedError(RuntimeError):
    """The object was closed (possibly by another thread while this call was running)."""


class StreamInvalidatedError(RuntimeError):
    """A streaming generator whose object was taken over by a later call."""


class ObjectGuard:
    def __init__(self, what: str):
        self.what = what
        self._lock = threading.RLock()
        self._depth = 0          # nesting of guarded calls by the lock's owner
        self._generation = 0     # bumped by each outermost state-changing call
        self._closing = False

    @property
    def closed(self) -> bool:
        return self._closing

    def check_open(self) -> None:
        if self._closing:
            raise ClosedError(f"{self.what} is closed")

    def _enter(self, takeover: bool) -> int:
        self._lock.acquire()
        try:
            self.check_open()
        except BaseException:
            self._lock.release()
            raise
        self._depth += 1
        if takeover and self._depth == 1:
            self._generation += 1
        return self._generation

    def _exit(self) -> None:
        self._depth -= 1
        self._lock.release()

    def call(self, fn: Callable[[], T], takeover: bool = True) -> T:
        ticket = self._enter(takeover)
        try:
            result = fn()
        finally:
            self._exit()
        if isinstance(result, types.GeneratorType):
            return self.stream(result, ticket)   # type: ignore[return-value]
        return result

    def stream(self, steps: Iterator[T], ticket: int) -> Iterator[T]:
        """Each step of `steps` under the lock, refused once a later call has taken over."""
        try:
            while True:
                self._enter(takeover=False)
                try:
                    if ticket != self._generation:
                        raise StreamInvalidatedError(
                            f"this {self.what} stream was invalidated: a later call on the same "
                            f"{self.what} took it over (another generation, eval, reset or state "
                            f"load; one generation at a time per object: use one object per "
                            f"concurrent stream)")
                    try:
                        item = next(steps)
                    except StopIteration:
                        return
                finally:
                    self._exit()
                yield item
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                with self._lock:     # the generator's own cleanup runs alone too
                    close()

    def close(self, release: Callable[[], None]) -> None:
        """Mark closed now (calls in flight stop at their next step), then release under the lock."""
        self._closing = True
        with self._lock:
            release()


def serialized(method=None, *, takeover: bool = True):
    """Method decorator: the call runs under self._guard (see ObjectGuard)."""
    def wrap(fn):
        @functools.wraps(fn)
        def guarded(self, *args, **kwargs):
            return self._guard.call(lambda: fn(self, *args, **kwargs), takeover)
        return guarded
    return wrap(method) if method is not None else wrap
