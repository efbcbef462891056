"""Make tests/fixtures/tokenizer_extra_*.jsonl: llama.cpp's tokenization of chosen texts.

Runs in a side environment with llama-cpp-python (never a pyggml dependency), e.g.
    ~/lcpp/bin/python tools/make_tokenizer_fixtures.py \\
        --model smollm2-135m-q4_1=PATH.gguf --model gemma3-270m-q4_k_m=PATH.gguf

Each vocabulary is loaded vocab-only, as stored and with metadata overrides (other BPE
pre-tokenizers on the SmolLM2 vocabulary, other SPM flags on the Gemma 3 one). Two small
synthetic vocabularies (written here as GGUF files; their metadata goes into the fixture) reach
what the real ones cannot show: multi-digit tokens (llama3 vs qwen2 digit grouping), words that
are tokens without a merge path (llama3's ignore_merges), merge ties, every token type, and
tokens llama.cpp promotes to control/end-of-generation by their text.
Rows (one JSON object per line; "vocab" is the model name or "synthetic-bpe"/"synthetic-spm"):
  {"kind": "vocab", "vocab", "overrides", "metadata" (synthetic, first row only), "n_vocab", "bos", "eos", "eot", "eog",
   "add_bos", "add_eos", "pieces_sha256": {"special": hex, "plain": hex},
   "pieces": {id: [special_hex, plain_hex]}}
  {"kind": "text", "vocab", "overrides", "text" | "text_hex", "add_special", "parse_special",
   "ids", "detok" (only where it differs from "text"), "detok_special" (only where it differs
   from detok)}
pieces_sha256 hashes every token's piece in id order, each prefixed by its 4-byte length.
detok is llama-cpp-python's Llama.detokenize (token_to_piece per id, then one leading space
dropped when the first id is BOS), with a buffer large enough for every piece.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import struct
import tempfile
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

# (overrides, flag combinations) per model; the first entry is the file as stored
ALL_FLAGS = [(True, False), (True, True), (False, False), (False, True)]
SOME_FLAGS = [(True, False), (False, True)]
VARIANTS = {
    "smollm2-135m-q4_1": [
        ({}, ALL_FLAGS),
        ({"tokenizer.ggml.pre": "gpt-2"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "llama-bpe"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "qwen2"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "default"}, SOME_FLAGS),
        ({"tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.add_eos_token": True}, SOME_FLAGS),
    ],
    "gemma3-270m-q4_k_m": [
        ({}, ALL_FLAGS),
        ({"tokenizer.ggml.add_space_prefix": True}, SOME_FLAGS),
        ({"tokenizer.ggml.add_bos_token": False, "tokenizer.ggml.add_eos_token": True}, SOME_FLAGS),
    ],
}

TEXTS: list[str | bytes] = [
    # whitespace
    "", " ", "\t", "\n", "\r\n", "\r", "\v\f", "   \n\n\t  x", "a \t b", "a\t\tb", "a \n b",
    "x" + " " * 40 + "y", "\n" * 40, "\t" * 40, " " * 100, "trailing   ", "  \t\n  \n\n   lead",
    "line1\nline2\r\nline3\rline4\n\n\nline5", "\u3000full\u3000width", "\xa0nbsp\xa0 \u2009thin",
    "\u2028line sep\u2029para sep\x85nel", "\x1c\x1d\x1e\x1f info separators",
    "tab\tseparated\tvalues\n1\t2\t3\n", "    four\n        eight\n\t\ttwo tabs",
    # scripts
    "中华人民共和国成立于1949年。今天天气很好，我们去公园散步吧！",
    "日本語のテキストとカタカナ、ひらがな。東京タワーは333メートルです。",
    "한국어 텍스트: 안녕하세요, 세계! 서울은 대한민국의 수도입니다.",
    "العربية: مَرْحَبًا بِالْعَالَمِ، كيف حالك؟ ١٢٣٤٥",
    "עברית: שָׁלוֹם עוֹלָם, מה שלומך?",
    "हिन्दी: नमस्ते दुनिया, आप कैसे हैं? क्षत्रिय ज्ञान",
    "ไทย: สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "தமிழ்: வணக்கம் உலகம்", "বাংলা: ওহে বিশ্ব", "ગુજરાતી ਪੰਜਾਬੀ ଓଡ଼ିଆ తెలుగు ಕನ್ನಡ മലയാളം සිංහල",
    "Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Հայերեն ქართული ენა ግዕዝ ᏣᎳᎩ ᠮᠣᠩᠭᠣᠯ བོད་ཡིག་ ꦗꦮ",
    "Tiếng Việt: Xin chào thế giới, đây là tiếng Việt có dấu.",
    "Ça va? Größe, Straße, façade, naïve, Œuvre, smørrebrød, Ångström, İstanbul, ǅemal",
    "e\u0301 a\u0308 n\u0303 decomposed vs é ä ñ", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗͈ text",
    "∀x∈ℝ: x² ≥ 0 ⇒ √(x²)=|x|; ∑ᵢ aᵢ ≤ ∞", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝟙𝟚𝟛",
    # emoji
    "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "👍🏽👍🏿 skin tones", "🇫🇷🇩🇪🇯🇵 flags", "❤️‍🔥 1️⃣ #️⃣",
    "🧑🏾‍💻 coder 👩‍🚀 astronaut", "😀😃😄😁😆😅🤣😂🙂🙃", "🦙🚀✨ llama rocket", "text🙂text🙂",
    # numbers
    "1234567890", "3.14159e-10 and -2.5E+3", "1,234,567.89", "0x1F 0b1010 0o777", "١٢٣٤ ٥٦",
    "²³¼ Ⅻ ⅷ ①②", "٣٫١٤ ۱۲۳ १२३ ๑๒๓", "v1.2.3-rc.4+build.5", "2024-01-31T23:59:59Z",
    # contractions and quotes
    "don't DON'T I'M we'Ll they'RE it's IT'S we've WE'VE he'd HE'D",
    "it'SOK we'LLgo THEY'REok I'Mhere he'Dgo you'VEbeen don'Tstop it'sok",
    "rock 'n' roll", "''quoted''", "'s'", " 's", "O'Neil's", "“curly” ‘quotes’ «guillemets»",
    # code
    'def f(x: int) -> int:\n    """Square."""\n    return x ** 2  # comment\n',
    "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    '{"key": [1, 2.5, null, true], "nested": {"a": "b\\u00e9"}}',
    "<div class=\"x\"><a href='/p?q=1&r=2'>link</a></div>",
    "fn longest<'a>(x: &'a str, y: &'a str) -> &'a str { if x.len() > y.len() { x } else { y } }",
    "for i in $(seq 1 10); do echo \"$i\" | grep -E '^[0-9]+$' >> out.txt; done",
    "--- a/file.py\n+++ b/file.py\n@@ -1,3 +1,4 @@\n-old line\n+new line\n",
    "| col1 | col2 |\n|------|:----:|\n| a    |  b   |",
    "x+=1;y-=2;z*=3;w/=4;a<<=1;b>>=2;c&&d||e!=f==g<=h>=i",
    "$$ ++ <=> ^^ ~~ || !! ?? ... --- ___ *** ### @@@ %%% &&&",
    # repeats
    "a" * 500, "ab" * 300, "🙂" * 100, "。" * 200, "-" * 300, "=+" * 150, "é" * 200,
    "the " * 200, "1" * 100, "\u00a0" * 50, ". " * 100,
    # special-token text
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    "<|endoftext|>", "<|im_start|><|im_start|>", "<|im_start", "<|im_start|>x<|im_end",
    "a<|im_end|>b<|endoftext|>c", "<reponame>pyggml<filename>x.py<file_sep>",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad><unk><mask>", "</s> <s> [multimodal] <start_of_image>", "<unused0> <unused6241>",
    "<0x41><0x0A>", "<jupyter_code>print(1)<jupyter_output>1", "\n\n<end_of_turn>\n\n",
    "text<|im_start|>", " <|im_start|> spaced <|im_end|> ",
    # other code points
    "\u200b\u200c\u200d\u2060\ufeff invisible", "\U000e0001\U000e0041 tags", "\ue000\uf8ff private",
    "\ufffd replacement \uffff nonchar", "\x00\x01\x07\x1b[31mred\x1b[0m\x7f", "ﬁ ﬂ ﬀ ligatures ＡＢＣ",
    # invalid UTF-8 (bytes): stray, truncated, overlong, surrogate (not above U+10FFFF: llama.cpp aborts)
    b"\xff\xfe abc", b"\xe4\xbd", b"caf\xc3", b"\xed\xa0\x80 cesu", b"\xc0\x80 overlong",
    b"ok \x80\x81 continuation", b"mixed \xe4\xbd\xa0\xe5\xa5 end", b"\xf8\x88\x80\x80\x80 five",
]


# --- synthetic vocabularies ---------------------------------------------------------------------

# llama hyperparameters llama.cpp reads even for a vocab-only load
_LLAMA_HPARAMS = {
    "general.architecture": "llama", "llama.context_length": 128, "llama.embedding_length": 64,
    "llama.block_count": 1, "llama.feed_forward_length": 128, "llama.attention.head_count": 1,
    "llama.attention.layer_norm_rms_epsilon": 1e-5,
}
_TYPE = {"normal": 1, "unknown": 2, "control": 3, "user": 4, "unused": 5, "byte": 6, "undefined": 0}


def byte_alphabet() -> list[str]:
    """GPT-2's byte -> printable character table, in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def synthetic_bpe() -> dict:
    alphabet = byte_alphabet()
    merges = [
        ("1", "2"), ("12", "3"), ("4", "5"), ("45", "6"), ("0", "0"), ("00", "0"), ("9", "9"),
        ("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "hello"),
        ("w", "o"), ("r", "l"), ("wo", "rl"), ("worl", "d"), ("Ġ", "world"),
        ("'", "t"), ("'", "s"), ("'", "T"), ("'", "re"), ("r", "e"), ("d", "o"), ("do", "n"),
        ("Ġ", "Ġ"), ("ĠĠ", "ĠĠ"), ("Ċ", "Ċ"), ("ĉ", "ĉ"), ("Ġ", "Ċ"),
        ("a", "a"), ("aa", "a"), ("b", "a"), ("a", "b"), ("S", "O"), ("'", "S"), ("O", "K"),
        ("t", "h"), ("th", "e"), ("Ġ", "the"), ("!", "!"), ("(", ")"), ("-", "-"), ("--", "--"),
        ("Ã", "©"), ("ä", "¸"), ("ä¸", "Ń"), ("ð", "Ł"), ("Ġ", "1"), ("<", "|"), ("|", ">"),
    ]
    tokens = list(alphabet)
    for left, right in merges:
        if left + right not in tokens:
            tokens.append(left + right)
    types = ["normal"] * len(tokens)
    extra = [("Ġllama", "normal"), ("pyggml", "normal"), ("✓", "normal"),
             ("<|endoftext|>", "control"), ("<|im_start|>", "control"), ("<|im_end|>", "control"),
             ("<tool_call>", "user"), ("</s>", "normal"), ("<|fim_prefix|>", "normal"),
             ("<unused_0>", "control"), ("<unk>", "unknown"), ("<0x41>", "byte"),
             ("[UNDEF]", "undefined"), ("[UNUSED]", "unused"), ("<|im_start|>x", "user")]
    for text, kind in extra:
        tokens.append(text)
        types.append(kind)
    return {
        **_LLAMA_HPARAMS, "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [_TYPE[t] for t in types],
        "tokenizer.ggml.merges": [f"{left} {right}" for left, right in merges],
        "tokenizer.ggml.bos_token_id": tokens.index("<|endoftext|>"),
        "tokenizer.ggml.eos_token_id": tokens.index("<|im_end|>"),
    }


def synthetic_spm() -> dict:
    entries = [("<unk>", "unknown", 0.0), ("<s>", "control", 0.0), ("</s>", "control", 0.0)]
    entries += [(f"<0x{b:02X}>", "byte", 0.0) for b in range(256)]
    pieces = {  # piece -> score; ties on purpose (ab/bc, ▁t/he)
        "▁": -1.0, "ab": -1.0, "bc": -1.0, "abc": -2.0, "▁t": -3.0, "he": -3.0, "▁the": -4.0,
        "▁th": -5.0, "ll": -2.0, "▁he": -6.0, "llo": -7.0, "▁hello": -8.0, "hello": -9.0,
        "▁▁": -2.0, "▁▁▁▁": -3.0, "xyz": -1.0, "中文": -1.0, "▁a": -2.5, "aa": -2.5, "aaa": -2.0,
        "12": -3.0, "123": -2.0, "é": -4.0,
    }
    entries += [(p, "normal", score) for p, score in pieces.items()]
    entries += [(c, "normal", -10.0 - i) for i, c in enumerate("abcdehilnorstwxyz中文")]
    entries += [("<tool>", "user", 0.0), ("\n\n", "user", 0.0), ("<start_of_turn>", "control", 0.0),
                ("<end_of_turn>", "control", 0.0), ("<unused0>", "control", 0.0)]
    return {
        **_LLAMA_HPARAMS, "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": [e[0] for e in entries],
        "tokenizer.ggml.scores": [e[2] for e in entries],
        "tokenizer.ggml.token_type": [_TYPE[e[1]] for e in entries],
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0,
    }


SYNTHETIC = {
    "synthetic-bpe": (synthetic_bpe, [
        ({}, SOME_FLAGS),  # no tokenizer.ggml.pre: llama.cpp's "default"
        ({"tokenizer.ggml.pre": "gpt-2"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "llama-bpe"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "dbrx"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "qwen2"}, SOME_FLAGS),
        ({"tokenizer.ggml.pre": "smollm"}, SOME_FLAGS),
    ]),
    "synthetic-spm": (synthetic_spm, [
        ({}, SOME_FLAGS),
        ({"tokenizer.ggml.add_space_prefix": False}, SOME_FLAGS),
        ({"tokenizer.ggml.add_eos_token": True}, SOME_FLAGS),
    ]),
}


def _gguf_string(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def _gguf_value(v) -> bytes:
    """type id + payload: bool, uint32, float32, string, and arrays of int32/float32/string."""
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + _gguf_string(v.encode())
    if all(isinstance(x, str) for x in v):
        return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_gguf_string(x.encode()) for x in v)
    if all(isinstance(x, int) for x in v):
        return struct.pack(f"<IIQ{len(v)}i", 9, 5, len(v), *v)
    return struct.pack(f"<IIQ{len(v)}f", 9, 6, len(v), *v)


def write_vocab_gguf(path: Path, metadata: dict) -> None:
    """A GGUF v3 file with metadata only (no tensors)."""
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)))
        for key, value in metadata.items():
            f.write(_gguf_string(key.encode()) + _gguf_value(value))


# --- llama.cpp's answers -----------------------------------------------------------------------

def token_piece(vocab, token_id: int, special: bool) -> bytes:
    size = 64
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_token_to_piece(vocab, token_id, buf, size, 0, special)
        if n >= 0:
            return buf.raw[:n]
        size = -n


def detokenize(vocab, ids: list[int], special: bool) -> bytes:
    text = b"".join(token_piece(vocab, i, special) for i in ids)
    if ids and ids[0] == llama_cpp.llama_vocab_bos(vocab) and text.startswith(b" "):
        text = text[1:]
    return text


def vocab_row(vocab) -> dict:
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    digests = {"special": hashlib.sha256(), "plain": hashlib.sha256()}
    sample = {}
    for token_id in range(n_vocab):
        pieces = []
        for name, special in (("special", True), ("plain", False)):
            piece = token_piece(vocab, token_id, special)
            digests[name].update(struct.pack("<I", len(piece)) + piece)
            pieces.append(piece.hex())
        if token_id % 997 == 0 or token_id < 300 or (pieces[0] != pieces[1] and len(sample) < 1000):
            sample[token_id] = pieces

    def optional(token_id: int) -> int | None:
        return None if token_id < 0 else token_id

    return {
        "kind": "vocab", "n_vocab": n_vocab,
        "bos": optional(llama_cpp.llama_vocab_bos(vocab)), "eos": optional(llama_cpp.llama_vocab_eos(vocab)),
        "eot": optional(llama_cpp.llama_vocab_eot(vocab)),
        "eog": [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)],
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "pieces_sha256": {k: d.hexdigest() for k, d in digests.items()},
        "pieces": sample,
    }


def text_rows(model: Llama, flags) -> list[dict]:
    vocab = model._model.vocab
    rows = []
    for text in TEXTS:
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        for add_special, parse_special in flags:
            ids = model.tokenize(raw, add_bos=add_special, special=parse_special)
            row = {"kind": "text"}
            row.update({"text_hex": raw.hex()} if isinstance(text, bytes) else {"text": text})
            detok = detokenize(vocab, ids, False).decode("utf-8", "replace")
            detok_special = detokenize(vocab, ids, True).decode("utf-8", "replace")
            row.update({"add_special": add_special, "parse_special": parse_special, "ids": ids})
            if detok != text:
                row["detok"] = detok
            if detok_special != detok:
                row["detok_special"] = detok_special
            rows.append(row)
    return rows


def fixture_rows(name: str, path: Path, variants, metadata: dict | None = None) -> list[dict]:
    rows = []
    for overrides, flags in variants:
        model = Llama(model_path=str(path), vocab_only=True, kv_overrides=overrides or None, verbose=False)
        head = {"vocab": name, "overrides": overrides}
        vocab = {**head, **({"metadata": metadata} if metadata is not None and not rows else {}),
                 **vocab_row(model._model.vocab)}
        rows.append(vocab)
        rows.extend({**head, **row} for row in text_rows(model, flags))
        model.close()
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help=f"a real model to tokenize with; NAME one of {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "fixtures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.model:
        name, path = spec.split("=", 1)
        write_rows(args.out / f"tokenizer_extra_{name}.jsonl", fixture_rows(name, Path(path), VARIANTS[name]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, variants) in SYNTHETIC.items():
            metadata = make()
            path = Path(tmp) / f"{name}.gguf"
            write_vocab_gguf(path, metadata)
            rows.extend(fixture_rows(name, path, variants, metadata))
    write_rows(args.out / "tokenizer_extra_synthetic.jsonl", rows)


if __name__ == "__main__":
    main()
