#!/usr/bin/env bash
# A second, shorter GPU run: continue from the model directory $1 and export to $2.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 recipes/default_model/train.py --sources .sources --work /tmp/work --hours 4 \
    --batch 32 --segment-seconds 2 --iters-per-epoch 200 --budget-seconds "${3:-170}" \
    --workers 16 --seed 1 --init "$1" --export "$2"
