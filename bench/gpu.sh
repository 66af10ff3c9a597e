#!/usr/bin/env bash
# The whole GPU benchmark in one call, for a lent H200 (about 5 minutes including compiles):
#   bench/gpu.sh            # Qwen2-0.5B-shaped random model, bf16, SDPA, batch-1 roofline + batch 1/8/32
#   bench/gpu.sh --tiny     # dry run of the same script on CPU with a tiny config (seconds)
# Extra flags go to bench/gpu_bench.py (--short/--long tokens, --batches, --no-compile).
# Before the device call, here: `bash bench/device_env.sh pack`, and carry ".gpu" (the pinned transformers).
# Writes the markdown table to stdout and, when $OUT is set, gpu_bench.md/json and env.txt there.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/device_env.sh  # sets $PY; installs the carried transformers wheel where needed
out="${OUT:-}"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda,
    'available', torch.cuda.is_available(), '| transformers', transformers.__version__)"
} | tee ${out:+"$out/env.txt"}
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" bench/gpu_bench.py "$@" | tee ${out:+"$out/gpu_bench.md"}
