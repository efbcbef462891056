"""Check pyggml's pre-tokenizer character classes against llama.cpp's Unicode tables, code point
by code point.

    python tools/check_pretokenizer_classes.py /work/oracle-src/llama_cpp_python-0.3.36.tar.gz

llama.cpp classifies code points with tables generated from UCD 15.1 (src/unicode-data.cpp):
a category (L, N, P, S, M, other) and a white-space flag. pyggml's patterns see the text after
pretokenize's two substitutions (non-ASCII white space -> \\v; code points assigned after 15.1 ->
U+FDD0) through the `regex` package's \\p{..} and the ASCII white-space class. This prints every
code point where the two disagree (none expected) and exits non-zero if any does.
"""
from __future__ import annotations

import re
import sys
import tarfile

import regex

from pyggml.tokenizer import pretokenize

FLAG_BITS = {0x02: "N", 0x04: "L", 0x10: "M", 0x20: "P", 0x40: "S"}


def llama_tables(sdist: str) -> tuple[list[int], set[int]]:
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("vendor/llama.cpp/src/unicode-data.cpp"))
        source = tar.extractfile(member).read().decode()
    body = source.split("unicode_ranges_flags = {")[1].split("};")[0]
    ranges = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+)\}", body)]
    flags = [0] * 0x110000
    for (start, value), (end, _) in zip(ranges, ranges[1:]):
        flags[start:end] = [value] * (end - start)
    body = source.split("unicode_set_whitespace = {")[1].split("};")[0]
    return flags, {int(x, 16) for x in re.findall(r"0x([0-9A-F]+)", body)}


def main() -> int:
    flags, whitespace = llama_tables(sys.argv[1])
    classes = {name: regex.compile(rf"\p{{{name}}}") for name in "NLMPS"}
    space = regex.compile(pretokenize._translate(r"\s"))
    bad = []
    for cpt in range(0x110000):
        if 0xD800 <= cpt < 0xE000:
            continue  # surrogates: no UTF-8 text holds them
        text = pretokenize._AFTER_UNICODE_15_1.sub(pretokenize._UNDEFINED,
                                                   pretokenize._NON_ASCII_SPACE.sub("\v", chr(cpt)))
        ours = {name for name, pattern in classes.items() if pattern.match(text)}
        theirs = {FLAG_BITS[flags[cpt] & 0xFF]} if flags[cpt] & 0xFF in FLAG_BITS else set()
        if cpt in whitespace:
            theirs = set()  # llama.cpp's collapsing tests white space first
        if ours != theirs or bool(space.match(text)) != (cpt in whitespace):
            bad.append(f"U+{cpt:04X}: pyggml {sorted(ours)} space={bool(space.match(text))}, "
                       f"llama.cpp {sorted(theirs)} space={cpt in whitespace}")
    print("\n".join(bad[:50]) or "all code points agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
