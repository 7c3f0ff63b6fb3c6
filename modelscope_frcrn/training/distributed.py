"""Data-parallel training on CPU (gloo) as well as GPU (nccl).

ModelScope's ``DDPHook`` always selects a CUDA device and the nccl backend, so
``torchrun`` on a CPU machine fails. This hook picks by what is there.
"""
import atexit
from datetime import timedelta

import torch
import torch.distributed as dist
from modelscope.trainers.hooks.builder import HOOKS
from modelscope.trainers.hooks.distributed.ddp_hook import DDPHook
from modelscope.utils.constant import DistributedParallelType

from ..metainfo import Hooks
from ..registration import register

EXIT_BARRIER_TIMEOUT = timedelta(seconds=30)


@register(HOOKS, 'default', Hooks.device_aware_ddp)
class DeviceAwareDDPHook(DDPHook):
    """``DDPHook`` that uses nccl and one GPU per process when CUDA is available, else gloo on CPU."""

    def after_init(self, trainer):
        if torch.cuda.is_available():
            super().after_init(trainer)
            return
        if self.launcher != 'pytorch':
            raise ValueError(f'CPU data parallel needs launcher="pytorch" (torchrun), '
                             f'got {self.launcher!r}')
        if not dist.is_initialized():
            dist.init_process_group(backend='gloo')
            atexit.register(_destroy_process_group)
        trainer.device = torch.device('cpu')
        trainer.parallel_groups[DistributedParallelType.DP] = None


def _destroy_process_group() -> None:
    """Tear down the gloo group while the interpreter is whole, every rank together: left to
    interpreter finalization, or torn down while a peer is already gone, gloo's worker threads
    sometimes abort the process ("terminate called without an active exception",
    pytorch/pytorch#190489), which torchrun reports as a failed run. The barrier gives up after
    EXIT_BARRIER_TIMEOUT when a peer died, so a failed run still exits."""
    if not dist.is_initialized():
        return
    try:
        dist.monitored_barrier(timeout=EXIT_BARRIER_TIMEOUT)
    except RuntimeError:
        pass  # a peer is gone: tear down alone
    dist.destroy_process_group()
