#!/usr/bin/env bash
# The checks to run whenever a GPU is lent (see the README's "On a GPU"): the shipped suites in
# bfloat16 on CUDA, serially and with one xdist worker per GPU, and the scoring benchmark on cuda.
# Figures land in $OUT (or benchmarks/results/gpu-<date>) for the issue note.
#
#   bash benchmarks/gpu_check.sh            # needs a CUDA GPU and the venv from scripts/setup.sh
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh   # print the commands only (what CI checks)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT="${OUT:-benchmarks/results/gpu-$(date +%Y%m%d-%H%M)}"
PY=.venv/bin/python
run() {  # run "$@", appending its wall time to $OUT/times.txt
  echo "+ $*"
  if [ -n "${GPU_CHECK_DRY:-}" ]; then return; fi
  local start=$SECONDS status=0
  "$@" || status=$?
  echo "$(( SECONDS - start )) s, exit $status: $*" >> "$OUT/times.txt"
}
mkdir -p "$OUT"
if [ -z "${GPU_CHECK_DRY:-}" ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
  $PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
fi
# 1. The shipped suites (text against the demo, image suites against its model for images), bfloat16 on CUDA.
run .venv/bin/pytest suites -p no:randomly \
  --medmodel-device=cuda --medmodel-dtype=bfloat16 --medmodel-profile=gpu-bf16 --snapshot-update \
  --medmodel-report="$OUT/serial" -q
# 2. The same with one worker per GPU (-n auto), against the baselines step 1 recorded.
run .venv/bin/pytest suites -p no:randomly -n auto \
  --medmodel-device=cuda --medmodel-dtype=bfloat16 --medmodel-profile=gpu-bf16 \
  --medmodel-report="$OUT/xdist" -q
# 3. The scoring benchmark on cuda: the plugin against a plain forward loop, as a ratio in one run.
run "$PY" benchmarks/bench_scoring.py --device cuda --dtype bfloat16 --items 96 --repeats 5 \
  --output "$OUT/scoring-demo-cuda.json"
echo "gpu_check: figures in $OUT"
