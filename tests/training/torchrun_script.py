"""Run by test_two_processes_with_torchrun under `torchrun --nproc_per_node 2`.

Each rank writes its report to its own file, ``WORK_DIR/report_RANK.txt``: the ranks share
one stdout pipe, where unbuffered prints of the two ranks interleave.
"""
import sys
from pathlib import Path

import torch.distributed as dist
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from training_data import segments, small_batches  # noqa: E402

model_dir, work_dir = sys.argv[1:3]
trainer = build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
    model=model_dir, train_dataset=segments(8, seed=0), eval_dataset=segments(4, seed=1),
    work_dir=work_dir, max_epochs=2, train_iters_per_epoch=2, val_iters_per_epoch=1,
    cfg_modify_fn=small_batches, launcher='pytorch'))
trainer.train()
metrics = trainer.evaluate()
checksum = sum(p.double().sum().item() for p in trainer.model.parameters())
rank = dist.get_rank()
report = [rank, dist.get_world_size(), type(trainer.model).__name__,
          f"{metrics['avg_sisnr']:.6f}", f'{checksum:.6f}']
Path(work_dir, f'report_{rank}.txt').write_text(' '.join(map(str, report)))
