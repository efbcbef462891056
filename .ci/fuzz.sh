#!/usr/bin/env bash
# Bounded coverage-guided fuzzing (atheris) of the GGUF reader, both tokenizer families and the
# chat-template renderer: FUZZ_SECONDS (default 60) per target, failing on the first finding.
# Runs in the environment .ci/run set up (pyggml installed, models fetched). A finding is left
# in $FUZZ_WORK/TARGET/crash-* and printed; copy it to tests/fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_WORK="${FUZZ_WORK:-$(mktemp -d /tmp/pyggml-fuzz.XXXXXX)}"

python -m pip install -q "atheris>=2.3"
export FUZZ_SCRATCH_DIR="$FUZZ_WORK"   # the GGUF target's scratch file (libFuzzer exits without atexit)
status=0
for target in gguf tokenizer_bpe tokenizer_spm template; do
    start=$(date +%s)
    log="$FUZZ_WORK/$target.log"
    if python tests/fuzz/run.py "$target" --seconds "$FUZZ_SECONDS" --work "$FUZZ_WORK/$target" >"$log" 2>&1; then
        result=ok
    else
        result=FAILED; status=1
        tail -n 40 "$log"
        ls "$FUZZ_WORK/$target"/crash-* "$FUZZ_WORK/$target"/timeout-* "$FUZZ_WORK/$target"/oom-* 2>/dev/null || true
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz $target: $result, $(( $(date +%s) - start )) s, ${execs:-?} executions (${rate:-?}/s)"
done
exit $status
