#!/usr/bin/env bash
# The C kernel harness: builds every tests/c/test_*.c as its own program, linked with all of
# csrc/**/*.c (only the arch/ directory of the target ISA), without Python, and runs it.
#
#   tests/c/run.sh [native|arm|all|x86-avx2]      (default: all)
#
# native  host gcc -O2; arch/x86 files get -mavx2 -mfma -mf16c, arch/x86_512 also AVX-512 + VNNI
#         (arch/arm on an aarch64 host).
# arm     aarch64-linux-gnu-gcc -O2 -static -march=armv8-a (the dotprod kernels enable the
#         extension themselves), run under qemu-aarch64 twice: -cpu max (has dotprod) and
#         -cpu cortex-a53 (ARMv8.0, no dotprod: the vmull fallback is the one chosen).
#         "all" skips this part with a note when the tools are missing; "arm" fails (status 2).
# x86-avx2  the native x86-64 build run under qemu-x86_64 -cpu Haswell (AVX2, no AVX-512): the
#         avx512 path must report itself unavailable and everything else pass (not part of "all").
# Each program prints "N passed, N failed" and exits non-zero on failure; so does this script.
# PG_NATIVE_CFLAGS adds compile+link flags to the native build (.ci/sanitize.sh: the sanitizers).
set -euo pipefail

mode="${1:-all}"
case "$mode" in native|arm|all|x86-avx2) ;; *) echo "usage: $0 [native|arm|all|x86-avx2]" >&2; exit 64 ;; esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/pg-ctests.XXXXXX")"
trap 'rm -rf "$work"' EXIT
jobs="$(nproc 2>/dev/null || echo 2)"
failed=0

# build <name> <cc> <isa: x86|arm> <extra link flags...>: objects of csrc + one program per test
build() {
    local name="$1" cc="$2" isa="$3"; shift 3
    local out="$work/$name" define base_flags arch_flags
    local avx512_flags="-mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx512vnni"
    mkdir -p "$out/obj"
    base_flags=(-O2 -std=gnu11 -Wall -Wno-unused-function -I"$root/csrc")
    if [ "$name" = native ] && [ -n "${PG_NATIVE_CFLAGS:-}" ]; then
        read -r -a extra <<<"$PG_NATIVE_CFLAGS"
        base_flags+=("${extra[@]}")
    fi
    case "$isa" in
        x86) define="-DPG_HAVE_X86_KERNELS=1 -DPG_HAVE_X86_512_KERNELS=1"; arch_flags=(-mavx2 -mfma -mf16c) ;;
        arm) define=-DPG_HAVE_ARM_KERNELS=1; arch_flags=(-march=armv8-a); base_flags+=(-march=armv8-a) ;;
        *) define=""; arch_flags=() ;;
    esac
    # one compile command per source, run $jobs at a time
    {
        find "$root/csrc" -name '*.c' -not -path '*/csrc/arch/*' | sort | while read -r src; do
            printf '%s\0' "$cc ${base_flags[*]} $define -c $src -o $out/obj/$(echo "${src#$root/}" | tr / _).o"
        done
        if [ -d "$root/csrc/arch/$isa" ]; then
            find "$root/csrc/arch/$isa" -name '*.c' | sort | while read -r src; do
                printf '%s\0' "$cc ${base_flags[*]} ${arch_flags[*]} $define -c $src -o $out/obj/$(echo "${src#$root/}" | tr / _).o"
            done
        fi
        if [ "$isa" = x86 ]; then  # AVX-512 sources: their own flags, chosen at run time
            find "$root/csrc/arch/x86_512" -name '*.c' | sort | while read -r src; do
                printf '%s\0' "$cc ${base_flags[*]} ${arch_flags[*]} $avx512_flags $define -c $src -o $out/obj/$(echo "${src#$root/}" | tr / _).o"
            done
        fi
    } | xargs -0 -P "$jobs" -I{} sh -c '{}'
    for test in "$root"/tests/c/test_*.c; do
        $cc "${base_flags[@]}" $define -I"$root/tests/c" "$test" "$out"/obj/*.o -o "$out/$(basename "$test" .c)" "$@" -lm -lpthread
    done
}

# run_all <build name> <label> <runner...>: every built program, through the runner
run_all() {
    local name="$1" label="$2"; shift 2
    for prog in "$work/$name"/test_*; do
        echo "== $label: $(basename "$prog") =="
        if ! "$@" "$prog"; then
            echo "== $label: $(basename "$prog") FAILED =="
            failed=1
        fi
    done
}

if [ "$mode" = x86-avx2 ]; then
    if [ "$(uname -m)" != x86_64 ] || ! command -v qemu-x86_64 >/dev/null; then
        echo "x86-avx2: needs an x86-64 host with qemu-x86_64 (apt-get install qemu-user)" >&2
        exit 2
    fi
    build native "${CC:-gcc}" x86
    run_all native "x86-64 qemu -cpu Haswell" qemu-x86_64 -cpu Haswell
    exit "$failed"
fi

if [ "$mode" != arm ]; then
    case "$(uname -m)" in
        x86_64|amd64) host_isa=x86 ;;
        aarch64|arm64) host_isa=arm ;;
        *) host_isa=none ;;
    esac
    build native "${CC:-gcc}" "$host_isa"
    run_all native "native $(uname -m)"
fi

if [ "$mode" != native ]; then
    if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
        build arm aarch64-linux-gnu-gcc arm -static
        run_all arm "aarch64 qemu -cpu max" qemu-aarch64 -cpu max
        run_all arm "aarch64 qemu -cpu cortex-a53" qemu-aarch64 -cpu cortex-a53
    elif [ "$mode" = arm ]; then
        echo "arm: aarch64-linux-gnu-gcc and qemu-aarch64 are required (apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2
        exit 2
    else
        echo "note: aarch64-linux-gnu-gcc or qemu-aarch64 missing: NEON run skipped"
    fi
fi

exit "$failed"
