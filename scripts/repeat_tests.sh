#!/usr/bin/env bash
# Run the full test suite N times, each on a fresh `git clone` of this repository (`make test` there, so the
# virtual environment is built from scratch; pip's cache is reused), optionally beside a CPU-heavy load.
#
#   scripts/repeat_tests.sh [-n N] [--load] [--ref REF] [--keep] [-- MAKE_ARGS...]
#
#   -n N       runs (default 10)
#   --load     beside each run, one busy loop (`python3 -c 'while True: pass'`) per CPU core, stopped at the end
#   --ref REF  what to clone (default: HEAD of this repository; uncommitted changes are not tested)
#   --keep     keep the clones and logs (default: keep only the logs of failed runs)
#
# Prints PASS/FAIL per run with its time and pytest's last line, then one summary line; exits 1 if any run failed.
# The suite runs with stdin from /dev/null and SIGINT at its default, whatever this shell inherited (a background
# job of a non-interactive shell inherits SIGINT ignored, which the Ctrl-C test must not depend on).
set -u

runs=10 load=0 ref=HEAD keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        --load) load=1; shift ;;
        --ref) ref="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "repeat_tests.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$runs" in ''|*[!0-9]*|0) echo "repeat_tests.sh: -n needs a positive integer" >&2; exit 2 ;; esac

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel) || exit 2
commit=$(git -C "$repo" rev-parse --verify "$ref^{commit}") || { echo "repeat_tests.sh: unknown ref $ref" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/flywheel-repeat.XXXXXX")
cores=$(nproc 2>/dev/null || echo 2)
hogs=()

stop_load() {
    local pid
    for pid in "${hogs[@]+"${hogs[@]}"}"; do kill "$pid" 2>/dev/null; done
    for pid in "${hogs[@]+"${hogs[@]}"}"; do wait "$pid" 2>/dev/null; done
    hogs=()
}
cleanup() { stop_load; [ "$keep" = 1 ] || rm -rf "$work/clone"*; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "repeat_tests: $runs run(s) of 'make test' on fresh clones of ${commit:0:12}$([ "$load" = 1 ] && echo ", beside $cores busy loop(s)"); logs in $work"
failed=0
for i in $(seq 1 "$runs"); do
    clone="$work/clone$i" log="$work/run$i.log"
    if ! git clone --quiet --no-hardlinks "$repo" "$clone" >"$log" 2>&1 || ! git -C "$clone" checkout --quiet "$commit" >>"$log" 2>&1; then
        echo "run $i: FAIL (git clone failed, see $log)"; failed=$((failed + 1)); continue
    fi
    if [ "$load" = 1 ]; then
        for _ in $(seq 1 "$cores"); do python3 -c 'while True: pass' & hogs+=($!); done
    fi
    start=$(date +%s)
    # SIGINT back to its default for the suite: `trap - INT` in a child shell does not undo an inherited SIG_IGN,
    # so python resets it before exec'ing make.
    python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp("make", sys.argv[1:])' \
        -C "$clone" test "$@" </dev/null >>"$log" 2>&1
    rc=$?
    stop_load
    secs=$(( $(date +%s) - start ))
    last=$(grep -E '(passed|failed|error)' "$log" | tail -n 1)
    if [ "$rc" = 0 ]; then
        echo "run $i: PASS in ${secs}s: $last"
        [ "$keep" = 1 ] || rm -f "$log"
    else
        echo "run $i: FAIL (make exit $rc) in ${secs}s: ${last:-see $log}"
        grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
    [ "$keep" = 1 ] || rm -rf "$clone"
done
echo "repeat_tests: $((runs - failed)) of $runs passed, $failed failed ($([ "$load" = 1 ] && echo "with" || echo "without") CPU load, ${commit:0:12})"
[ "$failed" = 0 ]
