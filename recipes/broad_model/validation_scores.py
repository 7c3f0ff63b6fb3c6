"""Score model directories on the training run's validation mixtures with every metric.

    python recipes/broad_model/validation_scores.py --sources SOURCES --work WORK MODEL_DIR...

The trainer picks epochs by validation SI-SNR alone; this adds WB-PESQ, STOI and DNSMOS
on the same 24 fixed mixtures (validation speakers and noises only, never the reserved
evaluation packages), to compare losses that trade SI-SNR for less residual noise.
``WORK`` is the run's folder (its cached rooms are reused). One JSON line per model.
"""
import argparse
import json
import warnings
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from modelscope.models import Model

from modelscope_frcrn.evaluation.metrics import score_pair
from train import DEFAULT_ROOMS, DEFAULT_SEGMENT_SECONDS, SAMPLE_RATE, room_bank, validation_set


def mean_scores(model_dir: str, mixtures: List[Dict[str, np.ndarray]]) -> Dict[str, float]:
    model = Model.from_pretrained(model_dir).eval()
    rows = []
    for mixture in mixtures:
        with torch.no_grad():
            enhanced = model.enhance(torch.from_numpy(mixture['noisy'][None]).float())[0].numpy()
        rows.append(score_pair(mixture['clean'], enhanced))
    return {metric: round(float(np.nanmean([row[metric] for row in rows])), 3) for metric in rows[0]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--work', type=Path, required=True)
    parser.add_argument('--segment-seconds', type=float, default=DEFAULT_SEGMENT_SECONDS)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('models', nargs='+')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter('ignore')
    rooms = room_bank(args.work, DEFAULT_ROOMS, args.seed)
    valid = validation_set(args.sources, rooms, int(args.segment_seconds * SAMPLE_RATE), args.seed)
    mixtures = [valid[index] for index in range(len(valid))]
    for model_dir in args.models:
        print(json.dumps({'model': model_dir, **mean_scores(model_dir, mixtures)}), flush=True)


if __name__ == '__main__':
    main()
