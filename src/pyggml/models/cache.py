"""The model cache directory: file names, sha256 checks, atomic writes and per-model locks.

Layout: <cache>/<name>.gguf, where <cache> is $PYGGML_MODELS or ~/.cache/pyggml/models. Files
appear there only complete and verified (written to a temp file in the same directory, checked,
then renamed), so a reader never sees half a model."""
from __future__ import annotations

import hashlib
import os
import sys
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .manifest import ModelError
from .progress import Progress

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process lock, the atomic rename still protects readers
    fcntl = None

CACHE_ENV_VAR = "PYGGML_MODELS"
HASH_CHUNK = 4 << 20


class ModelChecksumError(ModelError):
    """A file's size or sha256 differs from what the manifest says."""


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV_VAR)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "pyggml" / "models"


def cached_path(name: str) -> Path:
    return cache_dir() / f"{name}.gguf"


def sha256_file(path: Path, label: str | None = None) -> str:
    """Hex sha256 of a file, read in chunks; `label` turns on progress reporting."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    progress = Progress(label, size) if label else None
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress.update(done)
    if progress:
        progress.done()
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str, expected_size: int | None = None, label: str | None = None) -> None:
    """Raise ModelChecksumError unless the file has the expected size (if given) and sha256."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise ModelChecksumError(f"{path}: size is {size} bytes, expected {expected_size}")
    actual = sha256_file(path, label)
    if actual != expected_sha256:
        raise ModelChecksumError(f"{path}: sha256 is {actual}, expected {expected_sha256}")


@contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside `dest`; on a clean exit it is renamed to `dest`, on an exception
    (e.g. a failed checksum) it is deleted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # mode as umask allows
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def model_lock(name: str) -> Iterator[None]:
    """Exclusive lock on one model's cache entry across processes (parallel test runs, CI)."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(directory / f".{name}.lock", "a+b") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process writing {name} ...", file=sys.stderr)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            # Temp files of a writer that died; nobody else writes them while we hold the lock.
            for stale in directory.glob(f".{name}.gguf.*.tmp"):
                stale.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
