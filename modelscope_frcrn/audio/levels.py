"""Level handling around the network: normalise in, restore out, convert to int16 safely."""
from typing import Iterable

import numpy as np

#: The network sees speech at this RMS level (dBFS), as in the official pipeline.
MODEL_INPUT_DBFS = -25.0
#: Below this RMS a signal is treated as digital silence and not normalised.
SILENCE_RMS = 1e-9


def rms(samples: np.ndarray) -> np.ndarray:
    """Root mean square per channel. Shape: ``[C, T]`` -> ``[C, 1]``."""
    return np.sqrt(np.mean(np.square(samples, dtype=np.float64), axis=-1, keepdims=True))


def rms_of_blocks(blocks: Iterable[np.ndarray], frames: int) -> np.ndarray:
    """:func:`rms` of a stream of ``[C, n]`` blocks holding ``frames`` samples in all."""
    total = sum(np.sum(np.square(block, dtype=np.float64), axis=-1, keepdims=True)
                for block in blocks)
    return np.sqrt(total / frames)


def normalising_gain(samples: np.ndarray, target_dbfs: float = MODEL_INPUT_DBFS) -> np.ndarray:
    """Per-channel gain that brings each channel to ``target_dbfs`` RMS; 1 for silent channels.

    Shape: ``[C, T]`` -> ``[C, 1]``. Dividing the output by this gain restores the input level.
    """
    return gain_for_level(rms(samples), target_dbfs)


def gain_for_level(level: np.ndarray, target_dbfs: float = MODEL_INPUT_DBFS) -> np.ndarray:
    """The gain that takes RMS ``level`` to ``target_dbfs`` (1 where ``level`` is silence)."""
    target = 10.0 ** (target_dbfs / 20.0)
    return np.where(level > SILENCE_RMS, target / np.maximum(level, SILENCE_RMS), 1.0)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, clipping instead of wrapping around."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
