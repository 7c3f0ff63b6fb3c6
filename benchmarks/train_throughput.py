"""Training throughput: our trainer and model vs ModelScope's built-in ones, side by side.

Both train the official FRCRN architecture (width 128) from the same initial
weights on the same one-second segments with the official optimiser settings;
we time ``train_step`` (forward, loss, backward, Adam step) after warm-up steps
and report segments (= seconds of audio) per second and the ratios to the built-in.
A third row is our trainer with ``bf16=True`` (bfloat16 autocast).

    python benchmarks/train_throughput.py [--steps 6] [--batch 4] [--threads 2] [--json FILE]
"""
import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from training_bench import REPO_ROOT, model_dir, segments, time_train_steps

from modelscope_frcrn.training.trainer import bf16_is_emulated


def build(kind: str, directory: Path, work_dir: Path, batch: int, steps: int, warmup: int):
    """``kind``: 'builtin', 'ours' or 'ours_bf16'."""
    from modelscope.models.audio.ans.frcrn import FRCRNDecorator
    from modelscope.trainers.audio.ans_trainer import ANSTrainer

    from modelscope_frcrn import FRCRNModel, FRCRNTrainer

    kwargs = json.loads((directory / 'configuration.json').read_text())['model']
    kwargs.pop('type')
    torch.manual_seed(0)
    ours = kind.startswith('ours')
    model_cls, trainer_cls = (FRCRNModel, FRCRNTrainer) if ours else (FRCRNDecorator, ANSTrainer)
    extra = {'bf16': True} if kind == 'ours_bf16' else {}
    model = model_cls(str(directory), **kwargs)

    def modify(cfg):
        cfg.train.dataloader.batch_size_per_gpu = batch
        cfg.train.pop('checkpoint', None)
        cfg.evaluation.pop('period', None)
        return cfg

    return trainer_cls(model=model, cfg_file=str(directory / 'configuration.json'),
                       cfg_modify_fn=modify, train_dataset=segments(batch * (steps + warmup)),
                       eval_dataset=segments(batch), work_dir=str(work_dir), max_epochs=1,
                       train_iters_per_epoch=steps + warmup, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--json', default=str(REPO_ROOT / 'benchmarks' / 'train_throughput.json'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = model_dir(Path(tmp) / 'model', win_type='hann')
        for kind in ('builtin', 'ours', 'ours_bf16'):
            trainer = build(kind, directory, Path(tmp) / kind, args.batch, args.steps, args.warmup)
            durations = time_train_steps(trainer, args.warmup)
            median = float(np.median(durations))
            rows[kind] = {'median_step_s': median, 'segments_per_s': args.batch / median,
                          'steps_timed': len(durations)}
    ratios = {kind: row['segments_per_s'] / rows['builtin']['segments_per_s']
              for kind, row in rows.items() if kind != 'builtin'}
    result = {'machine': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
              'threads': args.threads, 'batch': args.batch, 'segment_s': 1.0,
              'cpu_has_avx512_bf16': not bf16_is_emulated(torch.device('cpu')), 'torch': torch.__version__,
              'rows': rows, 'throughput_ratio_ours_over_builtin': ratios['ours'],
              'throughput_ratio_ours_bf16_over_builtin': ratios['ours_bf16']}
    print(f"{'trainer':<10}{'step (s)':>10}{'segments/s':>12}{'x built-in':>12}")
    for kind, row in rows.items():
        print(f"{kind:<10}{row['median_step_s']:>10.2f}{row['segments_per_s']:>12.3f}"
              f"{ratios.get(kind, 1.0):>12.2f}")
    Path(args.json).write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
