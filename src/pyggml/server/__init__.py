"""pyggml-server: an OpenAI-compatible HTTP server decoding several requests at once.

    pip install "pyggml[server]"
    pyggml-server -m model.gguf --parallel 4 --port 8080 [--api-key KEY]

The app is pyggml.server.app.create_app (FastAPI); requests go through pyggml.scheduler onto
pyggml.batching.BatchEngine."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pyggml-server", description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True, help="GGUF model file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--parallel", "-np", type=int, default=4, help="sequences decoded at once (slots)")
    ap.add_argument("--n-ctx", "-c", type=int, default=2048, help="context size of each sequence")
    ap.add_argument("--n-batch", "-b", type=int, default=128,
                    help="tokens per engine step (decode tokens + a chunk of waiting prompts)")
    ap.add_argument("--threads", "-t", type=int, default=None)
    ap.add_argument("--prefix-cache", type=int, default=0,
                    help="finished requests whose KV cells are kept for a later prompt with the same start "
                         "(e.g. the next chat turn; evicted when cells are needed); 0 = off. Reused cells "
                         "change the logits in their last bits, so a seed no longer repeats a sampled reply exactly")
    ap.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1 and /extras")
    ap.add_argument("--max-queue", type=int, default=64, help="requests waiting for a slot before 503")
    ap.add_argument("--drain-timeout", type=float, default=30.0,
                    help="seconds SIGINT/SIGTERM wait for running requests before stopping")
    ap.add_argument("--log-level", default="info")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from .app import create_app
    except ImportError as e:
        print(f"pyggml-server: {e.name} is missing; install the server extra: pip install 'pyggml[server]'",
              file=sys.stderr)
        return 2
    from ..batching import BatchEngine

    for name in ("parallel", "n_ctx", "n_batch", "max_queue"):
        if getattr(args, name) < 1:
            print(f"pyggml-server: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    if args.prefix_cache < 0:
        print("pyggml-server: --prefix-cache must be >= 0", file=sys.stderr)
        return 2
    try:
        engine = BatchEngine(args.model, n_seq_max=args.parallel, n_ctx=args.n_ctx,
                             n_batch=max(args.n_batch, args.parallel), n_threads=args.threads,
                             prefix_cache=args.prefix_cache)
    except (OSError, ValueError) as e:
        print(f"pyggml-server: cannot load {args.model}: {e}", file=sys.stderr)
        return 2
    app = create_app(engine, args.model, api_key=args.api_key, max_queue=args.max_queue,
                     drain_timeout=args.drain_timeout)
    print(f"pyggml-server: {args.model}: {args.parallel} slots x {args.n_ctx} tokens, "
          f"{engine.runner.n_threads} threads, http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=args.drain_timeout)
    uvicorn.Server(config).run()
    engine.close()
    return 0
