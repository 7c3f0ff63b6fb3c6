"""Full-band output for inputs above 16 kHz: the model cleans below 8 kHz, the band above
is kept and cleaned with a gain per time-frequency bin that follows what the model did.

At the input rate ``r``, with ``down``/``up`` the resamplers to 16 kHz and back,
the input ``x`` is split into ``low = up(down(x))`` (exactly what the model path
sees) and ``high = x - low``, so the two bands sum to ``x`` by construction and
their crossover is soxr's own anti-aliasing filter. The output is::

    up(enhanced) + G(high)  =  x + up(enhanced - down(x)) + (G - 1)(high)

where ``G`` is a gain per bin of ``high``'s own STFT at ``r`` (5 ms hop, 10 ms
window: :class:`UpperBandCleaner`), built from what the model did:

- its *frame gain* ``g``: per 20 ms frame of the model's grid, the square root
  of the ratio of enhanced to noisy power, smoothed over 5 frames, over the
  model's whole band and over its top octave (4-8 kHz), whichever attenuates
  more (:func:`frame_gain`; the top octave alone is not enough: on resampled
  white noise the shipped model takes 23 dB off 0-4 kHz but only 6 dB off
  4-8 kHz, whose top the resampler has already cut). It says where the model
  heard only noise;
- a *noise estimate per bin* of ``high`` itself that rises only in the frames
  the model calls noise and falls wherever the band is quieter
  (:class:`UpperBandGain`), and from it a Wiener gain with the decision-directed
  a-priori SNR (Ephraim and Malah; smooth from frame to frame, so no musical
  noise): a bin keeps what stands above the upper band's own noise.

``G = min(1, max(wiener, g ** 1.5))``, never below the attenuation limit's floor:
where the model removed noise, the upper band's noise goes down at least as far
(further, by half as many dB again), and what stands above it stays. In frames the
model calls noise, a bin whose smoothed power does not stand above the noise
estimate is also held to at most ``g``: the Wiener gain alone lets single-bin
peaks of steady noise through (about -30 dB on white noise, which a strong model
beats below 8 kHz: the default model since 2026-12-02 takes 41 dB off it).

The figures below were measured with the first default model, before that
ceiling and before the noise estimate's settling time (``SETTLING_SECONDS``).

Why per bin (``benchmarks/fullband.py``: 12 mixtures of real 44.1 kHz speech and
full-band game noise at 0-15 dB SNR, high-band SNR against the clean speech): the
earlier gain, ``g`` for the whole upper band, also took the air of the voice down
in frames where the model removed loud low-frequency noise: 4.4 dB, against
14.5 dB for the untouched noisy band; this one gives 12.7 dB (DeepFilterNet3 at
48 kHz: 12.4), as good as the untouched band or better on 10 of the 12; the
mean falls short of it through the one whose upper band is almost noise-free
(53.7 dB), where the model took parts of the voice for noise (13.5 dB). Clean
speech keeps its upper band (-0.0 dB; -0.8 before), white noise loses more above
8 kHz than below (15.0 against 10.2 dB; 10.1 against 10.1 before), and the 16 kHz
part is the model's (WB-PESQ 1.510 against 1.512 for ``model``). Measured
alternatives, same mixtures: a noise estimate that may rise on the voice (no
``RISE_LIMIT``), 7.2 dB; one that never falls in speech, 10.6 dB; the bound ``g``
(not ``g ** 1.5``), 12.9 dB, but white noise then loses as much above 8 kHz as below
(10.1/10.1), no margin; ``g ** 2``, 12.7 dB with 19.7 against 10.3 dB; the -40 dB
floor alone, 12.3 dB with 27.2 against 10.3 dB (a dull residual noise).

The model's change and ``g - 1`` are computed chunk by chunk inside the
:class:`~modelscope_frcrn.inference.chunking.OverlapChunker` and cross-faded
with the audio; the change is brought to ``r`` in one soxr stream with
``down(x)``, ``g - 1`` by linear interpolation, so the bands stay aligned to the
sample; the upper band's STFT runs frame by frame after them, so memory stays
bounded. With a network that changes nothing, ``g = 1``, no frame counts as
noise, ``G = 1`` and the output is the input, bit for bit.
"""
from typing import Optional

import numpy as np
from scipy.ndimage import convolve1d

from ..audio import MODEL_SAMPLE_RATE
from ..audio.stages import Chain, Map, SampleQueue, Stage, joined
from ..audio.streams import Resampler
from ..errors import UsageError
from .backends import Enhancer
from .spectra import MODEL_HOP, stft, window
from .strength import limit_attenuation

#: ``bandwidth`` values: the input's own band, or the model's (below 8 kHz; resampled back).
FULL, MODEL = 'full', 'model'
BANDWIDTHS = (FULL, MODEL)
#: The bands whose enhanced-to-noisy ratio sets the frame gain (Hz): the lowest wins.
REFERENCE_BANDS = ((0.0, 8000.0), (4000.0, 8000.0))
#: The most the upper band is attenuated without an attenuation limit (the shipped
#: model takes about 41 dB off white noise; the floor must stay below that).
GAIN_FLOOR_DB = 60.0
#: Weights of neighbouring frames in the frame gain's band powers (+-40 ms), and of
#: neighbouring bins in the power behind the upper band's noise estimate.
SMOOTHING = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
#: Power (at the model's input level) below which a frame counts as silent: gain 1.
_SILENT_POWER = 1e-10
#: Hop of the upper band's STFT in seconds; its window is two hops.
UPPER_HOP_SECONDS = 0.005
#: Time constant of the upper band's noise estimate, in seconds of frames the model calls noise.
NOISE_SECONDS = 0.3
#: Seconds of frames the model calls noise over which the noise estimate is a plain mean that
#: may rise anywhere: one frame's bins (the first half zeros) can start it far too low, and
#: the rise limit would then keep it there.
SETTLING_SECONDS = 0.05
#: Weight of the last frame's clean estimate in the decision-directed a-priori SNR.
DECISION_DIRECTED = 0.98
#: Frame gains (dB of power) at or below which the model heard only noise, and at or
#: above which it heard speech; the noise estimate weighs frames linearly in between.
NOISE_FRAME_DB, SPEECH_FRAME_DB = -18.0, -6.0
#: Time constant of the power behind the noise estimate (one hop), in seconds.
SMOOTHING_SECONDS = 0.005
#: A bin this many times (10 dB) above its noise estimate does not raise it.
RISE_LIMIT = 10.0
#: The upper band keeps at least the frame gain to this power: 1.5 times the model's
#: attenuation in dB, so that noise loses more above 8 kHz than below (see above).
BOUND_POWER = 1.5


def applies(bandwidth: str, input_rate: int, output_rate: int) -> bool:
    """Whether full-band processing has a band to keep: both rates above 16 kHz."""
    if bandwidth not in BANDWIDTHS:
        raise UsageError(f"unknown bandwidth {bandwidth!r}; expected 'full' or 'model'")
    return bandwidth == FULL and min(input_rate, output_rate) > MODEL_SAMPLE_RATE


def gain_floor(attenuation_floor: float) -> float:
    """The upper band's lowest gain: the attenuation limit's floor, or ``GAIN_FLOOR_DB``."""
    return max(attenuation_floor, 10.0 ** (-GAIN_FLOOR_DB / 20.0))


def upper_hop(sample_rate: int) -> int:
    """The upper band's STFT hop at ``sample_rate``, in samples."""
    return round(UPPER_HOP_SECONDS * sample_rate)


def upper_lag(sample_rate: int) -> int:
    """The most samples :class:`UpperBandCleaner` holds back: its window less one."""
    return 2 * upper_hop(sample_rate) - 1


def frame_gain(noisy: np.ndarray, enhanced: np.ndarray, floor: float,
               hop: int = MODEL_HOP) -> np.ndarray:
    """What the model did to each frame, as an amplitude gain per 16 kHz sample.

    Shape: ``[C, T]`` noisy and enhanced at 16 kHz -> ``[C, T]`` float32 in ``[floor, 1]``.
    """
    before, after = (np.abs(stft(signal, hop)) ** 2 for signal in (noisy, enhanced))
    ratio = np.min([_band_ratio(before, after, band, hop) for band in REFERENCE_BANDS], axis=0)
    gains = np.clip(np.sqrt(ratio), floor, 1.0)  # [C, F]
    centres = np.arange(gains.shape[-1]) * hop
    samples = np.arange(noisy.shape[-1])
    return np.stack([np.interp(samples, centres, row) for row in gains]).astype(np.float32)


def _band_ratio(before: np.ndarray, after: np.ndarray, band, hop: int) -> np.ndarray:
    """Smoothed enhanced-to-noisy power ratio over ``band`` (Hz) per frame; 1 in silence.

    Shape: ``[C, F, hop + 1]`` power spectra -> ``[C, F]``.
    """
    low, high = (round(edge * 2 * hop / MODEL_SAMPLE_RATE) for edge in band)
    smoothed = [convolve1d(np.sum(power[..., low:high + 1], axis=-1), SMOOTHING, axis=-1,
                           mode='nearest') for power in (before, after)]
    return (smoothed[1] + _SILENT_POWER) / (smoothed[0] + _SILENT_POWER)


def noise_weight(gain: np.ndarray) -> np.ndarray:
    """How much a frame with frame gain ``gain`` counts as noise: 0 (speech) to 1."""
    power_db = 20.0 * np.log10(np.maximum(gain, 1e-10))
    return np.clip((SPEECH_FRAME_DB - power_db) / (SPEECH_FRAME_DB - NOISE_FRAME_DB), 0.0, 1.0)


class BandGainEnhancer:
    """Wraps an enhancer so that each chunk also reports its input and the frame gain.

    Args:
        enhance: the network at 16 kHz, ``[C, T] -> [C, T]``.
        attenuation_floor: the attenuation limit's floor
            (:func:`~modelscope_frcrn.inference.strength.attenuation_floor`), applied to the
            enhanced chunk; the frame gain is the model's own output's, so that where the
            upper band's noise is learned does not depend on the limit.

    Shape: ``[C, T]`` -> ``[3C, T]``: the enhanced chunk (held to the limit), the noisy
    chunk, and ``g - 1`` (``g``: :func:`frame_gain`), in that order (see :func:`rows`).
    """

    def __init__(self, enhance: Enhancer, attenuation_floor: float):
        self.enhance, self.attenuation_floor = enhance, attenuation_floor

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        enhanced = self.enhance(noisy)
        gain = frame_gain(noisy, enhanced, gain_floor(0.0))
        limited = limit_attenuation(noisy, enhanced, self.attenuation_floor)
        return np.concatenate([limited, noisy, gain - 1.0], axis=0)


def rows(stacked: np.ndarray):
    """``(enhanced, noisy, gain - 1)`` of a :class:`BandGainEnhancer` output, ``[C, n]`` each."""
    return np.split(stacked, 3, axis=0)


def level_gains(gain: np.ndarray) -> np.ndarray:
    """What to divide each stacked row by to undo the input level ``gain`` ``[C, 1]``:
    the audio rows are scaled, the gain rows are not. Shape: ``[3C, 1]``."""
    return np.concatenate([gain, gain, np.ones_like(gain)], axis=0)


class UpperBandGain:
    """The upper band's gain per bin, one STFT frame at a time (see the module's docstring).

    Each bin's noise estimate is a running mean of its power (time constant
    ``NOISE_SECONDS``; a plain mean over the first noise frames) that rises only in
    frames the model calls noise, as far as it does (:func:`noise_weight`), and not
    where the bin stands ``RISE_LIMIT`` above it (speech the model took for noise),
    but falls in any frame where the bin is below it (a stale estimate would eat the
    voice). Where there is no estimate yet, the band is kept.

    Args:
        hop_seconds: the STFT's hop, for the time constant.
        floor: the lowest gain.
    """

    def __init__(self, hop_seconds: float, floor: float):
        self.longest = 1.0 / (1.0 - float(np.exp(-hop_seconds / NOISE_SECONDS)))  # frames
        self.settling = max(1.0, SETTLING_SECONDS / hop_seconds)  # frames
        self.recent = float(np.exp(-hop_seconds / SMOOTHING_SECONDS))
        self.floor = floor
        self._power: Optional[np.ndarray] = None  # [C, K]: the smoothed power
        self._weight: Optional[np.ndarray] = None  # [C, 1]: the noise weights so far
        self._noise: Optional[np.ndarray] = None  # [C, K]
        self._clean: Optional[np.ndarray] = None  # [C, K]: the last frame's wiener ** 2 * power

    def __call__(self, power: np.ndarray, gain: np.ndarray) -> np.ndarray:
        """Shape: ``[C, K]`` power of one frame, ``[C, 1]`` its frame gain -> ``[C, K]``
        in ``[max(floor, gain ** BOUND_POWER), 1]``, at most ``gain`` (in frames of noise)
        where the bin does not stand out of the noise."""
        if self._noise is None:
            self._noise, self._clean = np.zeros_like(power), np.zeros_like(power)
            self._weight = np.zeros_like(gain, dtype=np.float64)
        weight = noise_weight(gain)
        self._track_noise(power, weight)
        known = self._noise > 0.0
        noise = np.where(known, self._noise, 1.0)
        prior = DECISION_DIRECTED * self._clean / noise \
            + (1.0 - DECISION_DIRECTED) * np.maximum(power / noise - 1.0, 0.0)
        wiener = np.where(known, prior / (1.0 + prior), 1.0)
        self._clean = wiener ** 2 * power
        # the Wiener gain alone stops near -30 dB on steady noise (see the module docstring)
        stands_out = ~known | (self._power >= RISE_LIMIT * noise)
        ceiling = np.where(stands_out, 1.0, gain ** weight)
        return np.clip(np.minimum(np.maximum(wiener, gain ** BOUND_POWER), ceiling), self.floor, 1.0)

    def _track_noise(self, power: np.ndarray, weight: np.ndarray) -> None:
        """Shape: ``[C, K]`` power, ``[C, 1]`` the frame's noise weight."""
        smoothed = self._smoothed(power)
        established = self._weight >= self.settling  # [C, 1]: enough noise frames seen
        rises = weight * (~established | (smoothed < RISE_LIMIT * self._noise))
        falls = (self._noise > 0.0) & (smoothed < self._noise)
        steps = np.where(falls, 1.0, rises)
        self._weight = self._weight + weight
        span = np.clip(self._weight, 1.0, self.longest)
        self._noise = self._noise + steps / span * (smoothed - self._noise)

    def _smoothed(self, power: np.ndarray) -> np.ndarray:
        """The power averaged over neighbouring bins and recent frames, far steadier than
        one bin's: the noise estimate's input. Shape: ``[C, K]`` -> ``[C, K]``."""
        across = convolve1d(power, SMOOTHING, axis=-1, mode='nearest')
        if self._power is None:
            self._power = across
        self._power = self.recent * self._power + (1.0 - self.recent) * across
        return self._power


class UpperBandCleaner:
    """A :class:`~modelscope_frcrn.audio.stages.Stage` giving ``(G - 1)(high)``: the upper
    band's STFT (sqrt-Hann window of two hops, frame ``k`` centred on sample ``k * hop``
    of the stream, zeros before it), :class:`UpperBandGain` less one per bin, overlap-added.

    Args:
        sample_rate: the stream's rate.
        floor: the lowest gain.

    Shape: ``[2C, n]`` blocks of ``[high; g - 1]`` (``g``: the frame gain at each sample)
    -> ``[C, m]``; after ``N`` samples in, at least ``N - upper_lag`` are out, all ``N``
    once finished.
    """

    def __init__(self, sample_rate: int, floor: float):
        self.hop = upper_hop(sample_rate)
        self.window = window(self.hop)
        self._gain = UpperBandGain(self.hop / sample_rate, floor)
        self._buffer: Optional[np.ndarray] = None  # [2C, n] from the next frame's start
        self._tail: Optional[np.ndarray] = None  # [C, hop]: the last frame's second half
        self._skip, self._pushed, self._given = self.hop, 0, 0  # _skip: the zeros before the start

    def push(self, block: np.ndarray) -> np.ndarray:
        self._pushed += block.shape[-1]
        if self._buffer is None:
            self._buffer = np.zeros((block.shape[0], self.hop), np.float32)
            self._tail = np.zeros((block.shape[0] // 2, self.hop), np.float32)
        buffer = np.concatenate([self._buffer, block], axis=1)
        frames = (buffer.shape[-1] - self.hop) // self.hop  # the buffer holds a hop at least
        self._buffer = buffer[:, frames * self.hop:]
        return self._emit(self._frames(buffer, frames))

    def finish(self) -> np.ndarray:
        if self._buffer is None:
            return np.zeros((1, 0), np.float32)
        length = self._buffer.shape[-1]
        padded = np.pad(self._buffer, ((0, 0), (0, -length % self.hop + self.hop)))
        self._buffer = None
        return self._emit(self._frames(padded, padded.shape[-1] // self.hop - 1))

    def _frames(self, buffer: np.ndarray, count: int) -> np.ndarray:
        """The corrections of the first ``count`` frames of ``buffer``, overlap-added: the
        samples from the first frame's start to the last frame's centre.

        Shape: ``[2C, n]`` -> ``[C, count * hop]``.
        """
        hop, channels = self.hop, buffer.shape[0] // 2
        if not count:
            return np.zeros((channels, 0), np.float32)
        high, gain_change = np.split(buffer[:, :(count + 1) * hop], 2, axis=0)
        windows = np.lib.stride_tricks.sliding_window_view(high, 2 * hop, axis=-1)[:, ::hop]
        spectra = np.fft.rfft(windows * self.window, axis=-1)  # [C, count, hop + 1]
        power = spectra.real.astype(np.float64) ** 2 + spectra.imag.astype(np.float64) ** 2
        gains = 1.0 + gain_change[:, hop:count * hop + 1:hop]  # at the frames' centres
        changes = np.stack([self._gain(power[:, k], gains[:, k, None]) - 1.0
                            for k in range(count)], axis=1)
        pieces = (np.fft.irfft(changes * spectra, n=2 * hop, axis=-1) * self.window
                  ).astype(np.float32)
        # summed in float32 throughout, so that how the stream came in blocks changes nothing
        added = np.zeros((channels, count + 1, hop), np.float32)
        added[:, 0] += self._tail
        added[:, :count] += pieces[..., :hop]
        added[:, 1:] += pieces[..., hop:]
        self._tail = added[:, count]
        return added[:, :count].reshape(channels, -1)

    def _emit(self, corrections: np.ndarray) -> np.ndarray:
        """``corrections`` less the half frame before the stream's start and anything past
        its end. Shape: ``[C, n]`` -> ``[C, m]``."""
        skip = min(self._skip, corrections.shape[-1])
        self._skip -= skip
        kept = corrections[:, skip:skip + self._pushed - self._given]
        self._given += kept.shape[-1]
        return kept


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
        self._source, self._direct = SampleQueue(), SampleQueue()
        self._gains = _GainTrack(sample_rate)
        self._cleaner = UpperBandCleaner(sample_rate, floor)
        self._model_path = Chain([Resampler(sample_rate, MODEL_SAMPLE_RATE), enhance_stacked,
                                  Map(self._gains.split), Resampler(MODEL_SAMPLE_RATE, sample_rate)])

    def push(self, block: np.ndarray) -> np.ndarray:
        self._source.put(block)
        return self._combine(self._model_path.push(block))

    def finish(self) -> np.ndarray:
        done = self._combine(self._model_path.finish())
        corrections = self._cleaner.finish()
        rest = self._direct.take(corrections.shape[-1]) + corrections
        return joined([done, rest, self._source.rest()], done.shape[0])

    def _combine(self, block: np.ndarray) -> np.ndarray:
        """The output for the model path's ``[enhanced - noisy; noisy]`` rows at the input
        rate, as far as the upper band's STFT has got. Shape: ``[2C, n]`` -> ``[C, m]``."""
        count = block.shape[-1]
        if not count:
            return np.zeros((self._source.channels, 0), np.float32)
        change, low = np.split(block, 2, axis=0)
        original = self._source.take(count)
        self._direct.put(original + change)
        corrections = self._cleaner.push(
            np.concatenate([original - low, self._gains.take(count)], axis=0))
        return self._direct.take(corrections.shape[-1]) + corrections


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
