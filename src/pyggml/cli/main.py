"""`pyggml-cli`: generate text from a GGUF model, with llama.cpp's llama-cli flags.

    pyggml-cli -m model.gguf -p "Once upon a time" -n 64 --temp 0
    pyggml-cli -cnv                  # chat with the default model (SmolLM2), fetched if needed
    echo "What is 2+2?" | pyggml-cli -m model.gguf -cnv    # one chat turn per stdin line

Text streams to stdout; the timing lines go to stderr at the end, also after Ctrl-C.
Bad input gives a one-line error and exit status 1 (2 for bad flags), never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..sampling import SamplingParams
from ..timings import format_perf

DEFAULT_MODEL = "smollm2-135m-q4_1"
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem with the user's input: printed as one line, exit status 1."""


def resolve_model(model: str | None, prog: str) -> str:
    """The -m path, or the default model through the fetcher (saying so on stderr)."""
    if model:
        if not Path(model).is_file():
            raise CliError(f"model file not found: {model}")
        return model
    from ..models import ModelError, ensure_model

    print(f"{prog}: no model given (-m); using the default model {DEFAULT_MODEL} "
          f"(fetched on first use)", file=sys.stderr)
    try:
        path = ensure_model(DEFAULT_MODEL)
    except (ModelError, OSError) as e:
        raise CliError(f"cannot get the default model {DEFAULT_MODEL}: {e}") from None
    print(f"{prog}: model: {path}", file=sys.stderr)
    return str(path)


def read_prompt_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read prompt file {path}: {e}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyggml-cli", allow_abbrev=False,
                                description="Generate text with a GGUF model (llama.cpp's llama-cli flags).")
    p.add_argument("-m", "--model", help="GGUF model file (default: the SmolLM2 model, fetched if needed)")
    p.add_argument("-p", "--prompt", help="prompt text (in -cnv mode: the first user message)")
    p.add_argument("-f", "--file", help="read the prompt from this file")
    p.add_argument("-sys", "--system-prompt", help="system message for -cnv mode")
    p.add_argument("-n", "--n-predict", type=int, default=-1,
                   help="tokens to generate (-1: until end of generation or full context)")
    p.add_argument("-c", "--ctx-size", type=int, default=4096, help="context size (0: the model's own)")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="prompt tokens per evaluation call")
    p.add_argument("-ub", "--ubatch-size", type=int, default=512,
                   help="prompt tokens per forward pass (a smaller pass needs a smaller compute buffer)")
    p.add_argument("-t", "--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("-s", "--seed", type=int, default=-1, help="random seed (-1: random)")
    p.add_argument("--temp", type=float, default=0.8, help="temperature (0: greedy)")
    p.add_argument("--top-k", type=int, default=40, help="top-k sampling (0: off)")
    p.add_argument("--top-p", type=float, default=0.95, help="top-p sampling (1.0: off)")
    p.add_argument("--min-p", type=float, default=0.05, help="min-p sampling (0.0: off)")
    p.add_argument("--repeat-penalty", type=float, default=1.0, help="repeat penalty (1.0: off)")
    p.add_argument("--repeat-last-n", type=int, default=64,
                   help="tokens the penalties look back at (0: off, -1: whole context)")
    p.add_argument("--presence-penalty", type=float, default=0.0)
    p.add_argument("--frequency-penalty", type=float, default=0.0)
    p.add_argument("-cnv", "--conversation", action="store_true",
                   help="chat with the model's chat template (interactive on a terminal, else one turn per stdin line)")
    p.add_argument("--no-display-prompt", action="store_true", help="do not print the prompt before the output")
    p.add_argument("-v", "--verbose", action="store_true", help="print model and system information")
    return p


def _sampling_kwargs(args) -> dict:
    return dict(temperature=args.temp, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                repeat_penalty=args.repeat_penalty, presence_penalty=args.presence_penalty,
                frequency_penalty=args.frequency_penalty)


def _max_tokens(n_predict: int) -> int | None:
    if n_predict < -2:
        raise CliError(f"-n/--n-predict must be >= -2, got {n_predict}")
    return None if n_predict < 0 else n_predict


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _complete(llm, args, prompt: str) -> None:
    max_tokens = _max_tokens(args.n_predict)
    chunks = llm.create_completion(prompt, max_tokens=max_tokens, stream=True, **_sampling_kwargs(args)) \
        if max_tokens != 0 else iter(())  # checks the prompt before anything is printed
    if not args.no_display_prompt:
        _write(prompt)
    for chunk in chunks:
        _write(chunk["choices"][0]["text"])
    _write("\n")


def _chat_turn(llm, args, messages: list[dict]) -> None:
    reply = []
    chunks = llm.create_chat_completion(messages, max_tokens=_max_tokens(args.n_predict), stream=True,
                                        **_sampling_kwargs(args))
    for chunk in chunks:
        piece = chunk["choices"][0]["delta"].get("content", "")
        reply.append(piece)
        _write(piece)
    _write("\n")
    messages.append({"role": "assistant", "content": "".join(reply)})


def _user_lines(interactive: bool):
    """User messages: typed after a '> ' prompt on a terminal, else the non-empty stdin lines."""
    if interactive:
        while True:
            try:
                line = input("\n> ")
            except EOFError:
                return
            if line.strip():
                yield line
    else:
        for line in sys.stdin:
            if line.strip():
                yield line.rstrip("\n")


def _chat(llm, args, first_message: str | None) -> None:
    messages: list[dict] = []
    if args.system_prompt:
        messages.append({"role": "system", "content": args.system_prompt})
    if first_message:
        if not args.no_display_prompt:
            _write(f"> {first_message}\n")
        messages.append({"role": "user", "content": first_message})
        _chat_turn(llm, args, messages)
    interactive = sys.stdin.isatty()
    for line in _user_lines(interactive):
        if not interactive and not args.no_display_prompt:
            _write(f"> {line}\n")
        messages.append({"role": "user", "content": line})
        _chat_turn(llm, args, messages)


def _load(args, model_path: str):
    import pyggml

    from ..llama import Llama

    n_ctx = args.ctx_size
    if n_ctx < 0:
        raise CliError(f"-c/--ctx-size must be >= 0 (0: the model's own), got {n_ctx}")
    if n_ctx == 0:
        from ..gguf import GGUFReader
        from ..arch import get_arch

        with GGUFReader(model_path) as reader:
            n_ctx = get_arch(reader.metadata).load_config(reader.metadata).n_ctx_train
    if args.verbose:
        print(f"system_info: {pyggml.system_info()}", file=sys.stderr)
    return Llama(model_path, n_ctx=n_ctx, n_batch=args.batch_size, n_ubatch=args.ubatch_size, n_threads=args.threads,
                 seed=args.seed, last_n_tokens_size=args.repeat_last_n, verbose=args.verbose)


def run(args) -> int:
    prog = "pyggml-cli"
    if args.prompt is not None and args.file is not None:
        raise CliError("give the prompt with -p or -f, not both")
    prompt = read_prompt_file(args.file) if args.file is not None else args.prompt
    if not args.conversation and not prompt:
        raise CliError("no prompt: give one with -p TEXT or -f FILE (or chat with -cnv)")
    _max_tokens(args.n_predict)
    SamplingParams(repeat_last_n=args.repeat_last_n, **_sampling_kwargs(args))  # fail before loading
    llm = _load(args, resolve_model(args.model, prog))
    status = 0
    try:
        if args.conversation:
            _chat(llm, args, prompt)
        else:
            _complete(llm, args, prompt)
    except KeyboardInterrupt:
        _write("\n")
        status = EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # the reader left; still report timings on stderr
    print("\n" + format_perf(llm.perf_stats()), file=sys.stderr)
    llm.close()
    return status


def run_guarded(prog: str, run_fn, args) -> int:
    """run_fn(args) with bad input turned into one message and exit 1, Ctrl-C into exit 130."""
    try:
        return run_fn(args)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CliError, ValueError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    return run_guarded("pyggml-cli", run, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
