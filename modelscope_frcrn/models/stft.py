"""STFT and inverse STFT as 1-D convolutions with fixed kernels.

FRCRN computes its spectrum with a strided convolution whose kernels are the
real and imaginary DFT bases times a square-root window, and inverts it with a
transposed convolution over the pseudo-inverse basis followed by a division by
the overlap-added squared window. The kernels are stored as (frozen)
parameters and buffers so that checkpoints of the official model carry them;
we keep the same names and shapes.
"""
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

_WINDOWS: Dict[str, Callable[..., torch.Tensor]] = {
    'hann': torch.hann_window,
    # The official configuration says 'hanning' (SciPy's old alias of 'hann').
    'hanning': torch.hann_window,
    'hamming': torch.hamming_window,
}


def analysis_window(win_type: Optional[str], win_len: int) -> torch.Tensor:
    """Square root of a periodic window, float64.

    Shape: ``[win_len]``. ``None`` or ``'None'`` gives a rectangular window.
    """
    if win_type is None or win_type == 'None':
        return torch.ones(win_len, dtype=torch.float64)
    try:
        make_window = _WINDOWS[win_type.lower()]
    except KeyError:
        raise ValueError(f'Unsupported win_type {win_type!r}; '
                         f'expected one of {sorted(_WINDOWS)} or None') from None
    return make_window(win_len, periodic=True, dtype=torch.float64).sqrt()


def dft_basis(win_len: int, fft_len: int) -> torch.Tensor:
    """Real DFT basis: cosine rows, then negative-sine rows, float64.

    Shape: ``[fft_len + 2, win_len]`` (``fft_len // 2 + 1`` real rows then as many
    imaginary rows), so that ``basis @ frame`` is the one-sided spectrum.
    """
    bins = torch.arange(fft_len // 2 + 1, dtype=torch.float64)[:, None]
    samples = torch.arange(win_len, dtype=torch.float64)[None, :]
    phase = 2 * torch.pi * bins * samples / fft_len
    return torch.cat([torch.cos(phase), -torch.sin(phase)], dim=0)


class ConvSTFT(nn.Module):
    """Complex STFT without centering or padding.

    Shape:
        - input: ``[B, T]`` or ``[B, 1, T]`` waveform.
        - output: ``[B, fft_len + 2, frames]``, real bins then imaginary bins,
          with ``frames = (T - win_len) // hop + 1``.
    """

    def __init__(self, win_len: int, hop: int, fft_len: int, win_type: Optional[str]):
        super().__init__()
        kernel = dft_basis(win_len, fft_len) * analysis_window(win_type, win_len)
        self.weight = nn.Parameter(kernel[:, None, :].float(), requires_grad=False)
        self.hop = hop

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 2:
            waveform = waveform[:, None, :]
        return F.conv1d(waveform, self.weight, stride=self.hop)


class ConviSTFT(nn.Module):
    """Inverse of :class:`ConvSTFT` by weighted overlap-add.

    Shape:
        - input: ``[B, fft_len + 2, frames]``.
        - output: ``[B, 1, (frames - 1) * hop + win_len]``.
    """

    def __init__(self, win_len: int, hop: int, fft_len: int, win_type: Optional[str]):
        super().__init__()
        window = analysis_window(win_type, win_len)
        synthesis = torch.linalg.pinv(dft_basis(win_len, fft_len)).T * window
        self.weight = nn.Parameter(synthesis[:, None, :].float(), requires_grad=False)
        self.register_buffer('window', window[None, :, None].float())
        # Unused by our overlap-add, but part of the official state_dict
        # (the built-in overlap-adds the window with this identity kernel).
        self.register_buffer('enframe', torch.eye(win_len)[:, None, :])
        self.hop = hop

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        frames = spec.shape[-1]
        waveform = F.conv_transpose1d(spec, self.weight, stride=self.hop)
        return waveform / (self._window_power(frames) + 1e-8)

    def _window_power(self, frames: int) -> torch.Tensor:
        """Overlap-added squared window, shape ``[1, 1, (frames - 1) * hop + win_len]``."""
        win_len = self.window.shape[1]
        squared = (self.window ** 2).expand(1, win_len, frames)
        length = (frames - 1) * self.hop + win_len
        return F.fold(squared, output_size=(1, length), kernel_size=(1, win_len),
                      stride=(1, self.hop)).view(1, 1, length)
