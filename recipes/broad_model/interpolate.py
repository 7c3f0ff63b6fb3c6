"""Blend two models' weights, (1 - alpha) * START + alpha * TRAINED, and score each blend on the
broad validation mixtures (the weight-space ensembling of Wortsman et al., "Robust fine-tuning of
zero-shot models", CVPR 2022: a fine-tuned model blended with its starting point often keeps what
each does well).

    python recipes/broad_model/interpolate.py --sources SOURCES --work WORK \
        --trained EXPORTED_DIR [--start modelscope_frcrn/default_model] \
        [--alphas 0,0.25,0.5,0.75,1] [--out DIR]

The validation mixtures are train.py's (WORK/rooms.npz, the same seed), so the blend is chosen on
data that shares no speaker or noise file with training, and not on any evaluation set. ``--out``
writes the best-scoring blend as a float16 model directory.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer

from train import (DEFAULT_ROOMS, DEFAULT_SEGMENT_SECONDS, REPO_ROOT, SAMPLE_RATE, load_weights,
                   room_bank, set_evaluation_batch, validation_batches, validation_set, write_model_dir)


def blend(start: dict, trained: dict, alpha: float) -> dict:
    """(1 - alpha) * start + alpha * trained for float tensors (float32); others from trained."""
    return {key: torch.lerp(start[key].float(), value.float(), alpha)
            if value.is_floating_point() else value for key, value in trained.items()}


def validation_sisnr(model_dir: Path, valid_set, work_dir: Path, batch: int) -> float:
    trainer = build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
        model=str(model_dir), eval_dataset=valid_set, work_dir=str(work_dir),
        val_iters_per_epoch=validation_batches(batch),
        cfg_modify_fn=lambda cfg: set_evaluation_batch(cfg, batch)))
    return float(trainer.evaluate()['avg_sisnr'])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--work', type=Path, required=True, help="train.py's WORK (its rooms)")
    parser.add_argument('--trained', type=Path, required=True, help='model directory (exported)')
    parser.add_argument('--start', type=Path, default=REPO_ROOT / 'modelscope_frcrn' / 'default_model')
    parser.add_argument('--alphas', default='0,0.25,0.5,0.75,1')
    parser.add_argument('--segment-seconds', type=float, default=DEFAULT_SEGMENT_SECONDS)
    parser.add_argument('--rooms', type=int, default=DEFAULT_ROOMS, help="train.py's --rooms")
    parser.add_argument('--seed', type=int, default=0, help="train.py's --seed")
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', type=Path, help='write the best blend here')
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    rooms = room_bank(args.work, args.rooms, args.seed)
    valid_set = validation_set(args.sources, rooms, int(args.segment_seconds * SAMPLE_RATE), args.seed)
    start, trained = load_weights(args.start), load_weights(args.trained)
    configuration = args.trained / 'configuration.json'
    scores = {}
    with tempfile.TemporaryDirectory() as scratch:
        for alpha in (float(text) for text in args.alphas.split(',')):
            model_dir = Path(scratch, f'alpha_{alpha}')
            write_model_dir(blend(start, trained, alpha), configuration, model_dir)
            scores[alpha] = validation_sisnr(model_dir, valid_set, Path(scratch, 'work'), args.batch)
            print(f'alpha {alpha:.2f}: validation SI-SNR {scores[alpha]:.3f} dB', flush=True)
    best = max(scores, key=scores.get)
    print(json.dumps({'validation_sisnr_by_alpha': scores, 'best_alpha': best}))
    if args.out:
        write_model_dir(blend(start, trained, best), configuration, args.out, half=True)


if __name__ == '__main__':
    sys.exit(main())
