"""GPU training check and throughput: our trainer on CUDA, single process and under torchrun (nccl).

Measures training throughput (seconds of audio per second) of FRCRN at several
widths with our trainer, to size training runs, and checks that the
data-parallel path (``launcher='pytorch'``, nccl) trains on a GPU.

    python benchmarks/gpu_training.py --out DIR            # throughput table + JSON
    torchrun --nproc_per_node 1 benchmarks/gpu_training.py --ddp --out DIR
"""
import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer

import modelscope_frcrn  # noqa: F401  (registers our classes; no start-up hook on a bare machine)
from training_bench import model_dir, segments, time_train_steps


def measure(width: int, batch: int, steps: int, warmup: int, launcher=None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        def modify(cfg):
            cfg.train.dataloader.batch_size_per_gpu = batch
            cfg.train.pop('checkpoint', None)
            cfg.evaluation.pop('period', None)
            return cfg
        trainer = build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
            model=str(model_dir(Path(tmp) / 'model', width=width)), train_dataset=segments(batch * 4),
            eval_dataset=segments(batch), work_dir=str(Path(tmp) / 'work'), max_epochs=1,
            train_iters_per_epoch=steps + warmup, cfg_modify_fn=modify, launcher=launcher))
        durations = time_train_steps(trainer, warmup)
        median = float(np.median(durations))
        return {'width': width, 'batch': batch, 'median_step_s': median,
                'audio_s_per_s': batch / median, 'device': str(trainer.device),
                'model_class': type(trainer.model).__name__,
                'loss_last': trainer.train_outputs['loss'].item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--ddp', action='store_true')
    parser.add_argument('--widths', default='128,64,32')
    parser.add_argument('--batch', type=int, default=12)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.ddp:
        row = measure(128, args.batch, steps=3, warmup=1, launcher='pytorch')
        (out / 'ddp.json').write_text(json.dumps(row, indent=2))
        print('DDP', row, flush=True)
        return
    rows = [measure(int(width), args.batch, steps=8, warmup=2) for width in args.widths.split(',')]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'
    result = {'device': device, 'torch': torch.__version__, 'rows': rows}
    (out / 'gpu_training.json').write_text(json.dumps(result, indent=2))
    print(f"{'width':>6}{'batch':>7}{'step (s)':>10}{'audio s/s':>11}")
    for row in rows:
        print(f"{row['width']:>6}{row['batch']:>7}{row['median_step_s']:>10.3f}"
              f"{row['audio_s_per_s']:>11.1f}")


if __name__ == '__main__':
    main()
