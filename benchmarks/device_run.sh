#!/usr/bin/env bash
# The GPU measurements of issue #20 in one go (~8 minutes), from the repo root on a CUDA machine:
#   OUT=/some/folder bash benchmarks/device_run.sh
# Needs torch with CUDA, diffusers, transformers, accelerate, safetensors, numpy, pillow on PYTHONPATH; no network.
# Writes $OUT/*.json (one per step) and $OUT/device_run.log. BUDGET (seconds, default 470) bounds the whole run;
# each step has its own timeout, and SDXL fast runs only in the time left.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/sdstudio-device-out}
BUDGET=${BUDGET:-470}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export SDSTUDIO_HOME=${SDSTUDIO_HOME:-/tmp/sdstudio-bench-home}  # both processes share its compile cache
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONWARNINGS=ignore
LOG="$OUT/device_run.log"
: >"$LOG"

step() {  # step NAME TIMEOUT ARGS... : one benchmark process, its output in the log, its JSON in $OUT
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET - SECONDS))
    if ((left < 30)); then
        echo "== $name: skipped (budget spent, ${left}s left)" | tee -a "$LOG"
        return
    fi
    ((limit > left)) && limit=$left
    echo "== $name (limit ${limit}s, at ${SECONDS}s): $PY benchmarks/gpu_speed.py $* --json $OUT/$name.json" | tee -a "$LOG"
    local t0=$SECONDS
    timeout --signal=INT --kill-after=10 "$limit" "$PY" benchmarks/gpu_speed.py "$@" --json "$OUT/$name.json" \
        >>"$LOG" 2>&1
    echo "== $name: exit $? after $((SECONDS - t0))s (process wall time, imports and model build included)" | tee -a "$LOG"
    tail -n 12 "$LOG" | grep -E "it/s|tax|message|first call" || true
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    "$PY" -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
} >>"$LOG" 2>&1
rm -rf "$SDSTUDIO_HOME/data/cache/torch-compile"  # the first SD 1.5 fast call is a cold compile

# 1. SD 1.5 512²: plain / Engine / window / fast (cold compile), 5 rounds alternated
step sd15 200 --models sd15 --rounds 5
# 2. second start: a new process, the same model and size, the compile cache warm (target: first call <= 15 s)
step sd15_second_start 90 --models sd15 --only plain,fast --rounds 3
# 3. SDXL 1024²: plain / Engine / window (the preview tax), 4 rounds alternated
step sdxl 150 --models sdxl --only plain,engine,window --rounds 4
# 4. SDXL fast, in the time left (its cold compile takes minutes; the VAE stays uncompiled to save one)
step sdxl_fast 300 --models sdxl --only plain,fast --rounds 3 --no-compile-vae
echo "== done at ${SECONDS}s" | tee -a "$LOG"
ls -l "$OUT" | tee -a "$LOG"
