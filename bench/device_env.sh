#!/usr/bin/env bash
# What the lent GPU machine lacks, packed here and unpacked there.
#
# Its image has python3 with a CUDA torch but an older transformers, and nothing can be downloaded
# there; ../shared (the corpus) does not travel either. So, here, before the device call:
#
#   bash bench/device_env.sh pack      # -> .gpu/: the pinned transformers wheel + data/gc8k as a tarball
#
# and name ".gpu" in the call's carry. bench/gpu.sh and nlg_assistant/training/gpu_train.sh source this
# file there: it sets $PY, installs the carried wheel when the installed transformers differs from
# requirements.txt's pin, and unpacks data/gc8k when it is missing.
set -euo pipefail
PY="${PYTHON:-python3}"
want="$(sed -n 's/^transformers==//p' requirements.txt)"

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run, not sourced
  [ "${1:-}" = pack ] || { echo "usage: bash bench/device_env.sh pack" >&2; exit 2; }
  cd "$(dirname "$0")/.."
  rm -rf .gpu && mkdir -p .gpu
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .gpu "transformers==$want"
  if [ -f data/gc8k/train.bin ]; then
    tar -C data -czf .gpu/gc8k.tar.gz gc8k/train.bin gc8k/val.bin gc8k/meta.json gc8k/tokenizer
  else
    echo "no data/gc8k here: gpu_train.sh will need it (python -m nlg_assistant.training prepare)" >&2
  fi
  du -sh .gpu/*
  exit 0
fi

if ! "$PY" -c "import sys, transformers; sys.exit(transformers.__version__ != '$want')" 2>/dev/null; then
  if ! ls .gpu/transformers-*.whl >/dev/null 2>&1; then
    echo "transformers $want is not installed: run 'bash bench/device_env.sh pack' here and carry .gpu" >&2
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/nlg-site .gpu/transformers-*.whl
  export PYTHONPATH="/tmp/nlg-site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -f .gpu/gc8k.tar.gz ] && [ ! -f data/gc8k/train.bin ]; then
  mkdir -p data && tar -C data -xzf .gpu/gc8k.tar.gz
fi
