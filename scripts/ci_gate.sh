#!/usr/bin/env bash
# The timing regression gate of .github/workflows/benchmarks.yml, runnable anywhere:
#   scripts/ci_gate.sh BASE_SRC [OUT]
# BASE_SRC is a checkout of the base commit (e.g. `git worktree add ../base origin/main`); the
# head is this checkout. Both run the head's gate suite with the same threads on this machine, in
# one go, so the only intended difference is the code. Then:
#   1. exact metrics and statuses (a2bench compare --exact-only): any change fails at once;
#   2. timings (a2bench compare --normalize): a significant slowdown beyond THRESHOLD percent
#      fails only if a second pair of runs, head first this time, flags it too. A real regression
#      shows up twice; a burst of load on a shared runner rarely hits the same run twice.
# Exit 0 pass, 1 regression, 2 bad input. Reports land in OUT (default results/local/gate-<time>).
set -uo pipefail
cd "$(dirname "$0")/.."

BASE_SRC=${1:?usage: scripts/ci_gate.sh BASE_SRC [OUT]  (BASE_SRC: a checkout of the base commit)}
OUT=${2:-results/local/gate-$(date +%Y%m%d-%H%M%S)}
SUITE=${SUITE:-suites/gate.yaml}
THREADS=${THREADS:-2}
THRESHOLD=${THRESHOLD:-10}
PYTHON=${PYTHON:-$(test -x .venv/bin/python && echo .venv/bin/python || echo python)}
BASE_SRC=$(cd "$BASE_SRC" && pwd) || exit 2
HEAD_SRC=$(pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
SUITE=$(cd "$(dirname "$SUITE")" && pwd)/$(basename "$SUITE")
PYTHON=$(command -v "$PYTHON") || { echo "no python: $PYTHON" >&2; exit 2; }
case $PYTHON in /*) ;; *) PYTHON=$HEAD_SRC/$PYTHON ;; esac

# Each side runs its own code: started from that checkout with it first on PYTHONPATH, its
# a2bench is the one imported, by the CLI and by the measuring worker it spawns (python -m puts
# the working folder first on sys.path, hence the cd). The suite file is the head's, so both
# sides run the same cases even when the base predates the file.
run_side() {  # src name
    echo "== running $SUITE on $2 ($1), $THREADS threads"
    (cd "$1" && PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m a2bench.cli run \
        "$SUITE" --out "$OUT/$2" --threads "$THREADS" --no-progress >"$OUT/$2.log" 2>&1)
    local rc=$?
    grep -v '^USDT:' "$OUT/$2.log"
    if [ $rc -ne 0 ] || [ ! -s "$OUT/$2/results.jsonl" ]; then
        echo "gate: the $2 run failed (exit $rc); see $OUT/$2.log" >&2
        exit 2
    fi
}
compare() {  # report base head flags...; the head's compare reads both
    local report=$1 base=$2 head=$3
    shift 3
    PYTHONPATH="$HEAD_SRC" "$PYTHON" -m a2bench.cli compare "$OUT/$base" "$OUT/$head" "$@" \
        >"$OUT/$report" 2>&1
    local rc=$?
    cat "$OUT/$report"
    return $rc
}

run_side "$BASE_SRC" base
run_side "$HEAD_SRC" head

compare compare-exact.txt base head --exact-only
rc=$?
if [ $rc -ne 0 ]; then
    echo "gate: exact metrics or statuses changed (exit $rc); see $OUT/compare-exact.txt"
    exit $rc
fi

compare compare.txt base head --normalize --threshold "$THRESHOLD"
rc=$?
if [ $rc -ne 1 ]; then
    exit $rc
fi

echo "== a slowdown was flagged; confirming with a second pair of runs (head first)"
run_side "$HEAD_SRC" head-2
run_side "$BASE_SRC" base-2
compare compare-confirm.txt base-2 head-2 --normalize --threshold "$THRESHOLD"
rc=$?
if [ $rc -eq 0 ]; then
    echo "gate: the second pair of runs did not confirm the slowdown; treated as noise (pass)"
fi
exit $rc
