"""`pyggml-perplexity`: perplexity of a model on a text file, by llama-perplexity's method.

    pyggml-perplexity -m model.gguf -f text.txt -c 128

The text is tokenized once (BOS added if the model adds one) and cut into floor(n_tokens / n_ctx)
windows of n_ctx tokens, each evaluated from an empty KV cache with its first token replaced by
BOS when the model adds BOS. With first = n_ctx // 2, the logits at positions first .. n_ctx-2
score the tokens at first+1 .. n_ctx-1. PPL = exp(mean NLL); the +/- is llama.cpp's:
PPL * sqrt((mean(NLL²) - mean(NLL)²) / (count - 1)).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from .main import EXIT_INTERRUPTED, CliError, read_prompt_file, resolve_model, run_guarded
from ..timings import format_perf


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of targets[i] under the softmax of logits[i] (float64)."""
    x = logits.astype(np.float64)
    peak = x.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(x - peak).sum(axis=1)) + peak[:, 0]
    return log_norm - x[np.arange(len(targets)), targets]


def window_count(n_tokens: int, n_ctx: int, max_chunks: int = -1) -> int:
    """Windows of n_ctx tokens evaluated: floor(n_tokens / n_ctx), at most max_chunks if > 0."""
    if n_tokens < 2 * n_ctx:
        raise CliError(f"need at least {2 * n_ctx} tokens for a context of {n_ctx}; the text has {n_tokens}")
    n = n_tokens // n_ctx
    return min(n, max_chunks) if max_chunks > 0 else n


def perplexity(llm, tokens: list[int], n_ctx: int, add_bos: bool, max_chunks: int = -1,
               progress=None) -> tuple[float, float]:
    """(ppl, its +/- estimate) of tokens with llama-perplexity's windows; `llm` is a Llama
    made with logits_all=True."""
    total_chunks = window_count(len(tokens), n_ctx, max_chunks)
    first = n_ctx // 2
    nll_sum = nll2_sum = 0.0
    count = 0
    for i in range(total_chunks):
        window = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            window[0] = llm.token_bos()
        llm.reset()
        llm.eval(window)
        nll = token_nll(llm.scores[first:n_ctx - 1], np.asarray(window[first + 1:n_ctx]))
        nll_sum += float(nll.sum())
        nll2_sum += float((nll * nll).sum())
        count += len(nll)
        if progress:
            progress(i + 1, math.exp(nll_sum / count))
    mean = nll_sum / count
    ppl = math.exp(mean)
    variance = nll2_sum / count - mean * mean
    error = ppl * math.sqrt(variance / (count - 1)) if variance > 0 and count > 1 else float("nan")
    return ppl, error


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyggml-perplexity", allow_abbrev=False,
                                description="Perplexity of a GGUF model on a text (llama-perplexity's method).")
    p.add_argument("-m", "--model", help="GGUF model file (default: the SmolLM2 model, fetched if needed)")
    p.add_argument("-f", "--file", required=True, help="text file")
    p.add_argument("-c", "--ctx-size", type=int, default=512, help="window size n_ctx")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="tokens per graph evaluation")
    p.add_argument("-t", "--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--chunks", type=int, default=-1, help="evaluate at most this many windows (-1: all)")
    return p


def run(args) -> int:
    from ..llama import Llama

    prog = "pyggml-perplexity"
    if args.ctx_size < 4:
        raise CliError(f"-c/--ctx-size must be >= 4, got {args.ctx_size}")
    text = read_prompt_file(args.file)
    llm = Llama(resolve_model(args.model, prog), n_ctx=args.ctx_size, n_batch=args.batch_size,
                n_threads=args.threads, logits_all=True, verbose=False)
    try:
        print("perplexity: tokenizing the input ..", file=sys.stderr)
        t0 = time.perf_counter()
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        print(f"perplexity: tokenization took {(time.perf_counter() - t0) * 1e3:.3f} ms", file=sys.stderr)
        n_chunks = window_count(len(tokens), args.ctx_size, args.chunks)
        print(f"perplexity: calculating perplexity over {n_chunks} chunks, n_ctx={args.ctx_size}, "
              f"batch_size={llm.n_batch}, n_seq=1", file=sys.stderr)

        def progress(i: int, ppl: float) -> None:
            print(f"[{i}]{ppl:.4f},", end="", flush=True)

        ppl, error = perplexity(llm, tokens, args.ctx_size, llm.tokenizer.add_bos, args.chunks, progress)
        print()
        print(f"Final estimate: PPL = {ppl:.4f} +/- {error:.5f}")
        status = 0
    except KeyboardInterrupt:
        print("\npyggml-perplexity: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    print("\n" + format_perf(llm.perf_stats()), file=sys.stderr)
    llm.close()
    return status


def main(argv: list[str] | None = None) -> int:
    return run_guarded("pyggml-perplexity", run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
