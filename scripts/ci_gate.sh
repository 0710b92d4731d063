#!/usr/bin/env bash
# The timing regression gate of .github/workflows/benchmarks.yml, runnable anywhere:
#   scripts/ci_gate.sh BASE_SRC [OUT]
# BASE_SRC is a checkout of the base commit (e.g. `git worktree add ../base origin/main`); the
# head is this checkout. Both run the head's gate suite with the same threads on this machine, in
# one go, so the only intended difference is the code.
#
# Each side runs PASSES passes of the suite, every pass in a fresh worker process: one process's
# samples of a case are all fast or all slow (measured: up to 1.55x apart between processes of the
# same code), so the process, not the sample, is what a2bench compare replicates. The passes are
# interleaved (base 1, head 1, head 2, base 2, base 3, ...), so load or drift on a shared runner
# falls on both sides alike instead of on whichever side ran during it. Then:
#   1. exact metrics and statuses (a2bench compare --exact-only): any change fails at once;
#   2. timings (a2bench compare, raw): a case, or the suite as a whole, significantly slower
#      beyond THRESHOLD percent fails.
# There is no confirming second round by default (CONFIRM=1 brings it back: a flag then fails only
# if a second round of passes, head first, flags it too). It was a workaround for load hitting one
# side's single run; interleaved passes share such load between the sides, and with them 5 reruns
# of the same commit gave no false alarm on 2026-12-03 and one on 2026-12-07, a run whose
# processes ran 1.2x slower (scripts/gate_evidence.py, docs/ci.md), while a borderline real
# regression (one thread instead of two: flagged by one case at Holm p = 0.04) would have to be
# flagged twice, and every flag would cost another 2-3 minutes.
# Timings are compared raw: both sides ran on this machine, interleaved, so there is no machine
# difference for --normalize to divide out, and dividing by the reference kernel would add its
# noise and hide a thread-count regression. The --normalize report is written for reading.
# Exit 0 pass, 1 regression, 2 bad input. Reports land in OUT (default results/local/gate-<time>).
set -uo pipefail
cd "$(dirname "$0")/.."

# no BASE_SRC is bad input (2), not a regression: `${1:?}` had exited 1
[ $# -ge 1 ] && [ -n "$1" ] \
    || { echo "ci_gate: no BASE_SRC given; usage: scripts/ci_gate.sh BASE_SRC [OUT], BASE_SRC a checkout of the base commit" >&2; exit 2; }
BASE_SRC=$1
OUT=${2:-results/local/gate-$(date +%Y%m%d-%H%M%S)}
SUITE=${SUITE:-suites/gate.yaml}
THREADS=${THREADS:-2}
THRESHOLD=${THRESHOLD:-10}
PASSES=${PASSES:-6}            # worker processes per side; a case fails only where 1/C(2P, P) <
                               # 0.025/cases: 5 passes for up to 6 cases, 6 for up to 23
                               # (gate.yaml has 9)
CONFIRM=${CONFIRM:-0}          # 1: a flag must be confirmed by a second round of passes
TIME_BUDGET=${TIME_BUDGET:-0.3}  # seconds of sampling per case and pass: ~10 s a pass on 2 cores
# The gate never reads the ceilings, and every pass calibrates twice (start and end of the sweep).
CALIBRATION_TIME=${CALIBRATION_TIME:-0.05}
PYTHON=${PYTHON:-$(test -x .venv/bin/python && echo .venv/bin/python || echo python)}
BASE_SRC=$(cd "$BASE_SRC" 2>/dev/null && pwd) \
    || { echo "ci_gate: BASE_SRC $1: no such folder; expected a checkout of the base commit" >&2; exit 2; }
# Without its own package a base would import the one installed in the venv (the head's, in
# CI), and the gate would compare the head with itself and pass.
[ -f "$BASE_SRC/a2bench/__init__.py" ] \
    || { echo "ci_gate: BASE_SRC $BASE_SRC holds no a2bench/ package; expected a checkout of the base commit" >&2; exit 2; }
HEAD_SRC=$(pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
SUITE=$(cd "$(dirname "$SUITE")" && pwd)/$(basename "$SUITE")
PYTHON=$(command -v "$PYTHON") || { echo "no python: $PYTHON" >&2; exit 2; }
case $PYTHON in /*) ;; *) PYTHON=$HEAD_SRC/$PYTHON ;; esac

# Each side runs its own code: started from that checkout with it first on PYTHONPATH, its
# a2bench is the one imported, by the CLI and by the measuring worker it spawns (python -m puts
# the working folder first on sys.path, hence the cd). The suite file is the head's, so both
# sides run the same cases even when the base predates the file.
a2bench_in() {  # src args...
    local src=$1
    shift
    (cd "$src" && PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m a2bench.cli "$@")
}
# A base from before `a2bench run --processes` runs one pass per invocation (see run_pass).
BASE_HAS_PROCESSES=no
a2bench_in "$BASE_SRC" run --help 2>/dev/null | grep -- '--processes' >/dev/null && BASE_HAS_PROCESSES=yes
BASE_HAS_CALIBRATION_TIME=no
a2bench_in "$BASE_SRC" run --help 2>/dev/null | grep -- '--calibration-time' >/dev/null &&
    BASE_HAS_CALIBRATION_TIME=yes

# Pass i (0-based) of one side goes into OUT/name. A2bench with --processes appends it with
# `--processes i+1 --resume` (the passes already stored are kept). An older base without it runs
# the pass into its own folder, and the pass is appended to OUT/name with its pass index set.
run_pass() {  # src name i
    local src=$1 name=$2 i=$3 rc
    local log="$OUT/$name.pass$((i + 1)).log"
    local single="$OUT/$name.pass$((i + 1))"
    echo "== pass $((i + 1))/$PASSES of $(basename "$SUITE") on $name ($src), $THREADS threads"
    local common=(--threads "$THREADS" --time-budget "$TIME_BUDGET" --no-progress)
    if [ "$src" = "$HEAD_SRC" ] || [ "$BASE_HAS_CALIBRATION_TIME" = yes ]; then
        common+=(--calibration-time "$CALIBRATION_TIME")
    fi
    if [ "$src" = "$HEAD_SRC" ] || [ "$BASE_HAS_PROCESSES" = yes ]; then
        local resume=()
        [ "$i" -gt 0 ] && resume=(--resume)
        a2bench_in "$src" run "$SUITE" --out "$OUT/$name" --processes $((i + 1)) "${resume[@]}" \
            "${common[@]}" >"$log" 2>&1
        rc=$?
    else
        a2bench_in "$src" run "$SUITE" --out "$single" "${common[@]}" >"$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
            mkdir -p "$OUT/$name"
            [ -f "$OUT/$name/environment.json" ] || cp "$single/environment.json" "$OUT/$name/"
            "$PYTHON" -c 'import json, sys
with open(sys.argv[2]) as src, open(sys.argv[3], "a") as out:
    for line in src:
        if line.strip():
            out.write(json.dumps({**json.loads(line), "process": int(sys.argv[1])}) + "\n")' \
                "$i" "$single/results.jsonl" "$OUT/$name/results.jsonl"
            rc=$?
        fi
    fi
    grep -v '^USDT:' "$log" | tail -n 2
    if [ $rc -ne 0 ] || [ ! -s "$OUT/$name/results.jsonl" ]; then
        echo "gate: pass $((i + 1)) of the $name run failed (exit $rc); see $log" >&2
        exit 2
    fi
}
run_round() {  # base-name head-name first-side(base|head): PASSES interleaved passes per side
    local base=$1 head=$2 offset=0 i
    [ "$3" = head ] && offset=1
    for ((i = 0; i < PASSES; i++)); do
        # alternate who goes first, so neither side always runs right after the other's pass
        if [ $(((i + offset) % 2)) -eq 0 ]; then
            run_pass "$BASE_SRC" "$base" "$i"
            run_pass "$HEAD_SRC" "$head" "$i"
        else
            run_pass "$HEAD_SRC" "$head" "$i"
            run_pass "$BASE_SRC" "$base" "$i"
        fi
    done
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

run_round base head base

compare compare-exact.txt base head --exact-only
rc=$?
if [ $rc -eq 2 ]; then  # bad input: an unreadable or foreign side, not a changed count
    echo "gate: compare could not read the runs (exit 2); see $OUT/compare-exact.txt"
    exit $rc
elif [ $rc -ne 0 ]; then
    echo "gate: exact metrics or statuses changed (exit $rc); see $OUT/compare-exact.txt"
    exit $rc
fi

compare compare-normalized.txt base head --normalize --threshold "$THRESHOLD" >/dev/null
compare compare.txt base head --threshold "$THRESHOLD"
rc=$?
if [ $rc -ne 1 ] || [ "$CONFIRM" != 1 ]; then
    exit $rc
fi

echo "== a slowdown was flagged; confirming with a second round of passes (head first, CONFIRM=1)"
run_round base-2 head-2 head
compare compare-confirm.txt base-2 head-2 --threshold "$THRESHOLD"
rc=$?
if [ $rc -eq 0 ]; then
    echo "gate: the second round did not confirm the slowdown; treated as noise (pass)"
fi
exit $rc
