"""A small numpy STFT on the model's frame grid, for post-processing the network's output.

Frames are ``2 * hop`` long with a square-root periodic Hann window for both
analysis and synthesis, so at 50 % overlap the windows' products sum to one and
:func:`istft` of an unchanged :func:`stft` gives the signal back (to float
precision). Frame ``k`` is centred on sample ``k * hop``: with ``hop = 320`` at
16 kHz the frames fall on FRCRN's own 20 ms grid, and a chunk that starts on
that grid (as :class:`~modelscope_frcrn.inference.chunking.OverlapChunker`'s
do) gets the same frames as a one-pass run.
"""
import numpy as np

#: The model's STFT hop at 16 kHz (20 ms).
MODEL_HOP = 320


def frame_count(length: int, hop: int = MODEL_HOP) -> int:
    """Frames covering ``length`` samples: centred on ``0, hop, ...`` up to past the end."""
    return -(-length // hop) + 1


def window(hop: int = MODEL_HOP) -> np.ndarray:
    """Square-root periodic Hann window of ``2 * hop`` samples. Shape: ``[2 * hop]`` float32."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop))
    return np.sqrt(hann).astype(np.float32)


def stft(signal: np.ndarray, hop: int = MODEL_HOP) -> np.ndarray:
    """Short-time spectra of ``signal``, edges reflected.

    Shape: ``[C, T]`` -> ``[C, F, hop + 1]`` complex64 with ``F = frame_count(T, hop)``.
    """
    signal = np.ascontiguousarray(signal, np.float32)  # equal inputs, equal spectra, bit for bit
    length = signal.shape[-1]
    frames = frame_count(length, hop)
    right = (frames + 1) * hop - length - hop
    mode = 'reflect' if length > hop else 'constant'
    padded = np.pad(signal, ((0, 0), (hop, right)), mode=mode)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * hop, axis=-1)[:, ::hop]
    return np.fft.rfft(windows * window(hop), axis=-1).astype(np.complex64)


def istft(spectra: np.ndarray, length: int, hop: int = MODEL_HOP) -> np.ndarray:
    """The signal whose :func:`stft` is ``spectra`` (weighted overlap-add).

    Shape: ``[C, F, hop + 1]`` -> ``[C, length]`` float32.
    """
    channels, frames = spectra.shape[:2]
    pieces = np.fft.irfft(spectra, n=2 * hop, axis=-1) * window(hop)  # [C, F, 2 * hop]
    padded = np.zeros((channels, frames + 1, hop), np.float32)
    padded[:, :frames] += pieces[..., :hop]
    padded[:, 1:] += pieces[..., hop:]
    return padded.reshape(channels, -1)[:, hop:hop + length]
