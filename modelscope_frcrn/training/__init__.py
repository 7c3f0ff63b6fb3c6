"""Training: the registered trainer, its checkpoint layout and CPU/GPU data parallelism."""
from .distributed import DeviceAwareDDPHook
from .trainer import FRCRNTrainer, collate_segments

__all__ = ['DeviceAwareDDPHook', 'FRCRNTrainer', 'collate_segments']
