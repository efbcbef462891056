"""What a grammar costs per decoded token: llguidance's mask vs the model's decode step.

    python tools/bench_grammar_mask.py [--model smollm2-135m-q4_1] [--threads 2] [--tokens 128]

Runs greedy chat completions constrained by a JSON schema, a GBNF grammar and a regex, and one
unconstrained; prints per token: decode (graph) ms, mask ms (filling llguidance's bitmask and
expanding it over the vocabulary) and the whole sampling step, and mask / decode. The
tokenizer adapter's one-time build is reported separately.
"""
from __future__ import annotations

import argparse
import time

from pyggml import Llama, LlamaGrammar
from pyggml.grammar import GrammarConstraint
from pyggml.models import ensure_model

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "age", "tags", "address"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 120},
                         "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
                         "address": {"type": "object", "additionalProperties": False, "required": ["city"],
                                     "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}}}}
GBNF = 'root ::= item ("," item)*\nitem ::= [a-z]+ " " [0-9]+'
REGEX = r"([A-Z][a-z]+ ){3,40}\."


def run(llm: Llama, grammar, n_tokens: int) -> dict:
    made = []
    original = GrammarConstraint.__init__

    def spy(self, *a, **k):   # keep the constraint to read its timers
        original(self, *a, **k)
        made.append(self)

    GrammarConstraint.__init__ = spy
    try:
        llm.reset()
        t = dict(llm.runner.timings)
        s0, r0 = llm._sample_ms, llm._sample_runs
        out = llm("Write a record about a person:", grammar=grammar, max_tokens=n_tokens, temperature=0,
                  min_tokens=n_tokens if grammar is None else 0)
    finally:
        GrammarConstraint.__init__ = original
    steps = llm._sample_runs - r0
    eval_ms = llm.runner.timings["eval_ms"] - t["eval_ms"]
    eval_n = llm.runner.timings["eval_tokens"] - t["eval_tokens"]
    mask_ms = made[0].mask_ms / max(made[0].steps, 1) if made else 0.0
    return {"tokens": out["usage"]["completion_tokens"], "decode_ms": eval_ms / max(eval_n, 1),
            "mask_ms": mask_ms, "sample_ms": (llm._sample_ms - s0) / max(steps, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-q4_1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    args = ap.parse_args()
    llm = Llama(str(ensure_model(args.model)), n_ctx=512, n_threads=args.threads, verbose=False)
    t0 = time.perf_counter()
    llm.grammar_adapter()
    print(f"{args.model}, {args.threads} threads: tokenizer adapter built once in "
          f"{(time.perf_counter() - t0) * 1e3:.0f} ms")
    grammars = {"none": None, "json_schema": LlamaGrammar.from_json_schema(SCHEMA),
                "gbnf": LlamaGrammar.from_string(GBNF), "regex": LlamaGrammar.from_regex(REGEX)}
    print(f"{'grammar':12} {'tokens':>6} {'decode ms':>10} {'mask ms':>8} {'sample ms':>10} {'mask/decode':>12}")
    for name, grammar in grammars.items():
        r = run(llm, grammar, args.tokens)
        print(f"{name:12} {r['tokens']:6d} {r['decode_ms']:10.2f} {r['mask_ms']:8.3f} {r['sample_ms']:10.3f} "
              f"{r['mask_ms'] / r['decode_ms']:11.1%}")


if __name__ == "__main__":
    main()
