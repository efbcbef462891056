"""Run one fuzz target with atheris (coverage-guided, libFuzzer) for a bounded time.

    python tests/fuzz/run.py TARGET [--seconds 60] [--work DIR]

The target's seed corpus (tests/fuzz/corpus/TARGET) is copied into DIR (a temp dir by default),
so the fuzzer's new inputs never land in the repository. A crash or an unexpected exception
stops the run with a non-zero status and leaves the input as DIR/crash-*: copy it into
tests/fuzz/regressions/TARGET/ and it becomes a regression test (tests/test_fuzz_regressions.py).
libFuzzer's final stats (stat::number_of_executed_units, stat::average_exec_per_sec, ...) end
the output.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()

    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["pyggml", "jinja2", "targets"]):
        import targets
    if args.target not in targets.TARGETS:
        parser.error(f"unknown target {args.target!r}; one of {', '.join(targets.TARGETS)}")
    fn = targets.TARGETS[args.target]

    work = Path(args.work or tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    corpus = work / "corpus"
    if not corpus.exists():
        shutil.copytree(HERE / "corpus" / args.target, corpus)
    for seed in sorted(corpus.iterdir()):        # warm caches (models) before the clock starts
        fn(seed.read_bytes())

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={args.seconds}", "-timeout=20",
                   "-rss_limit_mb=3072", f"-artifact_prefix={work}/", "-print_final_stats=1"], fn)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
