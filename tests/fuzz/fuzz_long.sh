#!/usr/bin/env bash
# fuzz_long.sh - run each libFuzzer harness for a while, then merge what it found into its committed corpus.
#
#   tests/fuzz/fuzz_long.sh BUILD_DIR SECONDS tests/fuzz/fuzz_X.c ...
#
# Harnesses run one after another (the machine's cores are shared). Each
# writes new inputs to BUILD_DIR/scratch/X, never to the corpus itself;
# `-merge=1` then adds to tests/fuzz/corpus/X only the inputs that bring
# new coverage, so the committed corpus stays small. A finding stops the
# run with the harness's report and the crashing input in BUILD_DIR.
# tests/fuzz/fuzz_X.dict is used as the harness's dictionary when present.
set -euo pipefail

build=$1 seconds=$2
shift 2

# Inputs longer than this add little but slow every execution down; the
# corpus must stay a few MB. Formats with tensors after a header get more.
max_len_of() {
    case $1 in
        json|v2) echo 16384 ;;
        frame) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

# "files bytes" of a corpus directory.
corpus_size() {
    find "$1" -type f -printf '%s\n' | awk '{n++; b += $1} END {printf "%d %d", n, b}'
}

summary=()
for src in "$@"; do
    harness=$(basename "$src" .c)
    name=${harness#fuzz_}
    bin=$build/$harness corpus=tests/fuzz/corpus/$name scratch=$build/scratch/$name
    log=$build/$harness.log max_len=$(max_len_of "$name")
    opts=(-max_len="$max_len" -timeout=20 -rss_limit_mb=2048)
    [ -f "tests/fuzz/$harness.dict" ] && opts+=(-dict="tests/fuzz/$harness.dict")
    rm -rf "$scratch"
    mkdir -p "$scratch" "$corpus"
    read -r files0 bytes0 <<<"$(corpus_size "$corpus")"

    echo "== $harness: ${seconds}s, -max_len=$max_len, log in $log"
    if ! "$bin" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
            -artifact_prefix="$build/$harness-" "$scratch" "$corpus" >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz-long: $harness found a failure (input saved as $build/$harness-*)"
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    "$bin" "${opts[@]}" -merge=1 "$corpus" "$scratch" >"$build/$harness.merge.log" 2>&1
    read -r files1 bytes1 <<<"$(corpus_size "$corpus")"
    summary+=("$(printf '%-16s %12s execs in %ss  corpus %4d -> %4d files, %7d -> %7d bytes' \
        "$harness" "$execs" "$seconds" "$files0" "$files1" "$bytes0" "$bytes1")")
done

echo "fuzz-long summary:"
printf '  %s\n' "${summary[@]}"
