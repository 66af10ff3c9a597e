#!/usr/bin/env bash
# One call on a lent GPU, v2 recipe: pre-train the larger `gpu` preset (~17 M parameters) with Muon + AdamW
# and a warm-up-stable-decay schedule at 512-token windows, the fine-tuning mix in the decay (20% of its
# rows, as in the CPU run), 10% of every batch copy drills (COPY_FRAC; the CPU-sized model never learnt to
# copy, which the formal rewrite needs: docs/training.md, sixth run), rope_theta 8e4; evaluate it next to
# the shipped model on the model card's held-out windows and the per-tab checks, and hand back the
# model as a bf16 folder tarred into parts of at most 15 MB (the device tool returns files <= 16 MiB).
#
#   here, first:  python -m nlg_assistant.training prepare-v2 --out data/v2
#                 python -m nlg_assistant.training mix --out data/v2/mix.bin \
#                   --extra-data ../shared/corpus/eltec_eng_novels_0*.txt \
#                   --extra-manifest ../shared/corpus/eltec_eng_manifest.tsv
#                 bash nlg_assistant/training/gpu_train.sh pack   (transformers wheel + data/v2 -> .gpu/)
#   device run, carry [".gpu"]:        bash nlg_assistant/training/gpu_train.sh      (~5-7 min on an H200)
#   here, on CPU, to check the script:  bash nlg_assistant/training/gpu_train.sh --dry-run
#   afterwards, here:  cat OUT/model.tar.part-* | tar -x -C runs/   ->  runs/gpu_model (model + metrics)
#
# 12 M training tokens: the defaults (1500 steps x 64 x 512 tokens, 15% of them in the decay) are about
# 4 epochs. STEPS, BATCH, LR and MINUTES override them.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = pack ]; then
  bash bench/device_env.sh pack
  [ -f data/v2/train.bin ] && [ -f data/v2/mix.bin ] || { echo "prepare data/v2 and its mix.bin first" >&2; exit 2; }
  tar -C data -czf .gpu/v2.tar.gz v2/train.bin v2/val.bin v2/val_raw.bin v2/meta.json v2/tokenizer v2/mix.bin
  du -sh .gpu/*
  exit 0
fi
source bench/device_env.sh  # sets $PY; installs the carried transformers
if [ -f .gpu/v2.tar.gz ] && [ ! -f data/v2/train.bin ]; then mkdir -p data && tar -C data -xzf .gpu/v2.tar.gz; fi
out="${OUT:-runs/gpu_out}"
[ -n "${OUT:-}" ] || rm -rf "$out"  # here: no parts of an earlier run mixed in ($OUT starts empty there)
mkdir -p "$out"
preset=gpu steps="${STEPS:-1500}" batch="${BATCH:-64}" minutes="${MINUTES:-7}" windows=512 seq=512 tries=24
if [ "${1:-}" = --dry-run ]; then preset=tiny steps=8 batch=2 minutes=5 windows=4 seq=64 tries=2; fi
[ -f data/v2/train.bin ] || { echo "data/v2 is missing: prepare it here, then 'gpu_train.sh pack'" >&2; exit 2; }
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: CPU run"
} | tee "$out/env.txt"
rm -rf runs/gpu
"$PY" -m nlg_assistant.training train-v2 --out runs/gpu --preset "$preset" --batch-size "$batch" \
  --lr "${LR:-0.002}" --warmup-steps $((steps / 20 + 1)) --max-steps "$steps" --decay-frac 0.15 \
  --max-minutes "$minutes" --seq-len "$seq" --decay-seq-len "$seq" --rope-theta 80000 \
  --mix data/v2/mix.bin --mix-frac 0.2 --copy-frac "${COPY_FRAC:-0.1}" --eval-every 250 --eval-windows 64 --ckpt-minutes 2 --log-every 25 \
  --seed 0 --device auto --data-dir data/v2 2>&1 | tr '\r' '\n' | grep -v "it/s" > "$out/train.log" \
  || { tail -40 "$out/train.log"; exit 1; }
v1=assets/models/storyteller
"$PY" -m nlg_assistant.training eval runs/gpu/final $v1 --data-dir data/v2 --val-name val_raw.bin \
  --max-windows "$windows" \
  --positions --tasks "$tries" --json "$out/eval.json" | tee "$out/eval.txt"
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
cp runs/gpu/metrics.jsonl runs/gpu/summary.json runs/gpu/settings.json "$out/eval.json" runs/gpu_model/
tar -C runs -cf - gpu_model | split -b 15m - "$out/model.tar.part-"
ls -la "$out"
cat runs/gpu_model/summary.json
