"""Spectrogram images for the demo page, rendered on the server with NumPy and Pillow."""
import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image

N_FFT = 512
HOP = 256
BLOCK_FRAMES = 1024
DYNAMIC_RANGE_DB = 80.0
#: the scale's top is never below this (a full-scale sine peaks near +42 dB), so silence stays dark
MIN_TOP_DB = -40.0
MAX_WIDTH = 960  # pixels; longer signals are averaged down to this many columns
HEIGHT = 200
#: dark blue -> purple -> orange -> pale yellow, evenly spaced from quiet to loud
PALETTE_ANCHORS = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104],
                            [254, 159, 109], [252, 253, 191]], dtype=np.float64)


def spectrogram_db(samples: np.ndarray) -> np.ndarray:
    """Power spectrogram in dB (Hann window, ``N_FFT`` points, hop ``HOP``), float32.

    Shape: ``[T]`` -> ``[N_FFT // 2 + 1, frames]``, frames >= 1 (short inputs are zero-padded).
    Computed ``BLOCK_FRAMES`` frames at a time, so temporaries stay small for long inputs.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size < N_FFT:
        samples = np.pad(samples, (0, N_FFT - samples.size))
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]  # a view [F, N_FFT]
    window = np.hanning(N_FFT).astype(np.float32)
    decibels = np.empty((N_FFT // 2 + 1, len(frames)), dtype=np.float32)
    for start in range(0, len(frames), BLOCK_FRAMES):
        power = np.abs(np.fft.rfft(frames[start:start + BLOCK_FRAMES] * window, axis=-1)) ** 2
        decibels[:, start:start + BLOCK_FRAMES] = 10.0 * np.log10(np.maximum(power.T, 1e-12))
    return decibels


def spectrogram_png(samples: np.ndarray, reference_db: Optional[float] = None) -> bytes:
    """A PNG of the spectrogram of 16 kHz ``samples`` ``[T]``, low frequencies at the bottom.

    Colours span ``DYNAMIC_RANGE_DB`` below ``reference_db`` (default: the
    loudest bin of ``samples``).
    """
    return _png(spectrogram_db(samples), reference_db)


def comparison_pngs(noisy: np.ndarray, enhanced: np.ndarray) -> Tuple[bytes, bytes]:
    """PNGs of both spectrograms on the noisy one's colour scale, so removed noise shows as darker.

    Shape: ``[T]``, ``[T]`` -> (noisy PNG, enhanced PNG).
    """
    noisy_db = spectrogram_db(noisy)
    reference = float(noisy_db.max())
    return _png(noisy_db, reference), _png(spectrogram_db(enhanced), reference)


def _png(decibels: np.ndarray, reference_db: Optional[float]) -> bytes:
    top = max(float(decibels.max()) if reference_db is None else reference_db, MIN_TOP_DB)
    levels = np.clip((decibels[::-1] - (top - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB, 0.0, 1.0)
    size = (min(MAX_WIDTH, levels.shape[1]), HEIGHT)
    # shrink first (averaging), then colour: memory stays at the image's size
    shrunk = Image.fromarray(levels.astype(np.float32), mode='F').resize(size, Image.Resampling.BOX)
    stream = io.BytesIO()
    Image.fromarray(_colour(np.asarray(shrunk)), mode='RGB').save(stream, format='PNG', optimize=True)
    return stream.getvalue()


def _colour(levels: np.ndarray) -> np.ndarray:
    """Map levels in [0, 1] to RGB. Shape: ``[H, W]`` -> ``[H, W, 3]`` uint8."""
    positions = levels * (len(PALETTE_ANCHORS) - 1)
    low = np.minimum(positions.astype(np.int64), len(PALETTE_ANCHORS) - 2)
    fraction = (positions - low)[..., None]
    rgb = PALETTE_ANCHORS[low] * (1.0 - fraction) + PALETTE_ANCHORS[low + 1] * fraction
    return np.round(rgb).astype(np.uint8)
