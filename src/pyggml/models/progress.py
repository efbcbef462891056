"""Progress of long steps (download, extract, hash, derive) on stderr.

On a terminal one line is redrawn in place; elsewhere (CI logs) only the start and the end of a
step are printed, so logs stay short."""
from __future__ import annotations

import sys
import time


class Progress:
    """Progress(label, total) then update(n_done) any number of times, then done()."""

    def __init__(self, label: str, total: int, unit: str = "MB", stream=None):
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.last_draw = 0.0
        if not self.interactive:
            self.stream.write(f"{label} ...\n")
            self.stream.flush()

    def _amount(self, n: int) -> str:
        return f"{n / 1e6:.1f} MB" if self.unit == "MB" else f"{n} {self.unit}"

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.interactive or now - self.last_draw < 0.1:
            return
        self.last_draw = now
        pct = 100.0 * done / self.total
        self.stream.write(f"\r{self.label}: {pct:5.1f}% ({self._amount(done)} of {self._amount(self.total)})")
        self.stream.flush()

    def done(self) -> None:
        line = f"{self.label}: done, {self._amount(self.total)} in {time.monotonic() - self.started:.1f} s"
        self.stream.write(f"\r{line}\033[K\n" if self.interactive else line + "\n")
        self.stream.flush()
