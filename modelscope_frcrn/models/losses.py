"""FRCRN training objective: cIRM mean squared error minus SI-SNR.

The complex ideal ratio mask (cIRM) target is ``S / Y`` for clean spectrum ``S``
and noisy spectrum ``Y``; values beyond +-2 are folded to +-1 as in the official
recipe. The loss of the stage-2 output is
``2F * MSE(mask_re) + 2F * MSE(mask_im) - SI-SNR(wav, clean)``.
"""
from typing import Dict

import torch
import torch.nn.functional as F

EPS = 1e-8


def si_snr_per_item(estimate: torch.Tensor, reference: torch.Tensor,
                    eps: float = EPS) -> torch.Tensor:
    """Scale-invariant SNR in dB of each item (no mean removal, as in the official recipe).

    Shape: ``[B, T]`` and ``[B, T]`` -> ``[B]``.
    """
    dot = (estimate * reference).sum(-1, keepdim=True)
    target = dot / ((reference ** 2).sum(-1, keepdim=True) + eps) * reference
    noise = estimate - target
    ratio = (target ** 2).sum(-1) / ((noise ** 2).sum(-1) + eps)
    return 10 * torch.log10(ratio + eps)


def cirm_target(noisy_spec: torch.Tensor, clean_spec: torch.Tensor) -> torch.Tensor:
    """Folded complex ideal ratio mask.

    Shape: ``[B, 2F, frames]`` spectra (real bins then imaginary) -> ``[B, 2F, frames]``.
    """
    y_re, y_im = noisy_spec.chunk(2, dim=1)
    s_re, s_im = clean_spec.chunk(2, dim=1)
    power = y_re ** 2 + y_im ** 2 + EPS
    mask = torch.cat([(s_re * y_re + s_im * y_im) / power,
                      (s_im * y_re - s_re * y_im) / power], dim=1)
    mask = torch.where(mask > 2, torch.ones_like(mask), mask)
    return torch.where(mask < -2, -torch.ones_like(mask), mask)


def frcrn_loss(stft, noisy: torch.Tensor, clean: torch.Tensor, estimate: torch.Tensor,
               mask: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Loss terms of one FRCRN stage.

    Args:
        stft: the model's STFT module.
        noisy, clean: ``[B, T]`` waveforms.
        estimate: ``[B, T']`` enhanced waveform of the stage, ``T' <= T``.
        mask: ``[B, 2F, frames]`` estimated complex mask of the stage.

    Returns:
        ``loss`` (total), ``amp_loss`` and ``phase_loss`` (real and imaginary mask
        errors) and ``sisnr`` (negative mean SI-SNR, so lower is better), all
        scalars; and ``si_snr_per_item`` ``[B]`` in dB (detached) for evaluation.
    """
    length = min(estimate.shape[-1], clean.shape[-1])
    per_item = si_snr_per_item(estimate[..., :length], clean[..., :length])
    sisnr = -per_item.mean()
    target = cirm_target(stft(noisy), stft(clean))
    bins_times_two = mask.shape[1]
    target_re, target_im = target.chunk(2, dim=1)
    mask_re, mask_im = mask.chunk(2, dim=1)
    amp_loss = F.mse_loss(mask_re, target_re) * bins_times_two
    phase_loss = F.mse_loss(mask_im, target_im) * bins_times_two
    return {'loss': amp_loss + phase_loss + sisnr, 'amp_loss': amp_loss,
            'phase_loss': phase_loss, 'sisnr': sisnr, 'si_snr_per_item': per_item.detach()}
