"""Backends that run the FRCRN network on model-level 16 kHz audio.

An enhancer is a callable ``[B, T] float32 -> [B, T] float32`` (numpy in and
out, same length, the input already at the model's level). Everything above it
(reading, resampling, level, chunking, writing) is backend-agnostic.
"""
from typing import Callable

import numpy as np
import torch

from ..models import FRCRNModel

Enhancer = Callable[[np.ndarray], np.ndarray]


class TorchEnhancer:
    """Run the PyTorch network in fp32 on ``device``."""

    def __init__(self, model: FRCRNModel, device: str = 'cpu'):
        self.network = model.model.to(device).eval()
        self.device = device

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        """Shape: ``[B, T]`` -> ``[B, T]``."""
        waves = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32)).to(self.device)
        return self.network.enhance(waves).float().cpu().numpy()


def build_enhancer(model: FRCRNModel, device: str = 'cpu') -> Enhancer:
    """The enhancer for ``model`` on ``device``."""
    return TorchEnhancer(model, device)
