"""Run by test_evaluation_is_the_same_on_one_and_two_processes, plainly (one process) or under
`torchrun --nproc_per_node 2`: evaluate a model on 5 segments with val_iters_per_epoch=2 and
write avg_sisnr to WORK_DIR/eval_WORLDSIZE_RANK.txt, and at exit, after the package's own exit
handlers, whether the process group was still up to WORK_DIR/exit_WORLDSIZE_RANK.txt."""
import atexit
import os
import sys
from pathlib import Path

import torch.distributed as dist
from modelscope.metainfo import Trainers
from modelscope.trainers import build_trainer

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from training_data import segments, small_batches  # noqa: E402

model_dir, work_dir = sys.argv[1:3]
world_size = int(os.environ.get('WORLD_SIZE', 1))
rank = os.environ.get('RANK', '0')
# registered before the trainer exists, so it runs after any handler the trainer registers
atexit.register(lambda: Path(work_dir, f'exit_{world_size}_{rank}.txt').write_text(
    'group up' if dist.is_initialized() else 'group down'))
trainer = build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=dict(
    model=model_dir, eval_dataset=segments(5, seed=1), work_dir=work_dir,
    val_iters_per_epoch=2, cfg_modify_fn=small_batches,
    **({'launcher': 'pytorch'} if world_size > 1 else {})))
metrics = trainer.evaluate()
Path(work_dir, f'eval_{world_size}_{rank}.txt').write_text(f"{metrics['avg_sisnr']:.9f}")
