"""FRCRN as a ModelScope model, registered as ``speech_frcrn_ans_cirm_16k``.

Built by ModelScope from a model directory's ``configuration.json`` (the
``model`` section's kwargs plus ``model_dir``), with the same forward contract
as the built-in: ``forward({'noisy': [B, T]})`` returns the stage outputs, and
with ``'clean'`` also the loss terms and ``log_vars`` that the trainer logs.
"""
import os
from typing import Dict, Optional

import torch
from modelscope.models.base import TorchModel
from modelscope.models.builder import MODELS

from ..errors import WeightsNotFoundError
from ..metainfo import TASK, Models
from ..registration import register
from .checkpoint import WEIGHTS_FILE, load_network_state, read_checkpoint
from .frcrn import FRCRN
from .losses import frcrn_loss

OFFICIAL_DEPTH = 14


@register(MODELS, TASK, Models.speech_frcrn_ans_cirm_16k)
class FRCRNModel(TorchModel):
    """FRCRN speech enhancement model (16 kHz, complex ratio mask).

    Args:
        model_dir: directory with ``configuration.json`` and, optionally,
            ``pytorch_model.bin`` (official hub weights or a trainer checkpoint).
            Without weights the network keeps its random initialisation (for
            training from scratch); :attr:`has_weights` tells which.
        complex, model_complexity, model_depth, log_amp: official configuration
            keys; only the official values (complex, depth 14) are supported,
            ``model_complexity`` and ``log_amp`` are accepted and unused, as in
            the official model.
        padding_mode, win_len, win_inc, fft_len, win_type, width, post_filter_beta:
            see :class:`FRCRN` (the post-filter acts on inference, not on training losses).
        spectral_loss_weight: training only: weight of the compressed spectral loss
            added to the official loss (see :func:`.losses.frcrn_loss`; 0: official).
        mask_loss_weight: training only: weight of the cIRM mask errors (1: official).
        noise_loss_weight: training only: weight of the residual noise level in dB
            (:func:`.losses.residual_noise_db`; 0: official).
        stoi_loss_weight: training only: weight of the envelope correlation (STOI-like) loss
            (:func:`.losses.envelope_correlation_loss`; 0: official).

    Like ModelScope's own models, ``Model.from_pretrained`` returns it in training
    mode (the pipeline switches it to eval); :meth:`enhance` is correct in either mode.
    """

    def __init__(self, model_dir: Optional[str] = None, *args, complex: bool = True,
                 model_complexity: int = -1, model_depth: int = OFFICIAL_DEPTH,
                 log_amp: bool = False, padding_mode: str = 'zeros', win_len: int = 640,
                 win_inc: int = 320, fft_len: int = 640, win_type: Optional[str] = 'hann',
                 width: int = 128, spectral_loss_weight: float = 0.0,
                 mask_loss_weight: float = 1.0, noise_loss_weight: float = 0.0,
                 stoi_loss_weight: float = 0.0, post_filter_beta: float = 0.0, **kwargs):
        super().__init__(model_dir, *args, **kwargs)
        if not complex or model_depth != OFFICIAL_DEPTH:
            raise ValueError(f'FRCRN supports complex=True and model_depth={OFFICIAL_DEPTH} '
                             f'only, got complex={complex}, model_depth={model_depth}')
        self.model = FRCRN(win_len, win_inc, fft_len, win_type, width, padding_mode, post_filter_beta)
        self.spectral_loss_weight = spectral_loss_weight
        self.mask_loss_weight = mask_loss_weight
        self.noise_loss_weight = noise_loss_weight
        self.stoi_loss_weight = stoi_loss_weight
        self.weights_path = self._load_weights(model_dir)

    def _load_weights(self, model_dir: Optional[str]) -> Optional[str]:
        path = os.path.join(model_dir, WEIGHTS_FILE) if model_dir else None
        if path is None or not os.path.isfile(path):
            return None
        load_network_state(self.model, read_checkpoint(path), source=path)
        return path

    @property
    def has_weights(self) -> bool:
        """Whether trained weights were loaded (False: random initialisation)."""
        return self.weights_path is not None

    def require_weights(self) -> None:
        """Raise :class:`WeightsNotFoundError` unless trained weights were loaded."""
        if not self.has_weights:
            raise WeightsNotFoundError(
                f'no {WEIGHTS_FILE} in model directory {self.model_dir}: the network would '
                f'run on random weights. Put the official checkpoint (or one trained with '
                f'this package) there as {WEIGHTS_FILE}, or pass another model directory.')

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Forward pass with the built-in's contract.

        Shape:
            - inputs['noisy']: ``[B, T]``; optional inputs['clean']: ``[B, T]``.
            - returns the :meth:`FRCRN.forward` outputs; with ``clean`` also
              ``loss``, ``amp_loss``, ``phase_loss``, ``sisnr`` (and ``spectral``,
              ``residual_noise`` and ``stoi`` with their loss weights; stage 2, scalars),
              ``si_snr_per_item`` ``[B]`` and ``log_vars`` (the scalars as floats).
        """
        noisy = inputs['noisy']
        outputs = self.model(noisy)
        if 'clean' in inputs:
            # in float32 even when the network ran under mixed-precision autocast
            with torch.autocast(noisy.device.type, enabled=False):
                losses = frcrn_loss(self.model.stft, noisy, inputs['clean'], outputs['wav_l2'].float(),
                                    outputs['mask_l2'].float(), self.spectral_loss_weight,
                                    self.mask_loss_weight, self.noise_loss_weight, self.stoi_loss_weight)
            outputs.update(losses)
            outputs['log_vars'] = {name: value.item() for name, value in losses.items()
                                   if value.dim() == 0}
        return outputs

    def enhance(self, noisy: torch.Tensor) -> torch.Tensor:
        """Enhanced waveforms, as many samples as given, in eval mode whatever the model's mode
        and without changing its state. Shape: ``[B, T]`` -> ``[B, T]``."""
        return self.model.enhance(noisy)
