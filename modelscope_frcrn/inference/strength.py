"""Strength control: a limit on how far the denoiser may attenuate any part of the signal.

The limit ``L`` dB sets a floor ``a = 10 ** (-L / 20)`` on the ratio of enhanced
to noisy magnitude in the time-frequency domain (``L = 0``: the input itself;
``L = inf`` or None: the model's output unchanged). As DeepFilterNet's
``--atten-lim`` does, the output starts as the mix ``a * noisy + (1 - a) *
enhanced``, so bins the model left alone stay as they were and the more a bin
was attenuated, the more of the input comes back. A mix alone can still go
below the floor where the model turned a bin's phase against the input's, so
those bins are then lifted to the floor (their phase kept), and because a
lifted spectrogram is not exactly the spectrogram of its resynthesis, the
lift is repeated ``LIFT_PASSES`` times on the resynthesised signal. Measured
on the held-out test recording with the shipped model at 12 dB: after one pass
0.23 % of bins (> -60 dB re the loudest) are still below -12.5 dB, the worst
at -18.9 dB; after four, 0.03 %, the worst at -15.6 dB (a plain mix: 0.41 %,
the worst at -47 dB).

Above 16 kHz with the full band (:mod:`.bandsplit`), the model's band is held to
the limit as above, on the model's grid, and the upper band's gain has the floor
as its lowest value on its own 5 ms grid. On a grid that is neither, a few bins
fall further: on speech with air and white noise at 48 kHz, at 12 dB, 99.77 % of
the bins of a 5 ms grid are within 12.5 dB and 99.9 % within 13.5 dB (most often
around the 8 kHz crossover, where the two bands overlap), while every frame is
within 12 dB (at most 10.4 dB there, 9.8 dB on 20 ms frames).
"""
import math
from typing import Optional

import numpy as np

from ..errors import UsageError
from .backends import Enhancer
from .spectra import istft, stft


def attenuation_floor(limit_db: Optional[float]) -> float:
    """The magnitude floor for a limit of ``limit_db`` dB: 1 for 0 dB, 0 for None or inf.

    Raises:
        UsageError: a negative or NaN limit.
    """
    if limit_db is None:
        return 0.0
    limit_db = float(limit_db)
    if math.isnan(limit_db) or limit_db < 0:
        raise UsageError(f'the attenuation limit must be 0 dB or more (inf: no limit), '
                         f'got {limit_db:g}')
    return 10.0 ** (-limit_db / 20.0)


#: Rounds of lifting bins to the floor and resynthesising (see the module's docstring).
LIFT_PASSES = 4


def limit_attenuation(noisy: np.ndarray, enhanced: np.ndarray, floor: float) -> np.ndarray:
    """``enhanced`` with no bin attenuated below ``floor`` times the ``noisy`` magnitude.

    Shape: ``[C, T]``, ``[C, T]`` -> ``[C, T]`` float32.
    """
    if floor <= 0.0:
        return enhanced
    if floor >= 1.0:
        return np.array(noisy, np.float32)
    minimum = floor * np.abs(stft(noisy))
    limited = floor * noisy + (1.0 - floor) * enhanced
    for _ in range(LIFT_PASSES):
        limited = istft(lift(stft(limited), minimum), noisy.shape[-1])
    return limited


def lift(spectra: np.ndarray, minimum: np.ndarray) -> np.ndarray:
    """``spectra`` with every magnitude below ``minimum`` raised to it, phases kept.

    Shape: ``[C, F, K]`` complex, ``[C, F, K]`` real -> ``[C, F, K]`` complex.
    """
    magnitude = np.abs(spectra)
    return spectra * (np.maximum(magnitude, minimum) / np.maximum(magnitude, 1e-30))


class LimitedEnhancer:
    """An :data:`~modelscope_frcrn.inference.backends.Enhancer` whose output is held to an
    attenuation limit (:func:`limit_attenuation`); with a floor of 1 the network is not run.

    Args:
        enhance: the network, ``[C, T] -> [C, T]``.
        floor: from :func:`attenuation_floor`.
    """

    def __init__(self, enhance: Enhancer, floor: float):
        self.enhance, self.floor = enhance, floor

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        """Shape: ``[C, T]`` -> ``[C, T]``."""
        if self.floor >= 1.0:
            return np.array(noisy, np.float32)
        return limit_attenuation(noisy, self.enhance(noisy), self.floor)


def limited(enhance: Enhancer, limit_db: Optional[float]) -> Enhancer:
    """``enhance`` held to ``limit_db`` dB of attenuation (itself when there is no limit)."""
    floor = attenuation_floor(limit_db)
    return LimitedEnhancer(enhance, floor) if floor > 0.0 else enhance
