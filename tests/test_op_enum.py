"""The op list is declared twice, as pg_op in csrc/pyggml.h and as pyggml.tensor.Op: they must
agree name for name and value for value (both are append-only)."""
import re
from pathlib import Path

from pyggml.tensor import Op

HEADER = Path(__file__).resolve().parents[1] / "csrc" / "pyggml.h"


def c_ops() -> dict[str, int]:
    body = re.search(r"typedef enum \{(.*?)\} pg_op;", HEADER.read_text(), re.S).group(1)
    names = re.findall(r"^\s*PG_OP_(\w+)(?:\s*=\s*(\d+))?\s*,", body, re.M)
    ops, value = {}, -1
    for name, explicit in names:
        value = int(explicit) if explicit else value + 1
        ops[name] = value
    ops.pop("COUNT")
    return ops


def test_python_ops_mirror_the_c_enum():
    assert c_ops() == {op.name: int(op) for op in Op}
