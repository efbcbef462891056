"""`pyggml-gguf-dump FILE`: a GGUF file's metadata and tensor table, like gguf-py's gguf-dump."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from .reader import GGUFError, GGUFReader
from .values import ArrayType, GGUFValueType, ValueType

MAX_LISTED_ITEMS = 8     # longer arrays show their first SHOWN_ITEMS and a count
SHOWN_ITEMS = 3
MAX_STRING_CHARS = 60


def _format_string(s: str) -> str:
    if len(s) > MAX_STRING_CHARS:
        return f"{s[:MAX_STRING_CHARS]!r}... ({len(s)} chars)"
    return repr(s)  # repr escapes newlines and undecodable bytes (surrogates)


def _format_item(value: Any, vtype: ValueType) -> str:
    if isinstance(vtype, ArrayType):
        return _format_array(value, vtype)
    if vtype == GGUFValueType.STRING:
        return _format_string(value)
    if vtype == GGUFValueType.FLOAT32:
        return str(np.float32(value))
    return str(value)


def _format_array(value: Any, atype: ArrayType) -> str:
    n = len(value)
    shown = range(n if n <= MAX_LISTED_ITEMS else SHOWN_ITEMS)
    if atype.items is not None:
        items = [_format_array(value[i], atype.items[i]) for i in shown]
    else:
        items = [_format_item(value[i].item() if isinstance(value, np.ndarray) else value[i], atype.element)
                 for i in shown]
    if n > MAX_LISTED_ITEMS:
        items.append(f"... ({n} items)")
    return "[" + ", ".join(items) + "]"


def dump(reader: GGUFReader, out=sys.stdout) -> None:
    print(f"{reader.path}: GGUF version {reader.version}, little-endian, "
          f"alignment {reader.alignment}", file=out)
    print(f"* {len(reader.metadata)} key-value pairs", file=out)
    key_width = max((len(k) for k in reader.metadata), default=0)
    for i, (key, value) in enumerate(reader.metadata.items(), 1):
        vtype = reader.metadata_types[key]
        type_name = f"ARRAY[{vtype.element.name}]" if isinstance(vtype, ArrayType) else vtype.name
        print(f"{i:6d}: {key:<{key_width}}  {type_name:<15} = {_format_item(value, vtype)}", file=out)
    print(f"* {len(reader.tensors)} tensors, data section at offset {reader.data_offset}", file=out)
    name_width = max((len(t.name) for t in reader.tensors), default=4)
    print(f"{'#':>6}  {'name':<{name_width}}  {'type':<7}  {'ne':<24}  {'bytes':>12}", file=out)
    for i, t in enumerate(reader.tensors):
        ne = " x ".join(str(d) for d in t.ne)
        print(f"{i:6d}  {t.name:<{name_width}}  {t.type.name:<7}  {ne:<24}  {t.nbytes:>12}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyggml-gguf-dump", description=__doc__)
    parser.add_argument("file", help="GGUF file")
    args = parser.parse_args(argv)
    try:
        with GGUFReader(args.file) as reader:
            dump(reader)
    except (GGUFError, OSError) as e:
        if isinstance(e, BrokenPipeError):  # output closed early (piped to head): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print(f"pyggml-gguf-dump: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
