"""The ``speech_frcrn_ans_cirm_16k`` trainer: ModelScope's epoch trainer with the built-in's defects fixed.

What differs from the built-in ``ANSTrainer``:

- The data loader is restarted whenever a pass over the data ends, so every
  epoch trains ``train_iters_per_epoch`` steps (the built-in keeps one
  iterator for the whole run: once it is exhausted, later epochs train
  nothing and their evaluations repeat the same number).
- Training resumes from the epoch stored in a checkpoint
  (``trainer.train(checkpoint_path=...)``); the built-in restarts at epoch 0.
  The data stream resumes where it stopped too: a resumed run trains on the
  same batches as an uninterrupted one (see :mod:`.data_stream`).
- ``work_dir/output/pytorch_model.bin`` holds the network's weights in the hub
  release layout, so the trained model reloads, and resuming works with
  ``weights_only`` loading (see :mod:`.checkpoints`).
- ``work_dir/output/configuration.json`` is the configuration trained with
  (ModelScope strips the hooks' types from it, so that folder could not be
  trained from again).
- A local model directory or a cached model id is used as is, without the
  ~20 s of failing "is the local model the latest?" hub calls.
- ``torchrun`` works on CPU (gloo) as well as GPU (see :mod:`.distributed`),
  evaluation included: on CPU the processes share the segments one process
  would evaluate (``val_iters_per_epoch`` counts for the whole run, no segment
  is counted twice), so ``avg_sisnr`` does not depend on the number of processes.
- Segments given as lists or arrays are stacked into float32 ``[B, T]`` tensors.
- ``bf16=True`` runs the training forward passes under bfloat16 autocast, on CPU as
  well as GPU (ModelScope's ``use_fp16`` is CUDA float16 only); weights, optimizer
  state and the loss stay float32.
"""
import copy
import os
import warnings
from typing import Dict, List, Mapping, Optional

import numpy as np
import torch
import torch.distributed as dist
from modelscope.trainers import EpochBasedTrainer
from modelscope.trainers.builder import TRAINERS
from modelscope.trainers.hooks.checkpoint.checkpoint_hook import CheckpointHook
from modelscope.trainers.utils.inference import evaluate_batch
from modelscope.utils.constant import ModeKeys, TrainerStages
from modelscope.utils.data_utils import to_device
from modelscope.utils.registry import default_group
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, IterableDataset, Subset

from ..hub import resolve_model
from ..metainfo import Hooks, Trainers
from ..registration import register
from .checkpoints import ReleaseLayoutCheckpointProcessor
from .data_stream import ResumableSampler, endless_batches

_MODELSCOPE_DDP_HOOK = 'DDPHook'


def bf16_is_emulated(device: torch.device) -> bool:
    """True on a CPU that oneDNN cannot run bfloat16 on natively (no AVX-512 BF16 or AMX)."""
    return device.type == 'cpu' and not torch.ops.mkldnn._is_mkldnn_bf16_supported()


def collate_segments(batch: List[Mapping]) -> Dict[str, torch.Tensor]:
    """Stack equal-length ``noisy``/``clean`` segments into float32 tensors.

    Shape: ``B`` items with ``[T]`` lists, arrays or tensors -> ``{'noisy': [B, T], 'clean': [B, T]}``.
    """
    return {key: torch.stack([torch.as_tensor(np.asarray(item[key]), dtype=torch.float32)
                              for item in batch])
            for key in batch[0] if key in ('noisy', 'clean')}


@register(TRAINERS, default_group, Trainers.speech_frcrn_ans_cirm_16k)
class FRCRNTrainer(EpochBasedTrainer):
    """Trains FRCRN on ``{'noisy': [T], 'clean': [T]}`` segments (e.g. from ``to_segment``).

    Takes everything ``EpochBasedTrainer`` takes, and ``bf16``: train with bfloat16
    autocast (1.5-1.9x as fast on a CPU with AVX-512 BF16; GPUs since Ampere). The model card's
    ``build_trainer(Trainers.speech_frcrn_ans_cirm_16k, default_args=...)`` builds it.
    """

    def __init__(self, *args, data_collator=None, bf16: bool = False, **kwargs):
        self.bf16 = bf16
        super().__init__(*args, data_collator=data_collator or collate_segments, **kwargs)
        if bf16 and bf16_is_emulated(self.device):
            warnings.warn('bf16=True on a CPU without native bfloat16 (AVX-512 BF16 or AMX): '
                          'bfloat16 is emulated there and trains several times slower than '
                          'float32; leave bf16 off on this machine', RuntimeWarning, stacklevel=2)

    def train_step(self, model, inputs):
        # Backward runs later, in the optimizer hook, outside the autocast region, as autocast wants.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return super().train_step(model, inputs)

    def get_or_download_model_dir(self, model: str, model_revision: Optional[str] = None,
                                  third_party: Optional[str] = None) -> str:
        local = resolve_model(model, model_revision)
        if isinstance(local, str) and os.path.isdir(local):
            return local
        return super().get_or_download_model_dir(model, model_revision, third_party)

    def get_train_dataloader(self) -> DataLoader:
        if self._samplers is not None or isinstance(self.train_dataset, IterableDataset):
            return super().get_train_dataloader()  # the caller's own sampling
        settings = dict(self.cfg.train.get('dataloader', {}))
        rank, world_size = 0, 1
        if self.is_dp_group_available():
            rank, world_size = dist.get_rank(self.dp_group), dist.get_world_size(self.dp_group)
        sampler = ResumableSampler(self.train_dataset, rank, world_size,
                                   shuffle=settings.pop('shuffle', True), seed=self._seed)
        return self._build_dataloader_with_dataset(
            self.train_dataset, dist=self._dist, seed=self._seed,
            collate_fn=self.train_data_collator, sampler=sampler, **settings)

    def register_hook_from_cfg(self, hook_cfg: List) -> List:
        hook_cfg = [dict(cfg, type=Hooks.device_aware_ddp)
                    if cfg.get('type') == _MODELSCOPE_DDP_HOOK else cfg for cfg in hook_cfg]
        return super().register_hook_from_cfg(hook_cfg)

    def register_optimizers_hook(self):
        # ModelScope pops 'type' out of these sections of self.cfg while registering
        # them, and the damaged configuration is what lands in work_dir/output:
        # training again from that folder then fails. Keep the sections intact.
        sections = {key: copy.deepcopy(self.cfg.train[key])
                    for key in ('lr_scheduler_hook', 'optimizer_hook') if key in self.cfg.train}
        super().register_optimizers_hook()
        self.cfg.train.update(sections)

    def register_processors(self):
        super().register_processors()
        for hook in self.hooks:
            if isinstance(hook, CheckpointHook):
                hook.set_processor(ReleaseLayoutCheckpointProcessor())

    def to_parallel(self, model):
        if self.device.type == 'cuda':
            return super().to_parallel(model)
        # Some official sub-modules have weights but no part in forward (fsmn_enc0, ...).
        return DistributedDataParallel(model, find_unused_parameters=True,
                                       process_group=self.dp_group)

    def evaluation_loop(self, data_loader: DataLoader, metric_classes: List) -> Dict[str, float]:
        if not self._dist or self.device.type == 'cuda':
            return super().evaluation_loop(data_loader, metric_classes)
        # ModelScope's multi-process evaluation broadcasts through CUDA; on CPU
        # each process evaluates its shard and the metric states are merged.
        self.invoke_hook(TrainerStages.before_val)
        shard = evaluation_shard(data_loader, self._eval_iters_per_epoch, dist.get_rank(),
                                 dist.get_world_size())
        for batch in shard:
            evaluate_batch(self, to_device(batch, self.device), metric_classes, None)
        per_process = [None] * dist.get_world_size()
        dist.all_gather_object(per_process, metric_classes)
        values = {}
        for index, merged in enumerate(per_process[0]):
            for other in per_process[1:]:
                merged.merge(other[index])
            values.update(merged.evaluate())
        self.invoke_hook(TrainerStages.after_val)
        return values

    def train_loop(self, data_loader: DataLoader):
        self.invoke_hook(TrainerStages.before_run)  # restores a checkpoint's epoch and iteration
        self._mode = ModeKeys.TRAIN
        # The batches drawn so far (ModelScope saves 'iter' one too high at an epoch's end).
        drawn = self._epoch * self.iters_per_epoch + self._inner_iter
        batches = endless_batches(data_loader, position=drawn)
        self.model.train()
        while self._epoch < self._max_epochs and not self._stop_training:
            # Evaluation hooks leave the trainer in EVAL mode, where iters_per_epoch
            # means the evaluation's iterations.
            self._mode = ModeKeys.TRAIN
            if self._inner_iter >= self.iters_per_epoch:  # resumed from an epoch's end
                self._inner_iter = 0
                self._epoch += 1
                continue
            self.invoke_hook(TrainerStages.before_train_epoch)
            # A resumed run starts inside the epoch it was saved in.
            for inner_iter in range(self._inner_iter, self.iters_per_epoch):
                self._inner_iter = inner_iter
                self.data_batch = to_device(next(batches), self.device)
                self.invoke_hook(TrainerStages.before_train_iter)
                self.train_step(self.model, self.data_batch)
                self.invoke_hook(TrainerStages.after_train_iter)
                del self.data_batch
                self._iter += 1
            self.invoke_hook(TrainerStages.after_train_epoch)
            self._inner_iter = 0
            self._epoch += 1
        self.invoke_hook(TrainerStages.after_run)


def evaluation_shard(data_loader: DataLoader, iters: Optional[int], rank: int,
                     world_size: int) -> DataLoader:
    """This process's share of the segments one process would evaluate: the first ``iters``
    batches of ``data_loader`` (all with None), dealt out in turn, none twice (unlike
    ``DistributedSampler``, which pads the shards with repeats)."""
    dataset = data_loader.dataset
    count = len(dataset) if iters is None else min(len(dataset), iters * data_loader.batch_size)
    return DataLoader(Subset(dataset, range(rank, count, world_size)),
                      batch_size=data_loader.batch_size, collate_fn=data_loader.collate_fn,
                      num_workers=data_loader.num_workers)
