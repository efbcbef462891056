"""Fuzz targets: one function per target taking the fuzzer's bytes. A target returns normally
or raises the target's documented error; anything else (another exception, a crash, a hang the
fuzzer's timeout catches) is a finding.

The functions import no fuzzer: tests/test_fuzz_regressions.py runs every seed and every saved
finding through them in the normal test suite; tests/fuzz/run.py drives them with atheris.

    gguf          bytes -> a GGUF file -> GGUFReader (metadata, tensor infos, tensor data views)
    tokenizer_bpe bytes -> smollm2's byte-level BPE: encode, ids in range, decode round trip
    tokenizer_spm bytes -> gemma3's SentencePiece: encode, ids in range, decode
    template      bytes -> a chat template source -> compile + render with a budget
"""
from __future__ import annotations

import atexit
import functools
import os
import tempfile

from pyggml.chat import ChatFormatter, ChatTemplateError
from pyggml.gguf import GGUFError, GGUFReader
from pyggml.tokenizer import Tokenizer

BPE_MODEL = "smollm2-135m-q4_1"
SPM_MODEL = "gemma3-270m-q4_k_m"
# the reader maps a file: one scratch file per process, in memory where possible
_SCRATCH_DIR = os.environ.get("FUZZ_SCRATCH_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)


@functools.lru_cache(maxsize=None)
def _scratch_path() -> str:
    fd, path = tempfile.mkstemp(suffix=".gguf", dir=_SCRATCH_DIR)
    os.close(fd)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return path


def gguf(data: bytes) -> None:
    path = _scratch_path()
    with open(path, "wb") as f:
        f.write(data)
    try:
        with GGUFReader(path) as reader:
            _ = reader.metadata
            for tensor in reader.tensors:
                view = tensor.data
                if view.size:
                    _ = bytes(view.reshape(-1)[:16].view("u1"))   # touch the first and last bytes
                    _ = bytes(view.reshape(-1)[-16:].view("u1"))
    except GGUFError:
        pass


@functools.lru_cache(maxsize=None)
def _tokenizer(name: str) -> Tokenizer:
    from pyggml.models import ensure_model

    return Tokenizer.from_gguf(ensure_model(name))


def _parse_special(data: bytes) -> bool:
    """The first byte's low bit chooses parse_special; the rest is the text."""
    return bool(data) and data[0] & 1 == 1


def _encode_checked(tok: Tokenizer, data: bytes) -> list[int]:
    parse_special = _parse_special(data)
    ids = tok.encode(data[1:], add_special=False, parse_special=parse_special)
    assert all(0 <= i < tok.n_vocab for i in ids), "token id out of range"
    return ids


@functools.lru_cache(maxsize=None)
def _bytes_without_token(name: str) -> bytes:
    """Bytes whose one-character spelling is not in the vocabulary (smollm2 lacks a few control
    characters): llama.cpp drops them, so text holding one has no exact round trip."""
    from pyggml.tokenizer.bpe import BYTE_TO_CHAR

    text_to_id = _tokenizer(name).vocab.text_to_id
    return bytes(b for b in range(256) if text_to_id.get(BYTE_TO_CHAR[b].encode()) is None)


def tokenizer_bpe(data: bytes) -> None:
    tok = _tokenizer(BPE_MODEL)
    text = data[1:]
    ids = _encode_checked(tok, data)
    decoded = tok.decode(ids)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return   # invalid UTF-8 is read with U+FFFD replacements: no exact round trip
    if not _parse_special(data) and not any(b in text for b in _bytes_without_token(BPE_MODEL)):
        # byte-level BPE spells every valid text back exactly
        assert decoded == text, f"round trip changed {text!r} into {decoded!r}"


def tokenizer_spm(data: bytes) -> None:
    tok = _tokenizer(SPM_MODEL)
    ids = _encode_checked(tok, data)
    tok.decode(ids)
    detok = tok.streaming_detokenizer()
    for token in ids[:64]:
        detok.feed(token)
    detok.flush()


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "2+2?"}]


def template(data: bytes) -> None:
    source = data.decode("utf-8", errors="replace")
    try:
        ChatFormatter(source or "x", bos_token="<s>", eos_token="</s>").render(MESSAGES)
    except ChatTemplateError:
        pass


TARGETS = {"gguf": gguf, "tokenizer_bpe": tokenizer_bpe, "tokenizer_spm": tokenizer_spm, "template": template}
