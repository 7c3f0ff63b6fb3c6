"""The FRCRN network (Zhao et al., ICASSP 2022): two cascaded complex U-Nets predicting a cIRM.

The noisy waveform is turned into a complex spectrum; the first U-Net predicts
a map whose ``tanh`` is the stage-1 mask; the second U-Net refines that map and
the stage-2 mask is ``tanh(U2) + tanh(U1)`` (range -2..2). Each mask multiplies the
noisy spectrum (complex product) and the inverse STFT gives that stage's
waveform; the stage-2 waveform is the enhanced speech. :meth:`FRCRN.enhance` can pass the
stage-2 mask through a post-filter first (:mod:`.post_filter`).
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .post_filter import checked_beta, post_filter
from .stft import ConviSTFT, ConvSTFT
from .unet import ComplexUNet


class FRCRN(nn.Module):
    """Frequency-recurrent complex CRN.

    Args:
        win_len: STFT window length in samples (640 = 40 ms at 16 kHz).
        win_inc: hop in samples.
        fft_len: FFT size; ``fft_len // 2 + 1`` bins (321).
        win_type: ``'hann'`` (or its old SciPy name ``'hanning'``), ``'hamming'`` or None;
            the square root of the periodic window is used for analysis and synthesis.
        width: channels of every convolution and FSMN layer (128 in the official model).
        padding_mode: padding of the encoder convolutions.
        post_filter_beta: strength of the post-filter :meth:`enhance` applies to the
            stage-2 mask (0: none, the official output; :mod:`.post_filter`).
    """

    def __init__(self, win_len: int = 640, win_inc: int = 320, fft_len: int = 640,
                 win_type: Optional[str] = 'hann', width: int = 128,
                 padding_mode: str = 'zeros', post_filter_beta: float = 0.0):
        super().__init__()
        self.win_len = win_len
        self.hop = win_inc
        self.post_filter_beta = checked_beta(post_filter_beta)
        self.stft = ConvSTFT(win_len, win_inc, fft_len, win_type)
        self.istft = ConviSTFT(win_len, win_inc, fft_len, win_type)
        self.unet = ComplexUNet(width, padding_mode)
        self.unet2 = ComplexUNet(width, padding_mode)

    def forward(self, noisy: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Run both stages.

        Shape:
            - noisy: ``[B, T]`` waveform, ``T >= win_len``.
            - returns ``spec_l1``/``spec_l2``: ``[B, 2F, frames]`` enhanced spectra
              (real bins then imaginary bins); ``wav_l1``/``wav_l2``:
              ``[B, (frames - 1) * hop + win_len]`` waveforms; ``mask_l1``/``mask_l2``:
              ``[B, 2F, frames]`` complex masks, with ``frames = (T - win_len) // hop + 1``.
        """
        stacked = self.stft(noisy).unflatten(1, (2, -1))            # [B, 2, F, frames]
        mask1, mask2 = self.masks(stacked)
        outputs = {}
        for suffix, mask in (('l1', mask1), ('l2', mask2)):
            outputs[f'spec_{suffix}'], outputs[f'wav_{suffix}'] = self.synthesise(stacked, mask)
            outputs[f'mask_{suffix}'] = mask.flatten(1, 2)
        return outputs

    def masks(self, stacked: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The stage-1 and stage-2 complex masks. Shape: ``[B, 2, F, frames]`` -> two of the same."""
        stage1 = self.unet(stacked)
        stage2 = self.unet2(stage1)
        mask1 = torch.tanh(stage1)
        return mask1, torch.tanh(stage2) + mask1

    def synthesise(self, stacked: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The masked spectrum and its waveform.

        Shape: ``[B, 2, F, frames]`` x2 -> ``[B, 2F, frames]``, ``[B, (frames - 1) * hop + win_len]``.
        """
        spec = complex_multiply(stacked, mask).flatten(1, 2)
        return spec, self.istft(spec)[:, 0]

    @torch.inference_mode()
    def enhance(self, noisy: torch.Tensor) -> torch.Tensor:
        """Enhance waveforms of any length, returning exactly as many samples.

        The input is zero-padded by ``win_len - hop`` samples at both ends (so
        every sample lies under two full analysis windows, where the
        overlap-add is well conditioned) and up to a whole number of hops. The output is
        the stage-2 waveform, its mask post-filtered when ``post_filter_beta`` is above 0.

        Runs in eval mode whatever the module's mode (batch norm uses its running
        statistics and does not update them); the mode is restored afterwards.

        Shape: ``[B, T]`` -> ``[B, T]``.
        """
        length = noisy.shape[-1]
        left, right = enhance_padding(length, self.win_len, self.hop)
        was_training = self.training
        self.eval()
        try:
            stacked = self.stft(F.pad(noisy, (left, right))).unflatten(1, (2, -1))
            _, waveform = self.synthesise(stacked, post_filter(self.masks(stacked)[1], self.post_filter_beta))
            return waveform[:, left:left + length]
        finally:
            self.train(was_training)


def enhance_padding(length: int, win_len: int, hop: int) -> Tuple[int, int]:
    """Zeros to add before and after ``length`` samples for :meth:`FRCRN.enhance`:
    ``win_len - hop`` at both ends, then up to a whole number of hops."""
    margin = win_len - hop
    padded_length = max(length + 2 * margin, win_len)
    padded_length += -(padded_length - win_len) % hop
    return margin, padded_length - length - margin


def complex_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Complex product of channel-stacked maps.

    Shape: ``[B, 2, ...]`` x ``[B, 2, ...]`` -> ``[B, 2, ...]`` (channel 0 real, 1 imaginary).
    """
    a_re, a_im = a[:, 0], a[:, 1]
    b_re, b_im = b[:, 0], b[:, 1]
    return torch.stack([a_re * b_re - a_im * b_im, a_re * b_im + a_im * b_re], dim=1)
