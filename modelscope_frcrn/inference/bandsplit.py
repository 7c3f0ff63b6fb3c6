"""Full-band output for inputs above 16 kHz: the model cleans below 8 kHz, the band above
is kept and cleaned with a gain that follows what the model did below it.

At the input rate ``r``, with ``down``/``up`` the resamplers to 16 kHz and back,
the input ``x`` is split into ``low = up(down(x))`` (exactly what the model path
sees) and ``high = x - low``, so the two bands sum to ``x`` by construction and
their crossover is soxr's own anti-aliasing filter. The output is::

    up(enhanced) + g * high  =  x + up(enhanced - down(x)) + (g - 1) * high

where ``g`` is a time-varying gain on the whole upper band: per 20 ms frame of the
model's grid, the square root of the ratio of enhanced to noisy power, smoothed
over 5 frames, taken over the model's whole band and over its top octave
(4-8 kHz), whichever attenuates more, at most 1 and at least a floor,
interpolated from frame to frame. Where the model keeps a frame, the air of the
voice is kept; where it removes noise, the noise above 8 kHz goes with it, at
least as far as the model took it down below 8 kHz (the top octave alone is not
enough: on resampled white noise the shipped model takes 23 dB off 0-4 kHz but
only 6 dB off 4-8 kHz, whose top is already cut by the resampler).

The model's change and ``g - 1`` are computed chunk by chunk inside the
:class:`~modelscope_frcrn.inference.chunking.OverlapChunker` and cross-faded
with the audio; the change is brought to ``r`` in one soxr stream with
``down(x)``, ``g - 1`` by linear interpolation, so the bands stay aligned to
the sample and memory stays bounded. With a network that changes nothing, the
output is the input, bit for bit.
"""
from typing import Optional

import numpy as np
from scipy.ndimage import convolve1d

from ..audio import MODEL_SAMPLE_RATE
from ..audio.stages import Chain, Map, SampleQueue, Stage, joined
from ..audio.streams import Resampler
from ..errors import UsageError
from .backends import Enhancer
from .spectra import MODEL_HOP, stft

#: ``bandwidth`` values: the input's own band, or the model's (below 8 kHz; resampled back).
FULL, MODEL = 'full', 'model'
BANDWIDTHS = (FULL, MODEL)
#: The bands whose enhanced-to-noisy ratio sets the gain above 8 kHz (Hz): the lowest wins.
REFERENCE_BANDS = ((0.0, 8000.0), (4000.0, 8000.0))
#: The most the upper band is attenuated without an attenuation limit (the shipped
#: model takes about 25 dB off white noise; the floor must stay below that).
GAIN_FLOOR_DB = 40.0
#: Weights of neighbouring frames in the smoothed band powers (+-40 ms).
SMOOTHING = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
#: Power (at the model's input level) below which a frame counts as silent: gain 1.
_SILENT_POWER = 1e-10

def applies(bandwidth: str, input_rate: int, output_rate: int) -> bool:
    """Whether full-band processing has a band to keep: both rates above 16 kHz."""
    if bandwidth not in BANDWIDTHS:
        raise UsageError(f"unknown bandwidth {bandwidth!r}; expected 'full' or 'model'")
    return bandwidth == FULL and min(input_rate, output_rate) > MODEL_SAMPLE_RATE


def gain_floor(attenuation_floor: float) -> float:
    """The upper band's lowest gain: the attenuation limit's floor, or ``GAIN_FLOOR_DB``."""
    return max(attenuation_floor, 10.0 ** (-GAIN_FLOOR_DB / 20.0))


def high_band_gain(noisy: np.ndarray, enhanced: np.ndarray, floor: float,
                   hop: int = MODEL_HOP) -> np.ndarray:
    """The gain for the band above 8 kHz, per 16 kHz sample.

    Shape: ``[C, T]`` noisy and enhanced at 16 kHz -> ``[C, T]`` float32 in ``[floor, 1]``.
    """
    before, after = (np.abs(stft(signal, hop)) ** 2 for signal in (noisy, enhanced))
    ratio = np.min([_band_ratio(before, after, band, hop) for band in REFERENCE_BANDS], axis=0)
    frame_gain = np.clip(np.sqrt(ratio), floor, 1.0)  # [C, F]
    centres = np.arange(frame_gain.shape[-1]) * hop
    samples = np.arange(noisy.shape[-1])
    return np.stack([np.interp(samples, centres, row) for row in frame_gain]).astype(np.float32)


def _band_ratio(before: np.ndarray, after: np.ndarray, band, hop: int) -> np.ndarray:
    """Smoothed enhanced-to-noisy power ratio over ``band`` (Hz) per frame; 1 in silence.

    Shape: ``[C, F, hop + 1]`` power spectra -> ``[C, F]``.
    """
    low, high = (round(edge * 2 * hop / MODEL_SAMPLE_RATE) for edge in band)
    smoothed = [convolve1d(np.sum(power[..., low:high + 1], axis=-1), SMOOTHING, axis=-1,
                           mode='nearest') for power in (before, after)]
    return (smoothed[1] + _SILENT_POWER) / (smoothed[0] + _SILENT_POWER)


class BandGainEnhancer:
    """Wraps an enhancer so that each chunk also reports its input and the upper band's gain.

    Args:
        enhance: the network at 16 kHz, ``[C, T] -> [C, T]``.
        floor: the upper band's lowest gain (:func:`gain_floor`).

    Shape: ``[C, T]`` -> ``[3C, T]``: the enhanced chunk, the noisy chunk, and ``g - 1``
    (0 where the upper band is kept as it is), in that order (see :func:`rows`).
    """

    def __init__(self, enhance: Enhancer, floor: float):
        self.enhance, self.floor = enhance, floor

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        enhanced = self.enhance(noisy)
        gain = high_band_gain(noisy, enhanced, self.floor)
        return np.concatenate([enhanced, noisy, gain - 1.0], axis=0)


def rows(stacked: np.ndarray):
    """``(enhanced, noisy, gain - 1)`` of a :class:`BandGainEnhancer` output, ``[C, n]`` each."""
    return np.split(stacked, 3, axis=0)


def level_gains(gain: np.ndarray) -> np.ndarray:
    """What to divide each stacked row by to undo the input level ``gain`` ``[C, 1]``:
    the audio rows are scaled, the gain rows are not. Shape: ``[3C, 1]``."""
    return np.concatenate([gain, gain, np.ones_like(gain)], axis=0)


class FullBand:
    """A :class:`~modelscope_frcrn.audio.stages.Stage` that denoises a stream at
    ``sample_rate`` with the model below 8 kHz and a gain above.

    Args:
        sample_rate: the input's rate (above 16 kHz).
        enhance_stacked: a stage running the (chunked) :class:`BandGainEnhancer` over
            16 kHz blocks and giving its rows back at the input's level.
        floor: the upper band's lowest gain.

    Shape: ``[C, n]`` blocks in -> ``[C, m]`` blocks out, about as many samples in total
    (resampling can add or drop one).
    """

    def __init__(self, sample_rate: int, enhance_stacked: Stage, floor: float):
        self.floor = floor
        self._source, self._gains = SampleQueue(), _GainTrack(sample_rate)
        self._model_path = Chain([Resampler(sample_rate, MODEL_SAMPLE_RATE), enhance_stacked,
                                  Map(self._gains.split), Resampler(MODEL_SAMPLE_RATE, sample_rate)])

    def push(self, block: np.ndarray) -> np.ndarray:
        self._source.put(block)
        return self._combine(self._model_path.push(block))

    def finish(self) -> np.ndarray:
        done = self._combine(self._model_path.finish())
        return joined([done, self._source.rest()], done.shape[0])

    def _combine(self, block: np.ndarray) -> np.ndarray:
        """The output for the model path's ``[enhanced - noisy; noisy]`` rows at the input
        rate. Shape: ``[2C, n]`` -> ``[C, n]``."""
        count = block.shape[-1]
        if not count:
            return np.zeros((self._source.channels, 0), np.float32)
        change, low = np.split(block, 2, axis=0)
        original = self._source.take(count)
        gain_change = np.clip(self._gains.take(count), self.floor - 1.0, 0.0)
        return original + change + gain_change * (original - low)


class _GainTrack:
    """Keeps the ``g - 1`` rows of the stacked stream and reads them at the input rate by
    linear interpolation (the gain is smooth; soxr would ring at the stream's ends)."""

    def __init__(self, sample_rate: int):
        self.ratio = MODEL_SAMPLE_RATE / sample_rate
        self._kept: Optional[np.ndarray] = None  # [C, n] at 16 kHz, from 16 kHz sample _start
        self._start, self._position = 0, 0  # _position: next input-rate sample to read

    def split(self, stacked: np.ndarray) -> np.ndarray:
        """Keep a stacked block's gain rows; give back ``[enhanced - noisy; noisy]``.

        Shape: ``[3C, n]`` -> ``[2C, n]``.
        """
        enhanced, noisy, gain_change = rows(stacked)
        self._kept = gain_change if self._kept is None else \
            np.concatenate([self._kept, gain_change], axis=1)
        return np.concatenate([enhanced - noisy, noisy], axis=0)

    def take(self, count: int) -> np.ndarray:
        """``g - 1`` at the next ``count`` input-rate samples. Shape: ``[C, count]``."""
        kept = self._kept
        wanted = (self._position + np.arange(count)) * self.ratio - self._start
        self._position += count
        values = np.stack([np.interp(wanted, np.arange(kept.shape[-1]), row) for row in kept])
        done = max(0, int(wanted[-1]) - 1) if count else 0
        self._kept, self._start = kept[:, done:], self._start + done
        return values.astype(np.float32)
