"""A perceptual post-filter on the stage-2 mask: bins the network mostly removed are pushed further down.

The envelope post-filter of PercepNet (Valin et al., Interspeech 2020), which DeepFilterNet2
(Schröter et al., ICASSP 2022) applies to its gains, turns a gain ``g`` in ``[0, 1]`` into
``(1 + beta) * g / (1 + beta * (g / (g * sin(pi * g / 2))) ** 2)``, that is ``g`` times
``(1 + beta) * s ** 2 / (s ** 2 + beta)`` with ``s = sin(pi * g / 2)``. A gain of 1 is kept;
low gains, where the network judged noise to dominate, fall further (``beta = 0.02``:
0.5 by 0.2 dB, 0.2 by 1.5 dB, 0.1 by 5 dB, 0.05 by 12 dB), which removes residual noise at
some cost to quiet speech. FRCRN's mask is complex with magnitudes up to 2: the factor is
computed from the magnitude clipped to 1 (so bins the network kept or raised are left alone)
and scales the mask, whose phase is kept. Inference only: training losses see the raw mask.
"""
import math

import torch

from ..errors import UsageError


def checked_beta(beta: float) -> float:
    """``beta`` as a float, if it is a strength the filter takes (finite, 0 or more).

    Raises:
        UsageError: (a ValueError) a negative, infinite or NaN strength.
    """
    beta = float(beta)
    if not (math.isfinite(beta) and beta >= 0):
        raise UsageError(f'the post-filter strength must be a finite number, 0 or more '
                         f'(0: off; 0.02 is typical), got {beta:g}')
    return beta


def post_filter(mask: torch.Tensor, beta: float) -> torch.Tensor:
    """``mask`` with its low-gain bins attenuated further (``beta = 0``: ``mask`` itself).

    Shape: ``[B, 2, F, frames]`` (real, imaginary) -> the same.
    """
    if beta <= 0.0:
        return mask
    gain = torch.sqrt(mask[:, 0] ** 2 + mask[:, 1] ** 2).clamp(max=1.0)
    sine_squared = torch.sin(gain * (math.pi / 2)) ** 2
    return mask * ((1.0 + beta) * sine_squared / (sine_squared + beta))[:, None]
