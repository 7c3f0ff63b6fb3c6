"""Train the default model: prepare-dns on the recipe's sources, then our trainer.

    python recipes/default_model/train.py --sources SOURCES --work WORK \
        [--hours 4] [--width 64] [--batch 32] [--segment-seconds 2] \
        [--budget-seconds 330] [--export DIR]

1. ``prepare-dns`` synthesizes ``--hours`` of 30 s train pairs from the train
   speakers and train noises (``SOURCES/clean_train``, ``SOURCES/noise_train``,
   made by ``build_sources.py``); the test speakers and noises are not touched
   here (the README's evaluation commands make the held-out test set of them).
2. The trainer registered as ``speech_frcrn_ans_cirm_16k`` trains with the
   official recipe (cIRM MSE - SI-SNR, Adam 1e-3, grad clip 10, plateau
   scheduler) on random ``--segment-seconds`` crops of those pairs, drawn
   afresh for every step, and evaluates ``avg_sisnr`` every epoch on fixed
   crops of validation pairs (the last 5 % of train pairs: same speakers,
   unseen mixtures), keeping the best epoch.
3. Training stops at the end of the epoch that would overrun ``--budget-seconds``.
4. ``--export DIR`` writes the best epoch as a model directory with
   half-precision weights (loading restores float32) and the training log.

``--init DIR`` continues from a model directory (e.g. an earlier export) with a
fresh optimizer: that is how a run split over several GPU leases goes on.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer
from modelscope.trainers.hooks.hook import Hook
from torch.utils.data import Dataset

from modelscope_frcrn.data import synthesize_dns

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RATE = 16000
VALIDATION_FRACTION = 0.05


class RandomCrops(Dataset):
    """Item ``i``: a crop of a random pair at a random offset, drawn from seed ``(seed, i)``.

    Shape: ``{'noisy': [T], 'clean': [T]}`` float32, ``T = segment_samples``.
    """

    def __init__(self, pairs, segment_samples: int, length: int, seed: int):
        self.pairs, self.segment_samples, self.length, self.seed = pairs, segment_samples, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, index])
        noisy, clean = self.pairs[int(rng.integers(len(self.pairs)))]
        start = int(rng.integers(noisy.size - self.segment_samples + 1))
        stop = start + self.segment_samples
        return {'noisy': noisy[start:stop], 'clean': clean[start:stop]}


class TimeBudget(Hook):
    """Stops training after the epoch that would otherwise run past ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def before_run(self, trainer):
        self.started = time.monotonic()

    def after_train_epoch(self, trainer):
        elapsed = time.monotonic() - self.started
        per_epoch = elapsed / (trainer.epoch + 1)
        if elapsed + per_epoch > self.seconds:
            trainer.logger.info(f'time budget: stopping after epoch {trainer.epoch + 1} '
                                f'({elapsed:.0f} s of {self.seconds:.0f} s)')
            trainer._stop_training = True


def load_pairs(split_dir: Path):
    """(noisy, clean) float32 arrays of every pair listed in ``split_dir/metadata.jsonl``."""
    rows = [json.loads(line) for line in (split_dir / 'metadata.jsonl').read_text().splitlines()]
    return [tuple(sf.read(row[key], dtype='float32')[0] for key in ('noisy', 'clean'))
            for row in rows]


def model_dir(work: Path, width: int, init: Path = None) -> Path:
    """The model directory training starts from: ``init`` (weights and configuration),
    or the repository's configuration at ``width`` with random weights."""
    if init is not None:
        return init
    config = json.loads((REPO_ROOT / 'configuration.json').read_text())
    config['model']['width'] = width
    directory = work / 'untrained'
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'configuration.json').write_text(json.dumps(config, indent=2))
    return directory


def export(best_dir: Path, work_dir: Path, export_dir: Path) -> None:
    """The best epoch as a model directory with float16 weights, plus the training logs."""
    export_dir.mkdir(parents=True, exist_ok=True)
    state = torch.load(best_dir / 'pytorch_model.bin', map_location='cpu', weights_only=True)
    half = {key: value.half() if value.is_floating_point() else value for key, value in state.items()}
    torch.save(half, export_dir / 'pytorch_model.bin')
    shutil.copy(best_dir / 'configuration.json', export_dir / 'configuration.json')
    for log in work_dir.glob('*.log.json'):
        shutil.copy(log, export_dir / 'training_log.json')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--work', type=Path, required=True)
    parser.add_argument('--hours', type=float, default=4.0)
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--segment-seconds', type=float, default=2.0)
    parser.add_argument('--iters-per-epoch', type=int, default=200)
    parser.add_argument('--max-epochs', type=int, default=100)
    parser.add_argument('--budget-seconds', type=float, default=330.0)
    parser.add_argument('--workers', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--export', type=Path)
    parser.add_argument('--init', type=Path,
                        help='continue from this model directory (its width; a fresh optimizer)')
    args = parser.parse_args(argv)

    started = time.monotonic()
    data = synthesize_dns(args.sources / 'clean_train', args.sources / 'noise_train',
                          args.work / 'data', hours=args.hours, test_pairs=0, seed=args.seed,
                          workers=args.workers, progress=False)
    pairs = load_pairs(args.work / 'data' / 'train')
    split = max(1, int(len(pairs) * VALIDATION_FRACTION))
    train_pairs, validation_pairs = pairs[:-split], pairs[-split:]
    print(f'data: {data}; {len(train_pairs)} train and {len(validation_pairs)} validation pairs '
          f'({time.monotonic() - started:.0f} s)', flush=True)

    segment = int(args.segment_seconds * SAMPLE_RATE)
    total_items = args.batch * args.iters_per_epoch * args.max_epochs
    validation_batches = 8

    def recipe(cfg):
        cfg.train.dataloader.update(batch_size_per_gpu=args.batch, workers_per_gpu=0)
        cfg.evaluation.dataloader.update(batch_size_per_gpu=args.batch, workers_per_gpu=0)
        cfg.train.logging.interval = 50
        return cfg

    trainer = build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
        model=str(model_dir(args.work, args.width, args.init)),
        train_dataset=RandomCrops(train_pairs, segment, total_items, args.seed),
        eval_dataset=RandomCrops(validation_pairs, segment, args.batch * validation_batches,
                                 args.seed + 1),
        work_dir=str(args.work / 'train'), max_epochs=args.max_epochs,
        train_iters_per_epoch=args.iters_per_epoch, val_iters_per_epoch=validation_batches,
        cfg_modify_fn=recipe, callbacks=[TimeBudget(args.budget_seconds - (time.monotonic() - started))],
        seed=args.seed))
    trainer.train()
    print(f'trained {trainer.epoch} epochs in {time.monotonic() - started:.0f} s', flush=True)
    if args.export:
        export(args.work / 'train' / 'output_best', args.work / 'train', args.export)
        print(f'exported {args.export}', flush=True)


if __name__ == '__main__':
    sys.exit(main())
