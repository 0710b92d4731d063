#!/usr/bin/env bash
# The whole GPU run (issue 11) on a bare H100/H200 machine, in one command:
#
#     scripts/gpu_run.sh OUTDIR          # on the GPU machine, from the repository root
#     A2BENCH_GPU_DRY=1 scripts/gpu_run.sh /tmp/dry   # the same steps on CPU at tiny sizes
#
# The machine has torch, triton, pandas, scipy, seaborn and pytest but not fvcore: its wheels
# travel in .whl/ (git-ignored; see README, "Running on a GPU"), installed here into a private
# target, and the project itself runs from the checkout (PYTHONPATH), since torch==2.13.0 of
# requirements.lock cannot be fetched there. Steps, most important first, each with its own
# time limit; once GPU_RUN_BUDGET_S (default 450 s) is spent the remaining sweeps are skipped
# and the log says which:
#   1. environment (nvidia-smi, torch, the GPU's properties)
#   2. pytest -m cuda
#   3. timing fidelity: a2bench against triton.testing.do_bench, one block at three sizes
#   4. sweeps, each into results/gpu-<kind>-<suite>[-<dtype>]: positions (fp32), the paper's
#      video example, positions in bf16, training (forward and train, fp32 and bf16, eager),
#      m, n, frames, global-context
#   5. a report of the CPU and GPU positions runs side by side
# Everything is packed into at most 8 files in OUTDIR: gpu_run.log, cuda_tests.txt,
# timing_check.json, gpu-results.tgz (results folders and the report), environment.txt.
set -uo pipefail

out=${1:-}
if [ -z "$out" ]; then
    echo "usage: scripts/gpu_run.sh OUTDIR (an empty or new folder)" >&2
    exit 2
fi
mkdir -p "$out" || exit 2
cd "$(dirname "$0")/.." || exit 2
root=$PWD
started=$(date +%s)
budget=${GPU_RUN_BUDGET_S:-450}
log="$out/gpu_run.log"
exec > >(tee -a "$log") 2>&1
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

say() { echo "[gpu_run $(($(date +%s) - started)) s] $*"; }
left() { echo $((budget - ($(date +%s) - started))); }

# fvcore and its small pure-Python dependencies, carried as wheels
site=/tmp/a2bench-site
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" .whl/*.whl || say "warning: the carried wheels did not install"
    export PYTHONPATH="$root:$site"
else
    say "no .whl/ here: fvcore columns stay empty unless it is installed"
    export PYTHONPATH="$root"
fi
A2="$PY -m a2bench.cli"

dry=${A2BENCH_GPU_DRY:-0}
if [ "$dry" = 1 ]; then
    device=cpu
    kind=dry-cpu
    run_flags=(--device cpu --threads 1 --time-budget 0.05 --calibration-time 0.01
               --no-progress)
else
    device=cuda
    kind=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 \
           | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')
    kind=${kind:-unknown-gpu}
    run_flags=(--device cuda --time-budget 0.3 --calibration-time 0.2 --no-progress)
fi
results="$root/results"
# a dry run keeps its tiny results out of the checkout's results/
[ "$dry" = 1 ] && results=$(mktemp -d)
say "device $device, kind $kind, budget $budget s, results under $results/gpu-$kind-*"

# 1. environment
{
    date -u
    nvidia-smi -q 2>/dev/null | head -120 || echo "nvidia-smi: not available"
    $PY - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
      torch.backends.cudnn.version())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(p)
    print("L2 bytes", getattr(p, "L2_cache_size", None))
    print("free/total bytes", torch.cuda.mem_get_info())
try:
    import triton
    print("triton", triton.__version__)
except ImportError as e:
    print("triton: not importable:", e)
try:
    import fvcore
    print("fvcore", fvcore.__version__ if hasattr(fvcore, "__version__") else "present")
except ImportError as e:
    print("fvcore: not importable:", e)
EOF
} >"$out/environment.txt" 2>&1
say "environment written"

# 2. the CUDA tests (on CPU they all skip; the dry run checks that they are collected)
timeout 240 $PY -m pytest -m cuda -q -rs -p no:cacheprovider tests >"$out/cuda_tests.txt" 2>&1
say "pytest -m cuda: exit $? ($(tail -1 "$out/cuda_tests.txt"))"

# 3. timing fidelity
if [ "$dry" = 1 ]; then sides=24,32,48; else sides=64,128,256; fi
timeout 180 $PY scripts/gpu_timing_check.py "$out/timing_check.json" --device "$device" \
    --sides "$sides"
say "timing check: exit $?"

# 4. the sweeps; each one resumable, so a second call of this script goes on where it stopped
sweep() {  # sweep NAME SUITE [extra a2bench run flags...]
    local name=$1 suite=$2
    shift 2
    local limit
    limit=$(left)
    if [ "$limit" -le 20 ]; then
        say "SKIPPED $name: the time budget is spent"
        return
    fi
    local dest="$results/gpu-$kind-$name"
    local resume=()
    [ -e "$dest/results.jsonl" ] && resume=(--resume)
    timeout --signal=INT "$limit" $A2 run "$suite" --out "$dest" "${run_flags[@]}" \
        "${resume[@]}" "$@" | tail -4
    say "$name: exit ${PIPESTATUS[0]}"
}

if [ "$dry" = 1 ]; then
    # the logic at tiny sizes: the smoke suite in each role, train mode and bf16 included
    sweep positions suites/smoke.yaml
    sweep video suites/smoke.yaml
    sweep positions-bfloat16 suites/smoke.yaml --dtype bfloat16
    tiny=$(mktemp --suffix=.yaml)
    cat >"$tiny" <<'YAML'
name: dry-training
description: train mode and bf16 at tiny sizes (scripts/gpu_run.sh, dry run)
blocks: [double_attention, nonlocal_right, nonlocal]
params: {channels: [16], h: [4, 8], w: [4, 8], mode: [forward, train],
         dtype: [float32, bfloat16]}
zip: [[h, w]]
YAML
    sweep training "$tiny"
else
    sweep positions suites/positions.yaml
    sweep video suites/video.yaml
    sweep positions-bfloat16 suites/positions.yaml --dtype bfloat16
    sweep training suites/training.yaml
    sweep m suites/m.yaml
    sweep n suites/n.yaml
    sweep frames suites/frames.yaml
    sweep global-context suites/global-context.yaml
fi

# 5. CPU and GPU side by side
cpu_run="$root/results/cpu-positions"
[ "$dry" = 1 ] && cpu_run="$root/results/cpu-default"
gpu_runs=()
for d in "$results/gpu-$kind-positions" "$results/gpu-$kind-video"; do
    [ -e "$d/results.jsonl" ] && gpu_runs+=("$d")
done
if [ ${#gpu_runs[@]} -gt 0 ]; then
    timeout 120 $A2 report "$cpu_run" "${gpu_runs[@]}" --out "$results/report-gpu-$kind" \
        | tail -6
    say "report: exit ${PIPESTATUS[0]}"
fi

# pack: the results folders and the report in one tarball beside the log
packed=$(cd "$results" && ls -d gpu-"$kind"-* report-gpu-"$kind" 2>/dev/null)
if [ -n "$packed" ]; then
    # shellcheck disable=SC2086  # one folder name per word
    tar czf "$out/gpu-results.tgz" -C "$results" $packed
else
    say "no results folder to pack"
fi
say "packed $(ls "$out" | wc -l) files into $out; unpack into results/ with: tar xzf \
gpu-results.tgz -C results"
