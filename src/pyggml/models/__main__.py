"""pyggml-models: fetch, derive and list the models of the manifest.

    pyggml-models list             known models (real, derived, synthetic) and which are cached
    pyggml-models fetch NAME...    download (or derive, or write a synthetic file) and verify; prints each path
    pyggml-models derive NAME...   write a derived variant (and what it comes from)

Files are cached in $PYGGML_MODELS (default ~/.cache/pyggml/models) and verified by sha256 (synthetic
files, whose weights come from numpy's seeded generator, by the recipe they record)."""
from __future__ import annotations

import argparse
import sys

from . import ModelError, cache_dir, ensure_model, list_models, load_manifest


def _cmd_list(args: argparse.Namespace) -> int:
    statuses = list_models()
    width = max(len(s.name) for s in statuses)
    origin_width = max(len(s.origin) for s in statuses)
    print(f"cache: {cache_dir()}")
    for s in statuses:
        where = f"{s.cached_size / 1e6:9.1f} MB  {s.path}" if s.cached_size is not None else "not cached"
        print(f"{s.name:<{width}}  {s.origin:<{origin_width}}  {where}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        print(ensure_model(name), flush=True)
    return 0


def _cmd_derive(args: argparse.Namespace) -> int:
    manifest = load_manifest()
    for name in args.names:
        if name not in manifest.derived:
            raise ModelError(f"{name!r} is not a derived model; derived: {', '.join(manifest.derived)}")
    for name in args.names:
        print(ensure_model(name, manifest), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyggml-models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="known models and which are cached").set_defaults(run=_cmd_list)
    fetch = commands.add_parser("fetch", help="download or derive, verify, print the path")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.set_defaults(run=_cmd_fetch)
    derive = commands.add_parser("derive", help="write a derived variant, print the path")
    derive.add_argument("names", nargs="+", metavar="NAME")
    derive.set_defaults(run=_cmd_derive)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ModelError as e:
        print(f"pyggml-models: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
