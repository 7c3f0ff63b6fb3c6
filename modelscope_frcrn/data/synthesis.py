"""Mixing clean speech and noise the way the DNS Challenge synthesizer does.

Pure numpy, no file access: a clip is filled from source excerpts, the noise
is scaled to the drawn SNR against the clean clip, and the mix is scaled to
the drawn target level, with both signals scaled down together when the mix
would clip, so the clean signal stays the exact target of the noisy one.
"""
from dataclasses import dataclass
from typing import Callable, List, Sequence, Tuple

import numpy as np

from ..errors import DataPreparationError

#: The mix's peak is kept below this (as the DNS synthesizer does).
CLIP_PEAK = 0.99
#: A clean or noise clip quieter than this RMS (-80 dBFS) is redrawn: no SNR can be set on it.
SILENT_RMS = 1e-4
#: How many times a silent clip is redrawn before giving up.
MAX_REDRAWS = 10
#: SNR and level are drawn on this grid (dB), so the values in the file names are exact.
DB_STEP = 0.1


@dataclass(frozen=True)
class Mixture:
    """A mixed pair. ``noisy == clean + noise`` exactly (float64 ``[T]``)."""

    noisy: np.ndarray
    clean: np.ndarray
    noise: np.ndarray
    #: Factor applied after target-level scaling to keep the peak below CLIP_PEAK (1.0: none).
    clipping_gain: float


def draw_db(rng: np.random.Generator, low: float, high: float, what: str) -> float:
    """A value drawn uniformly from the 0.1 dB grid points in ``[low, high]``."""
    first, last = int(np.ceil(low / DB_STEP - 1e-9)), int(np.floor(high / DB_STEP + 1e-9))
    if first > last:
        raise DataPreparationError(f'{what} range [{low}, {high}] holds no multiple of {DB_STEP} dB')
    return round(int(rng.integers(first, last + 1)) * DB_STEP, 1)


def rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))


def fill_clip(rng: np.random.Generator, files: Sequence[str], length: int,
              load: Callable[[str], np.ndarray], silence: int) -> Tuple[np.ndarray, List[str]]:
    """A ``[length]`` clip of random source excerpts separated by ``silence`` zero samples.

    Each step picks a random file; a file longer than what is still missing
    contributes a random excerpt of that length, a shorter one all of itself,
    followed by the silence, until the clip is full (the DNS synthesizer's
    ``build_audio``).

    Returns:
        the clip (float64 ``[length]``) and the files used, in order of first use.
    """
    clip = np.zeros(length, dtype=np.float64)
    used: List[str] = []
    filled = 0
    while filled < length:
        name = files[int(rng.integers(len(files)))]
        audio = load(name)
        missing = length - filled
        if audio.size > missing:
            start = int(rng.integers(audio.size - missing + 1))
            audio = audio[start:start + missing]
        clip[filled:filled + audio.size] = audio
        filled += audio.size + silence
        if name not in used:
            used.append(name)
    return clip, used


def fill_audible_clip(rng: np.random.Generator, files: Sequence[str], length: int,
                      load: Callable[[str], np.ndarray], silence: int,
                      kind: str) -> Tuple[np.ndarray, List[str]]:
    """:func:`fill_clip`, redrawn while the clip is silent (RMS below -80 dBFS)."""
    for _ in range(MAX_REDRAWS):
        clip, used = fill_clip(rng, files, length, load, silence)
        if rms(clip) >= SILENT_RMS:
            return clip, used
    raise DataPreparationError(
        f'{MAX_REDRAWS} {kind} clips in a row were silent (RMS below -80 dBFS), the last one '
        f'made of {", ".join(used[:5])}: remove silent {kind} files')


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, level_dbfs: float) -> Mixture:
    """Mix ``clean`` and ``noise`` (``[T]`` each) at ``snr_db``, the mix at ``level_dbfs`` RMS.

    The noise is scaled so that ``10 log10(P_clean / P_noise) == snr_db``; then
    clean and noise get one common gain that brings the mix's RMS to
    ``level_dbfs``; if the mix's peak would then reach CLIP_PEAK, the common
    gain is lowered so that it stays just below (the level is then lower than
    drawn, the SNR unchanged).
    """
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    noise = noise * (rms(clean) / rms(noise) * 10.0 ** (-snr_db / 20.0))
    noisy = clean + noise
    gain = 10.0 ** (level_dbfs / 20.0) / rms(noisy)
    peak = float(np.max(np.abs(noisy))) * gain
    clipping_gain = 1.0
    if peak >= CLIP_PEAK:
        clipping_gain = (CLIP_PEAK - 1e-4) / peak
        gain *= clipping_gain
    return Mixture(noisy=noisy * gain, clean=clean * gain, noise=noise * gain,
                   clipping_gain=clipping_gain)

