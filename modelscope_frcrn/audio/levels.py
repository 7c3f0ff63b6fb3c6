"""Level handling around the network: normalise in, restore out, convert to int16 safely."""
import math
from typing import Iterable, Optional

import numpy as np
import scipy.signal

from .stages import SampleQueue

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


class FixedLevel:
    """One gain per channel for a whole recording, ``[C, 1]`` (the file path's: from its RMS).

    :meth:`apply` scales the network's input; :meth:`gains` is what to divide its output by.
    """

    def __init__(self, gain: np.ndarray):
        self.gain = gain

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Shape: ``[C, n]`` -> ``[C, n]``."""
        return block * self.gain

    def gains(self, count: int) -> np.ndarray:
        """The gain the next ``count`` output samples were scaled by. Shape: ``[C, 1]``."""
        return self.gain


class RunningLevel:
    """A causal level normaliser for streams, whose whole RMS is not known in advance.

    Each sample's gain takes the signal to ``target_dbfs`` by the RMS measured so far,
    weighted by ``exp(-age / time_constant)`` (the weights renormalised, so the first
    seconds use a plain running mean instead of assuming silence before the start);
    channels are measured separately, and silence keeps a gain of 1. :meth:`apply` scales
    blocks as they arrive (at ``sample_rate``) and keeps their gains until :meth:`gains`
    hands them out for the corresponding output samples, so what is taken away is at most
    the network's delay.
    """

    def __init__(self, sample_rate: int, time_constant: float,
                 target_dbfs: float = MODEL_INPUT_DBFS):
        self.decay = math.exp(-1.0 / (time_constant * sample_rate))
        self.target_dbfs = target_dbfs
        self._power_state: Optional[np.ndarray] = None  # [C, 1] filter state, float64
        self._seen = 0
        self._pending = SampleQueue()

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Shape: ``[C, n]`` -> ``[C, n]``."""
        gain = gain_for_level(np.sqrt(self._running_power(block)), self.target_dbfs)
        gain = gain.astype(np.float32)
        self._pending.put(gain)
        return block * gain

    def gains(self, count: int) -> np.ndarray:
        """The gains of the next ``count`` samples :meth:`apply` scaled. Shape: ``[C, count]``."""
        return self._pending.take(count)

    def _running_power(self, block: np.ndarray) -> np.ndarray:
        """The weighted mean square up to each sample. Shape: ``[C, n]`` -> ``[C, n]``."""
        if self._power_state is None:
            self._power_state = np.zeros((block.shape[0], 1))
        decay = self.decay
        power, self._power_state = scipy.signal.lfilter(
            [1.0 - decay], [1.0, -decay], np.square(block, dtype=np.float64), axis=-1,
            zi=self._power_state)
        counts = self._seen + 1 + np.arange(block.shape[-1])
        self._seen += block.shape[-1]
        return power / -np.expm1(counts * math.log(decay))
