"""Make tests/reference/pretokenizers-smollm2.jsonl: llama.cpp's ids for every BPE pre type.

Runs in a side environment with llama-cpp-python (never a pyggml dependency), e.g.
    /work/oracle-venv/bin/python tools/make_pretokenizer_fixtures.py \\
        --model ~/.cache/pyggml/models/smollm2-135m-q4_1.gguf

For each pre type it writes a vocab-only GGUF holding SmolLM2's vocabulary (tokens, types, merges,
special ids; no add_bos/add_eos/add_space_prefix keys, so the type's own defaults show) with
tokenizer.ggml.pre set to that type, and more tokens that make word boundaries show in the ids:
SmolLM2 has single digits only and few non-English words, so "123" as one word or three gave the
same ids. Added (normal tokens, at the end) are every 2- and 3-digit string and chosen words of the
corpus with all their prefixes, each buildable by merges ranked before SmolLM2's own; plus a few
words without a merge path (what llama3's ignore_merges takes whole). Then it loads the file with
llama.cpp (vocab_only) and tokenizes every corpus text (add_special=False, parse_special=False).
A type llama.cpp refuses is recorded with its error.
Rows (JSON lines):
  {"kind": "corpus", "vocab", "texts": [str | {"hex": utf8 bytes}]}
  {"kind": "vocab", "extra_tokens": [...], "extra_merges": [...]}   appended / prepended to SmolLM2's
  {"kind": "ids", "lists": [[id, ...], ...]}       distinct id lists, referred to by index
  {"kind": "pre", "pre", "add_bos", "ids": [index into lists, one per text]} | {"kind": "pre", "pre", "error"}
"""
from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import tempfile
import unicodedata
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_fixtures import _LLAMA_HPARAMS, TEXTS, byte_alphabet, write_vocab_gguf  # noqa: E402

# every tokenizer.ggml.pre llama.cpp 0c1e570 accepts for byte-level BPE ("gpt2") vocabularies,
# except the SPM-style ones that do not byte-encode (gemma4, granite-embed-multi-311m,
# sarvam-moe, whitespace): those pyggml refuses, and their rows show what llama.cpp does
PRE_TYPES = [
    "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
    "jina-v5-nano", "jais-2", "dbrx", "smaug-bpe", "chatglm-bpe", "glm4", "glm5", "deepseek-llm",
    "deepseek-coder", "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4", "spark2_5", "youtu", "falcon",
    "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2", "gpt-2",
    "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
    "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "jina-v1-en",
    "jina-v2-code", "roberta-bpe", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2",
    "hunyuan", "solar-open", "megrez", "grok-2", "qwen35", "poro-chat", "bloom", "gpt3-finnish", "viking",
    "tekken", "chameleon", "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2", "granite-embed-multi-97m",
    "tiny_aya", "cohere2moe", "kimi-k2", "superbpe", "bailingmoe", "bailingmoe2", "llada-moe", "seed-coder",
    "ufakzeka", "afmoe", "laguna", "exaone-moe", "minicpm5",
]

# texts aimed at what tells the pre types apart
PRE_TEXTS: list[str | bytes] = [
    # digits: groupings of 1..3, runs of every length, digits glued to letters and punctuation
    "1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890123",
    "abc1234def 99bottles x1y22z333 a-1,b-22;c-333", "$1,000,000.00 (-42.5%) 3x+7=22 4/5 ½",
    "٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ ①②③ ⅠⅡⅢⅣ ¹²³ 𝟎𝟏𝟐", "1\n2\r\n3\t4  5   6",
    # contractions and apostrophes in every position
    "I'm you're he's she'd we'll they've it'S I'M YOU'RE WE'LL THEY'VE 'tis 'twas o'clock",
    "'s 'S 'll 'LL 're 'Re 've 'd 'D 'm 'x '' ''' y'all ma'am rock'n'roll",
    "l'homme d'accord aujourd'hui qu'il s'il n'est c'est jusqu'à",
    # case runs (tekken / gpt-4o upper-then-lower words)
    "camelCase PascalCase XMLHttpRequest iPhone eBay ALLCAPS lowercase MiXeD ABCdef abcDEF",
    "ÉCOLE école Ünïcödé ÀÉÎÕÜ àéîõü ĲĳŒœ ǄǅǆǇǈǉ ßẞ ΣΑΣ σας ÆØÅ æøå",
    # punctuation, slashes and newlines (tekken/gpt-4o [\r\n/]*, llama3 [\r\n]*)
    "a/b//c///d /usr/bin/env https://example.com/a/b?c=d#e", "end.\nnext!\n\nmore?\r\n\r\nlast;\n/\n//\n",
    "...\n---\n***\n   !!!\n\t???\n", "(a) [b] {c} <d> «e» „f“ ‹g› 「h」 『i』 【j】",
    "email: user.name+tag@example.co.uk, phone: +1-(555)-010-9999",
    # white space of every kind and length
    "a  b   c    d     e      f", "  leading and trailing  ", "\t\tindented\n\t\t\tmore\n",
    "x \n y \r\n z \n\n\n w", " \u00a0\u2000\u2001\u2002\u2003\u2009\u200a\u202f\u205f\u3000 spaces",
    "nel\x85nel ls\u2028ls ps\u2029ps vt\x0bvt ff\x0cff", "\x1c\x1d\x1e\x1f", " " * 600 + "x",
    "\n" * 10 + "x" + "\r\n" * 10, " \n \n \n", "a \t\n b",
    # CJK, kana, hangul, mixed with latin and digits (deepseek, youtu, kimi-k2, afmoe)
    "中文English混合123文本，标点！「引号」", "日本語とEnglishとカタカナ123、ひらがな。ﾊﾝｶｸｶﾀｶﾅ",
    "한국어English혼합123 ㄱㄴㄷ ㅏㅑ", "ㄅㄆㄇㄈ 注音符號",
    "\uf900\uf901\uf902\ufa6d \u2f00\u2f01\u2f02 \U00020000\U00020001\U0002a700 \u3400\u3401 \u2126\u212a\u212b \u1fbe\u1f7d",
    "漢字's 中文'll test",
    "ไทยภาษา123 ລາວ ខ្មែរ မြန်မာ ꩠꩡ ꧠꧡ", "ᄀᄁᄂ ᅡᅢ ᆨᆩ",
    # combining marks after letters, digits, spaces and punctuation; scripts with marks
    "e\u0301e\u0301 1\u0301 \u0301x !\u0301 a\u0300\u0301\u0302\u0303", "नमस्ते दुनिया ক্ষ த்தி ಕ್ಷ",
    "Ǹ̵̡̛̘̙̺̭ȩ̸̡̛̖͎w̷̢͉͖̞ ț̶͉̍e̸̗̓x̴͎̑t̶̝̂", "עִבְרִית عَرَبِيّ",
    # emoji and symbols
    "👋🏼 Hi! 🎉🎉 👨‍💻 💯 🔥🔥🔥 ☃️ ♥ ★ ✓ ⚠️ ©® ™", "a😀b😀c 😀1😀2", "🇺🇳🏴‍☠️🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "∑∫∂√∞≈≠≤≥ ±×÷ °C ℃ € £ ¥ ₹ ₿", "→←↑↓ ⇒⇔ ▲▼ ◆◇ ■□ ●○",
    # Unicode 15.0/15.1 (in llama.cpp's tables) and 16.0/17.0 (undefined there) code points
    "\U00031350\U00031351 \u2ffc\u2ffd \U0001fae8 \U00011f00\U00011f01",
    "\u1c89\u1c8a \U00010d40\U00010d41\U00010d4a \U0001fae9 \u0897x \U00016d40a",
    "\ufdd0\ufdd1 \U0010fffd \U000e0100 \ue000",
    # code
    "if (x==1&&y!=2||z>=3) { return a->b::c; } // done",
    "SELECT * FROM t WHERE id IN (1,2,3) AND name LIKE '%x%';",
    "<sentinel:12> IMGIMGABCDZ IMGIMGAZ <sentinel:x>", "x = [i**2 for i in range(10) if i % 2 == 0]",
    "    def __init__(self):\n        self.x = 0\n\n\n    @property\n",
]


def random_texts(n: int, seed: int = 1234) -> list[str]:
    """Random strings over code points assigned in Python's Unicode (14.0, so assigned in 15.1
    too) plus a few assigned only later, weighted towards what pre types treat differently:
    letters of both cases, marks, digits, apostrophes, slashes, white space, CJK; some repeated."""
    rng = random.Random(seed)
    pools = {
        "ascii": [chr(c) for c in range(0x20, 0x7F)],
        "letters": list("aAbBsStTdDlLmMrReEvVxyzXYZ"),
        "punct": list("'''//\\.,!?-_\"()"),
        "space": list("  \t\n\n\r\x0b\x0c\x85\xa0\u3000\u2009\x1c"),
        "latin": [chr(c) for c in range(0xC0, 0x250)],
        "cjk": [chr(c) for c in [*range(0x4E00, 0x4E40), *range(0x3040, 0x3100), *range(0xAC00, 0xAC40),
                                 *range(0xF900, 0xF910), *range(0x3400, 0x3410), *range(0xFF01, 0xFF20)]],
        "any": [chr(c) for c in range(0xA0, 0x30000)
                if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")],
        "marks": [chr(c) for c in range(0x300, 0x370)],
        "digits": [chr(c) for c in range(0x30, 0x3A)] + list("\u0660\u0661\u0662\u0969\u096a\uff15\uff16\xbd\xb2"),
        "later": list("\u0897\u1c89\U00010d40\U00010d50\U0001fae9\U00011f00\u2ffc\U00031350\ufdd0"),
    }
    weights = {"ascii": 5, "letters": 3, "punct": 2, "space": 3, "latin": 2, "cjk": 2, "any": 3, "marks": 1,
               "digits": 3, "later": 1}
    names = list(weights)
    out = []
    for _ in range(n):
        chars: list[str] = []
        for _ in range(rng.randint(1, 24)):
            char = rng.choice(pools[rng.choices(names, [weights[k] for k in names])[0]])
            chars.append(char * (rng.randint(2, 5) if rng.random() < 0.15 else 1))
        out.append("".join(chars))
    return out


CORPUS: list[str | bytes] = [*TEXTS, *PRE_TEXTS, *random_texts(40)]


# --- reading SmolLM2's metadata (GGUF v3, metadata only) -------------------------------------------

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf_metadata(path: Path) -> dict:
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the metadata is at the front
    offset = 24
    n_kv = struct.unpack_from("<Q", data, 16)[0]

    def string() -> str:
        nonlocal offset
        (n,) = struct.unpack_from("<Q", data, offset)
        offset += 8 + n
        return data[offset - n:offset].decode("utf-8")

    def value(type_id: int):
        nonlocal offset
        if type_id == 8:
            return string()
        if type_id == 9:
            item_type, count = struct.unpack_from("<IQ", data, offset)
            offset += 12
            return [value(item_type) for _ in range(count)]
        fmt = _SCALARS[type_id]
        (v,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return v

    metadata = {}
    for _ in range(n_kv):
        key = string()
        (type_id,) = struct.unpack_from("<I", data, offset)
        offset += 4
        metadata[key] = value(type_id)
    return metadata


# words whose boundaries differ between pre types (letters vs marks, case runs, scripts, apostrophes)
CHAINED_WORDS = [
    " camelCase", "camelCase", "Case", " PascalCase", "PascalCase", "XMLHttpRequest", " XMLHttpRequest", "Http",
    "Request", " iPhone", "iPhone", " eBay", "ÉCOLE", " école", "école", " Ünïcödé", "ABCdef", "abcDEF", "DEF",
    "中文", "中文English", "English", "混合", "文本", "日本語", "日本語と", "カタカナ", "ひらがな", "한국어",
    "한국어English", "e\u0301", "e\u0301e\u0301", "\u0301x", " \u0301x", "नमस्ते", "दुनिया", "ไทยภาษา",
    "'s", "'ll", " it's", "it's", "'S", "I'M", "we'll", "漢字's", "中文'll", "rock'n'roll", "n't",
    "\n\n", "\n\n\n", " \n", "\r\n", ".\n", "!\n\n", "/\n", "//", "///", " //", "/usr",
    "  ", "   ", "    ", "\t\t", "\u3000", " \u3000", "\xa0", " \xa0",
]
# words that are tokens with no merges leading to them: taken whole only where ignore_merges holds
UNMERGED_WORDS = [" unbelievably", " Pneumonoultramicroscopic", "Hello", " world", " XMLHttpRequest2", "camelCaseX"]


def byte_symbols(text: str) -> list[str]:
    alphabet = byte_alphabet()
    return [alphabet[b] for b in text.encode("utf-8")]


def extra_vocab(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(tokens to append, merges to rank first): digit strings and CHAINED_WORDS buildable symbol
    by symbol from the left, UNMERGED_WORDS as bare tokens."""
    known = set(tokens)
    extra_tokens: list[str] = []
    merges: list[str] = []

    def add_token(token: str) -> None:
        if token not in known:
            known.add(token)
            extra_tokens.append(token)

    def chain(word: str) -> None:
        symbols = byte_symbols(word)
        prefix = symbols[0]
        add_token(prefix)
        for symbol in symbols[1:]:
            merge = f"{prefix} {symbol}"
            if merge not in merges:
                merges.append(merge)
            prefix += symbol
            add_token(prefix)

    for a in "0123456789":
        for b in "0123456789":
            chain(a + b)
    for a in "0123456789":
        for b in "0123456789":
            for c in "0123456789":
                chain(a + b + c)
    for word in CHAINED_WORDS:
        chain(word)
    for word in UNMERGED_WORDS:
        add_token("".join(byte_symbols(word)))
    return extra_tokens, merges


VOCAB_KEYS = tuple(f"tokenizer.ggml.{k}" for k in ("model", "tokens", "token_type", "merges", "bos_token_id",
                                                     "eos_token_id", "unknown_token_id", "padding_token_id"))


REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference" / "pretokenizers-smollm2.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="smollm2-135m-q4_1.gguf")
    parser.add_argument("--out", type=Path, default=REFERENCE)
    parser.add_argument("--random", type=int, metavar="N",
                        help="a corpus of N random texts only (seed --seed), for checks beyond the stored one")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    corpus = CORPUS if args.random is None else random_texts(args.random, args.seed)
    source = read_gguf_metadata(args.model)
    base = {**_LLAMA_HPARAMS, **{k: source[k] for k in VOCAB_KEYS}}
    extra_tokens, extra_merges = extra_vocab(base["tokenizer.ggml.tokens"])
    base["tokenizer.ggml.tokens"] = base["tokenizer.ggml.tokens"] + extra_tokens
    base["tokenizer.ggml.token_type"] = base["tokenizer.ggml.token_type"] + [1] * len(extra_tokens)
    base["tokenizer.ggml.merges"] = extra_merges + base["tokenizer.ggml.merges"]
    lists: dict[tuple[int, ...], int] = {}
    pre_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.gguf"
        for pre in PRE_TYPES:
            write_vocab_gguf(path, {**base, "tokenizer.ggml.pre": pre})
            try:
                model = Llama(model_path=str(path), vocab_only=True, verbose=False)
            except Exception as e:  # noqa: BLE001 - recorded: llama.cpp refuses this type here
                pre_rows.append({"kind": "pre", "pre": pre, "error": f"{type(e).__name__}: {e}"})
                print(f"{pre}: refused: {e}")
                continue
            indexes = []
            for text in corpus:
                raw = text if isinstance(text, bytes) else text.encode("utf-8")
                ids = tuple(model.tokenize(raw, add_bos=False, special=False))
                indexes.append(lists.setdefault(ids, len(lists)))
            add_bos = bool(llama_cpp.llama_vocab_get_add_bos(model._model.vocab))
            pre_rows.append({"kind": "pre", "pre": pre, "add_bos": add_bos, "ids": indexes})
            model.close()
            print(f"{pre}: ok")
    texts = [{"hex": t.hex()} if isinstance(t, bytes) else t for t in corpus]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "corpus", "vocab": "smollm2-135m-q4_1", "texts": texts}, ensure_ascii=False) + "\n")
        f.write(json.dumps({"kind": "vocab", "extra_tokens": extra_tokens, "extra_merges": extra_merges},
                           ensure_ascii=False) + "\n")
        f.write(json.dumps({"kind": "ids", "lists": [list(k) for k in lists]}, separators=(",", ":")) + "\n")
        for row in pre_rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(corpus)} texts, {len(pre_rows)} pre types, {len(lists)} distinct id lists")


if __name__ == "__main__":
    main()
