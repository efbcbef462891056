#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer: the C harness and a representative part of the
# test suite (reader, malformed files, ops, matmul on every path, quants, tokenizer, threads, one
# real-model generation) against a build of the extension with -fsanitize=address,undefined.
# Any report fails the run: ASan stops at its first error, UBSan is built non-recovering.
# Runs in the environment .ci/run set up (test deps installed, models fetched); the sanitized
# extension is installed into its own directory ($SAN_DIR/site) and put first on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
SAN_DIR="${SAN_DIR:-$(mktemp -d /tmp/pyggml-sanitize.XXXXXX)}"
SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

t0=$(date +%s)
# 1. the C harness, natively, with the sanitizers compiled in
PG_NATIVE_CFLAGS="$SAN_FLAGS -g" bash tests/c/run.sh native
t1=$(date +%s); echo "sanitize: C harness $(( t1 - t0 )) s"

# 2. the extension, sanitized (-g for readable reports), beside the normal install. CMakeLists
# sets CMAKE_C_FLAGS_RELEASE itself, so the flags go in CMAKE_C_FLAGS; a Python module links
# with CMAKE_MODULE_LINKER_FLAGS.
python -m pip install -q --no-deps --target "$SAN_DIR/site" -Cbuild-dir="$SAN_DIR/build" \
    -Ccmake.define.CMAKE_C_FLAGS="-g $SAN_FLAGS" \
    -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" .
so="$(ls "$SAN_DIR"/site/pyggml/_core*.so)"
# The symbol table goes to a file first: `nm | grep -q` under pipefail fails whenever grep exits
# at its first match before nm has finished writing (nm dies of SIGPIPE) — a timing-dependent red.
nm -D "$so" > "$SAN_DIR/core-symbols.txt"
if ! grep -q __asan_report "$SAN_DIR/core-symbols.txt" || ! grep -q __ubsan_handle "$SAN_DIR/core-symbols.txt"; then
    echo "sanitize: $so is not instrumented (no __asan_report / __ubsan_handle symbols)" >&2
    exit 1
fi
t2=$(date +%s); echo "sanitize: sanitized build $(( t2 - t1 )) s"

# 3. the chosen tests against it (python is not sanitized: the ASan runtime is preloaded)
LIBASAN="$(gcc -print-file-name=libasan.so)"
PYTHONPATH="$SAN_DIR/site" LD_PRELOAD="$LIBASAN" python -c '
import os, pyggml._core as core
assert core.__file__.startswith(os.environ["PYTHONPATH"]), f"not the sanitized build: {core.__file__}"
print("sanitized extension:", core.__file__)'
PYTHONPATH="$SAN_DIR/site" LD_PRELOAD="$LIBASAN" python -m pytest -q -p no:cacheprovider \
    tests/test_gguf_reader.py tests/test_gguf_malformed.py tests/test_gguf_strings.py \
    tests/test_ops.py tests/test_matmul.py tests/test_quants.py tests/test_vocab_map.py \
    tests/test_tokenizer.py tests/test_threads.py tests/test_fuzz_regressions.py \
    "tests/test_llama_api.py::test_greedy_completion_dict_shape_and_text"
t3=$(date +%s); echo "sanitize: tests under ASan+UBSan $(( t3 - t2 )) s; total $(( t3 - t0 )) s"
