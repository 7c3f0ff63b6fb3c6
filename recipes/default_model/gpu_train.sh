#!/usr/bin/env bash
# The one prepared GPU run for the default model, on a machine with no network:
# install the wheels carried in .whl/, train from the sources in .sources/, export to $1.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
python3 recipes/default_model/train.py --sources .sources --work /tmp/work --hours 4 \
    --width 64 --batch 32 --segment-seconds 2 --iters-per-epoch 200 --budget-seconds 400 \
    --workers 16 --export "$1"
