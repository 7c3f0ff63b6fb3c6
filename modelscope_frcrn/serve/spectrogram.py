"""Spectrogram images for the demo page, rendered on the server with NumPy and Pillow."""
import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image

#: the window at 16 kHz (32 ms, 31 Hz per bin); other rates keep its duration, so an image
#: always spans 0 Hz to the Nyquist frequency in ``N_FFT // 2 + 1`` rows of source bins
N_FFT = 512
REFERENCE_RATE = 16000
BLOCK_FRAMES = 1024
DYNAMIC_RANGE_DB = 80.0
#: the scale's top is never below this (a full-scale sine peaks near +42 dB), so silence stays dark
MIN_TOP_DB = -40.0
MAX_WIDTH = 960  # pixels; longer signals are averaged down to this many columns
HEIGHT = 200
#: dark blue -> purple -> orange -> pale yellow, evenly spaced from quiet to loud
PALETTE_ANCHORS = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104],
                            [254, 159, 109], [252, 253, 191]], dtype=np.float64)


def spectrogram_db(samples: np.ndarray, sample_rate: int = REFERENCE_RATE) -> np.ndarray:
    """Power spectrogram in dB (Hann window of ``N_FFT`` points at 16 kHz, the same duration at
    ``sample_rate``, half-window hop), float32.

    Shape: ``[T]`` -> ``[n_fft // 2 + 1, frames]``, frames >= 1 (short inputs are zero-padded).
    Computed ``BLOCK_FRAMES`` frames at a time, so temporaries stay small for long inputs.
    """
    n_fft = 2 * round(N_FFT * sample_rate / REFERENCE_RATE / 2)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size < n_fft:
        samples = np.pad(samples, (0, n_fft - samples.size))
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[::n_fft // 2]  # [F, n_fft]
    window = np.hanning(n_fft).astype(np.float32)
    decibels = np.empty((n_fft // 2 + 1, len(frames)), dtype=np.float32)
    for start in range(0, len(frames), BLOCK_FRAMES):
        power = np.abs(np.fft.rfft(frames[start:start + BLOCK_FRAMES] * window, axis=-1)) ** 2
        decibels[:, start:start + BLOCK_FRAMES] = 10.0 * np.log10(np.maximum(power.T, 1e-12))
    return decibels


def spectrogram_png(samples: np.ndarray, reference_db: Optional[float] = None,
                    sample_rate: int = REFERENCE_RATE) -> bytes:
    """A PNG of the spectrogram of ``samples`` ``[T]``, 0 Hz at the bottom, the Nyquist
    frequency at the top.

    Colours span ``DYNAMIC_RANGE_DB`` below ``reference_db`` (default: the
    loudest bin of ``samples``).
    """
    return _png(spectrogram_db(samples, sample_rate), reference_db)


def comparison_pngs(noisy: np.ndarray, enhanced: np.ndarray,
                    sample_rate: int = REFERENCE_RATE) -> Tuple[bytes, bytes]:
    """PNGs of both spectrograms on the noisy one's colour scale, so removed noise shows as darker.

    Shape: ``[T]``, ``[T]`` -> (noisy PNG, enhanced PNG).
    """
    noisy_db = spectrogram_db(noisy, sample_rate)
    reference = float(noisy_db.max())
    noisy_png = _png(noisy_db, reference)
    del noisy_db  # one spectrogram at a time: each is about the size of the signal
    return noisy_png, _png(spectrogram_db(enhanced, sample_rate), reference)


def _png(decibels: np.ndarray, reference_db: Optional[float]) -> bytes:
    """The PNG of ``decibels`` ``[bins, frames]`` (float32, overwritten with its levels)."""
    top = max(float(decibels.max()) if reference_db is None else reference_db, MIN_TOP_DB)
    levels = decibels  # in place: a long upload's spectrogram is as large as the signal
    levels -= top - DYNAMIC_RANGE_DB
    levels /= DYNAMIC_RANGE_DB
    np.clip(levels, 0.0, 1.0, out=levels)
    size = (min(MAX_WIDTH, levels.shape[1]), HEIGHT)
    # shrink first (averaging), then flip and colour: memory stays at the image's size
    shrunk = Image.fromarray(levels, mode='F').resize(size, Image.Resampling.BOX).transpose(
        Image.Transpose.FLIP_TOP_BOTTOM)
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
