#!/usr/bin/env bash
# One call on a lent GPU: pre-train the larger `gpu` preset (~17 M parameters, 512-token context) on the
# prepared token files, evaluate it on the same held-out windows as the model card, and hand back the
# model as a bf16 folder tarred into parts of at most 15 MB (the device tool returns files <= 16 MiB).
#
#   here, first:  bash bench/device_env.sh pack       (the pinned transformers wheel + data/gc8k, in .gpu/)
#   device run, carry [".gpu"]:        bash nlg_assistant/training/gpu_train.sh      (~3-6 min on an H200)
#   here, on CPU, to check the script:  bash nlg_assistant/training/gpu_train.sh --dry-run
#   afterwards, here:  cat OUT/model.tar.part-* | tar -x -C runs/   ->  runs/gpu_model (model + metrics;
#                      then eval, ship and card as in docs/training.md)
#
# 12 M training tokens limit what helps: the defaults (1500 steps x 64 x 512 tokens) are about 4 epochs.
# STEPS, BATCH and MINUTES override them.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/device_env.sh  # sets $PY; installs the carried transformers, unpacks data/gc8k
out="${OUT:-runs/gpu_out}"
[ -n "${OUT:-}" ] || rm -rf "$out"  # here: no parts of an earlier run mixed in ($OUT starts empty there)
mkdir -p "$out"
preset=gpu steps="${STEPS:-1500}" batch="${BATCH:-64}" minutes="${MINUTES:-6}" windows=512
if [ "${1:-}" = --dry-run ]; then preset=tiny steps=6 batch=2 minutes=1 windows=4; fi
[ -f data/gc8k/train.bin ] || { echo "data/gc8k is missing: prepare it here, then 'bash bench/device_env.sh pack'" >&2; exit 2; }
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: CPU run"
} | tee "$out/env.txt"
rm -rf runs/gpu
"$PY" -m nlg_assistant.training pretrain --out runs/gpu --preset "$preset" --batch-size "$batch" --lr 0.0015 \
  --warmup-steps $((steps / 20 + 1)) --max-steps "$steps" --max-minutes "$minutes" --eval-every 250 \
  --eval-windows 64 --ckpt-every 500 --log-every 25 --seed 0 --device auto --data-dir data/gc8k 2>&1 \
  | tr '\r' '\n' | grep -v "it/s" > "$out/train.log" || { tail -40 "$out/train.log"; exit 1; }
"$PY" -m nlg_assistant.training eval runs/gpu/final --max-windows "$windows" --json "$out/eval.json"
"$PY" - <<'PY'
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from nlg_assistant.training.tokenizer import load_tokenizer
from nlg_assistant.training.train import export_model

model = AutoModelForCausalLM.from_pretrained("runs/gpu/final", dtype=torch.float32)
export_model(model, load_tokenizer(Path("runs/gpu/final")), Path("runs/gpu_model"), dtype=torch.bfloat16)
PY
# the run's metrics travel inside the tar: the device tool brings back at most 8 files
cp runs/gpu/metrics.jsonl runs/gpu/summary.json runs/gpu/settings.json runs/gpu_model/
tar -C runs -cf - gpu_model | split -b 15m - "$out/model.tar.part-"
ls -la "$out"
cat runs/gpu_model/summary.json
