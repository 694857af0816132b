#!/usr/bin/env bash
# Coverage-guided fuzzing of the edxml parser (fuzz/fuzz_targets/parse.rs) on the STABLE toolchain.
#
# cargo-fuzz needs nightly only for its defaults (-Zsanitizer=address); the coverage
# instrumentation libFuzzer feeds on (SanitizerCoverage) is reachable on stable through
# `-Cpasses=sancov-module` and `-Cllvm-args=...`. So: a standalone crate `fuzz/` (its own
# workspace, its own target dir fuzz/target) built with plain `cargo build --release`.
#
# Steps: build; seed fuzz/corpus/parse from ../shared/interop/edxml (if present) and from
# crates/edxml/tests/fuzz-regressions/; replay the regressions; fuzz for $FUZZ_SECONDS.
# Any crash, timeout or OOM is copied into crates/edxml/tests/fuzz-regressions/ under a
# descriptive name and the script exits non-zero.
#
# Environment:
#   FUZZ_SECONDS      fuzzing time budget in seconds (default 60)
#   FUZZ_TIMEOUT      per-input timeout in seconds (default 30)
#   FUZZ_MAX_LEN      largest input libFuzzer generates, in bytes (default 1048576)
#   FUZZ_KEEP_GOING   1: fork mode with -ignore_crashes/-ignore_timeouts/-ignore_ooms, so one run
#                     collects every crash it finds instead of stopping at the first (default 0)
#   FUZZ_BUILD_ONLY   1: build and exit
#   CARGO_BUILD_JOBS  passed through to cargo (set it to 1 on a shared machine)
#   Extra arguments are passed to libFuzzer (e.g. -only_ascii=1, -seed=1).

set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

fuzz_seconds="${FUZZ_SECONDS:-60}"
fuzz_timeout="${FUZZ_TIMEOUT:-30}"
fuzz_max_len="${FUZZ_MAX_LEN:-1048576}"
keep_going="${FUZZ_KEEP_GOING:-0}"

target_name=parse
fuzz_dir="$repo_root/fuzz"
corpus_dir="$fuzz_dir/corpus/$target_name"
artifact_dir="$fuzz_dir/artifacts/$target_name"
regressions_dir="$repo_root/crates/edxml/tests/fuzz-regressions"
interop_dir="$repo_root/../shared/interop/edxml"

# --- Build -----------------------------------------------------------------------------------------
# `--target <host>` matters: with an explicit target, RUSTFLAGS apply to the fuzz target and its
# dependencies only, not to build scripts and proc macros (which would fail to link, since the
# sancov callbacks live in libFuzzer). Same reason cargo-fuzz passes --target.
host="$(rustc -vV | sed -n 's/^host: //p')"
rustflags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
)
case "$host" in
    *-linux-*) rustflags+=(-Cllvm-args=-sanitizer-coverage-stack-depth) ;;
esac
unset CARGO_ENCODED_RUSTFLAGS

echo "fuzz.sh: building fuzz target '$target_name' for $host (release, debug assertions + overflow checks)" >&2
build_start=$SECONDS
RUSTFLAGS="${rustflags[*]}" cargo build --release \
    --manifest-path "$fuzz_dir/Cargo.toml" --target "$host" --bin "$target_name"
echo "fuzz.sh: build took $((SECONDS - build_start)) s" >&2
bin="$fuzz_dir/target/$host/release/$target_name"

if [[ "${FUZZ_BUILD_ONLY:-0}" == 1 ]]; then
    echo "fuzz.sh: built $bin" >&2
    exit 0
fi

# --- Seed the corpus -------------------------------------------------------------------------------
mkdir -p "$corpus_dir" "$artifact_dir" "$regressions_dir"
seeded=0
if [[ -d "$interop_dir" ]]; then
    for f in "$interop_dir"/*.edxml; do
        [[ -f "$f" ]] || continue
        cp -f "$f" "$corpus_dir/seed-interop-$(basename "$f")"
        chmod u+w "$corpus_dir/seed-interop-$(basename "$f")"
        seeded=$((seeded + 1))
    done
else
    echo "fuzz.sh: no interop samples at $interop_dir; not seeding from them" >&2
fi

regressions=()
for f in "$regressions_dir"/*; do
    [[ -f "$f" ]] || continue
    [[ "$(basename "$f")" == README.md ]] && continue
    regressions+=("$f")
    cp -f "$f" "$corpus_dir/seed-regression-$(basename "$f")"
    seeded=$((seeded + 1))
done
echo "fuzz.sh: seeded $seeded file(s) into $corpus_dir ($(find "$corpus_dir" -type f | wc -l) in corpus)" >&2

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# The panic message and location of one input: "file:line:col: message", or the first line of a
# non-panic failure (stack overflow, signal).
describe_failure() {
    local input="$1" out
    out="$("$bin" -timeout="$fuzz_timeout" -rss_limit_mb=2048 "$input" 2>&1 || true)"
    local located
    # "thread '<unnamed>' (1234) panicked at crates/edxml/src/dom.rs:12:5:" then the message.
    located="$(printf '%s\n' "$out" | sed -En "s/^thread '[^']*'( \([0-9]+\))? panicked at (.*):$/\2/p" | head -n1)"
    if [[ -n "$located" ]]; then
        local message
        message="$(printf '%s\n' "$out" | sed -En "/^thread '[^']*'( \([0-9]+\))? panicked at /{n;p;q}")"
        printf '%s: %s\n' "$located" "${message:0:300}"
    else
        printf '%s\n' "$out" | grep -m1 -E 'overflowed its stack|deadly signal|ERROR: libFuzzer|out-of-memory|timeout' || echo "unknown failure"
    fi
}

# A file-name-friendly summary of a failure: where it panicked, or what kind of failure it was.
slug_for() {
    local kind="$1" description="$2"
    case "$description" in
        *"round trip: parse(write(package)) != package"*) echo "roundtrip-mismatch"; return ;;
        *"round trip: the writer's output does not parse"*) echo "roundtrip-unparsable"; return ;;
        *"overflowed its stack"*) echo "stack-overflow"; return ;;
    esac
    if [[ "$kind" != crash ]]; then echo "$kind"; return; fi
    local location="${description%%: *}"   # e.g. crates/edxml/src/dom.rs:123:45
    if [[ "$location" =~ ([A-Za-z0-9_]+)\.rs:([0-9]+) ]]; then
        echo "panic-${BASH_REMATCH[1]}-L${BASH_REMATCH[2]}"
    else
        echo "crash"
    fi
}

# --- Replay the known regressions ------------------------------------------------------------------
# One that still fails would stop libFuzzer on its initial corpus; say which, plainly.
if ((${#regressions[@]} > 0)) && [[ "$keep_going" != 1 ]]; then
    still_failing=0
    for f in "${regressions[@]}"; do
        if ! "$bin" -timeout="$fuzz_timeout" -rss_limit_mb=2048 "$f" >/dev/null 2>&1; then
            echo "fuzz.sh: known regression still fails: $f" >&2
            echo "    $(describe_failure "$f")" >&2
            still_failing=$((still_failing + 1))
        fi
    done
    if ((still_failing > 0)); then
        echo "fuzz.sh: FAILED: $still_failing input(s) in $regressions_dir still crash the parser; fix them first (or run with FUZZ_KEEP_GOING=1)." >&2
        exit 1
    fi
fi

# --- Fuzz ------------------------------------------------------------------------------------------
stamp="$(mktemp "$artifact_dir/.started.XXXXXX")"
log="$artifact_dir/fuzz-$(date +%Y%m%d-%H%M%S).log"
fuzzer_args=(
    "$corpus_dir"
    -max_total_time="$fuzz_seconds"
    -rss_limit_mb=2048
    -max_len="$fuzz_max_len"
    -timeout="$fuzz_timeout"
    -artifact_prefix="$artifact_dir/"
    -dict="$fuzz_dir/parse.dict"
    -print_final_stats=1
)
if [[ "$keep_going" == 1 ]]; then
    fuzzer_args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
echo "fuzz.sh: fuzzing for ${fuzz_seconds} s; log: $log" >&2
set +e
"$bin" "${fuzzer_args[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# --- Keep what it found ----------------------------------------------------------------------------
found=0
while IFS= read -r -d '' artifact; do
    name="$(basename "$artifact")"
    kind="${name%%-*}"                        # crash, oom, timeout, leak
    hash="${name#*-}"
    description="$(describe_failure "$artifact")"
    dest="$regressions_dir/$(slug_for "$kind" "$description")-${hash:0:12}.edxml"
    if ! cmp -s "$artifact" "$dest" 2>/dev/null; then
        cp "$artifact" "$dest"
    fi
    found=$((found + 1))
    echo "fuzz.sh: $kind: $description" >&2
    echo "fuzz.sh:   input kept as $dest" >&2
done < <(find "$artifact_dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) -newer "$stamp" -print0)
rm -f "$stamp"

if ((found > 0)); then
    echo "fuzz.sh: FAILED: the fuzzer found $found failing input(s); each is now in $regressions_dir (replay one: $bin <file>)." >&2
    exit 1
fi
if ((status != 0)); then
    echo "fuzz.sh: FAILED: libFuzzer exited with status $status and left no artifact; see $log" >&2
    exit "$status"
fi
echo "fuzz.sh: no crash in ${fuzz_seconds} s; corpus: $(find "$corpus_dir" -type f | wc -l) inputs" >&2
