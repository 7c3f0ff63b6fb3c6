"""Denoising a live stream: blocks of any size in, the enhanced audio out a fixed delay later.

FRCRN is an offline network (40 ms window, SE blocks pooling over their whole
input, a decoder that looks ahead), so a stream is enhanced in short cross-faded
chunks: the same :class:`~modelscope_frcrn.inference.denoiser.Denoiser` stage as
files, pushed block by block instead of looped over a file. The price is a delay,
:attr:`StreamDenoiser.latency`: a chunk's first sample waits for the chunk to fill,
and at rates other than 16 kHz soxr's resamplers hold some samples back.

Convention: every :meth:`~StreamDenoiser.process` call returns as many samples as it
was given; the output is the file path's output delayed by exactly ``latency``
samples (zeros before it), and :meth:`~StreamDenoiser.flush` returns the last
``latency`` samples, so ``out[latency:latency + N] == file_output[:N]`` for a
stream of ``N`` samples.
"""
import math
from typing import Optional, Union

import numpy as np

from ..audio import MODEL_SAMPLE_RATE
from ..audio.io import MAX_CHANNELS, samples_from_array, check_sample_rate
from ..audio.levels import FixedLevel, RunningLevel
from ..audio.stages import Chain, SampleQueue
from ..errors import AudioInputError, AudioLayoutError, UsageError
from . import bandsplit
from .backends import Enhancer
from .bandsplit import FULL
from .denoiser import Denoiser

DEFAULT_LATENCY_SECONDS = 0.5
#: Overlap of neighbouring chunks, as a share of the chunk (rounded up to whole hops).
OVERLAP_SHARE = 0.25
#: The shortest chunk, in STFT hops (80 ms): shorter ones leave the network too little context.
MIN_CHUNK_HOPS = 4
#: Time constant of the running level normaliser, in seconds (see :class:`RunningLevel`).
LEVEL_TIME_CONSTANT = 5.0


class StreamDenoiser:
    """Denoise a stream as it arrives (microphone, pipe, network), with a stated delay.

    Args:
        enhance: the network at 16 kHz, ``[C, T] -> [C, T]`` (see :meth:`from_model`).
        sample_rate: the stream's rate in Hz; the output has the same rate.
        channels: the stream's channel count; each is enhanced separately.
        latency_seconds: the most delay allowed; the longest chunk that fits is used
            (longer chunks sound better). :attr:`latency` is the delay in samples.
        bandwidth: ``'full'`` keeps and cleans the band above 8 kHz of streams above
            16 kHz; ``'model'`` gives the model's band only.
        atten_limit_db: the most any part of the signal is attenuated (None: no limit).
        mono: mix the enhanced channels down to one.
        gain: a fixed per-channel gain to the network's level (a number or ``[C]``), as
            the file path takes from the whole recording; None (default) measures the
            level as it goes (:class:`RunningLevel`, time constant ``level_time_constant``).
        level_time_constant: seconds of the running level normaliser.
        hop: the network's STFT hop; chunks are whole numbers of hops.

    Blocks are ``[n]`` (one channel) or ``[n, C]`` (time first, as soundfile and
    sounddevice give them), floats in [-1, 1] or integers (int16 is divided by 32768);
    outputs are float32 with the same layout. Memory stays bounded whatever the length.

    Raises:
        UsageError: ``latency_seconds`` below what the model needs at this rate (the
            message gives the least), an unknown ``bandwidth``, a negative limit.
    """

    def __init__(self, enhance: Enhancer, sample_rate: int = MODEL_SAMPLE_RATE,
                 channels: int = 1, latency_seconds: float = DEFAULT_LATENCY_SECONDS,
                 bandwidth: str = FULL, atten_limit_db: Optional[float] = None,
                 mono: bool = False, gain: Union[None, float, np.ndarray] = None,
                 level_time_constant: float = LEVEL_TIME_CONSTANT, hop: int = 320):
        check_sample_rate(sample_rate, 'the stream')
        if not 1 <= channels <= MAX_CHANNELS:
            raise AudioLayoutError(f'a stream has 1 to {MAX_CHANNELS} channels, got {channels}')
        self.sample_rate, self.channels = sample_rate, channels
        self.denoiser = _denoiser_for_latency(enhance, sample_rate, latency_seconds, hop,
                                              bandwidth)
        #: The delay of the output, in samples at ``sample_rate``.
        self.latency = self.denoiser.lag(sample_rate, bandwidth)
        self._settings = {'bandwidth': bandwidth, 'atten_limit_db': atten_limit_db, 'mono': mono}
        self._gain = None if gain is None else \
            np.broadcast_to(np.asarray(gain, np.float32).reshape(-1, 1), (channels, 1))
        self.level_time_constant = level_time_constant
        self._start()

    @classmethod
    def from_model(cls, model: Optional[str] = None, backend: str = 'torch',
                   precision: str = 'fp32', device: str = 'cpu', threads: Optional[int] = None,
                   onnx_path: Optional[str] = None, **options) -> 'StreamDenoiser':
        """A stream denoiser for ``model`` (a directory or ModelScope id; default: the
        shipped model), run as the pipeline runs it (``backend``, ``precision``,
        ``device``; ``threads``: PyTorch's CPU threads, process-wide); ``options`` go to
        the constructor."""
        from .loading import load_enhancer

        enhancer = load_enhancer(model, backend=backend, precision=precision, device=device,
                                 threads=threads, onnx_path=onnx_path)
        return cls(enhancer, **options)

    @property
    def chunk_seconds(self) -> float:
        return self.denoiser.chunker.chunk / MODEL_SAMPLE_RATE

    @property
    def overlap_seconds(self) -> float:
        return self.denoiser.chunker.overlap / MODEL_SAMPLE_RATE

    def process(self, block: np.ndarray) -> np.ndarray:
        """Take the next samples; return as many, the enhanced stream ``latency`` samples ago.

        Shape: ``[n]`` or ``[n, C]`` -> the same.
        """
        samples = self._checked(block)
        count = samples.shape[-1]
        self._ready.put(self._stage.push(samples))
        self._pushed += count
        return self._layout(self._emit(count), block)

    def flush(self) -> np.ndarray:
        """End the stream: the last ``latency`` samples (the whole output if the stream was
        shorter); the next :meth:`process` starts a new stream.

        Shape: ``[latency]`` or ``[latency, C]`` (1-D if the last block was).
        """
        self._ready.put(self._stage.finish())
        owed = self._pushed + self.latency - self._given if self._pushed else 0
        tail = self._layout(self._emit(owed, final=True), self._last_block)
        self._start()
        return tail

    def _start(self) -> None:
        level = RunningLevel(MODEL_SAMPLE_RATE, self.level_time_constant) \
            if self._gain is None else FixedLevel(self._gain)
        self._stage: Chain = self.denoiser.stage(self.sample_rate, level, self.sample_rate,
                                                 **self._settings)
        self._ready = SampleQueue(1 if self._settings['mono'] else self.channels)
        self._pushed = self._given = 0
        self._last_block = np.zeros((0, self.channels), np.float32)

    def _emit(self, count: int, final: bool = False) -> np.ndarray:
        """The next ``count`` output samples: zeros up to ``latency``, then enhanced ones
        (at the ``final`` end, zeros for a sample the resamplers' rounding may leave out).

        Shape: ``[C, count]``.
        """
        silent = min(count, max(0, self.latency - self._given))
        enhanced = count - silent
        if self._ready.size < enhanced and not final:
            raise RuntimeError(f'internal error: the stream is {enhanced - self._ready.size} '
                               f'samples behind its stated latency of {self.latency}')
        self._given += count
        return np.concatenate([np.zeros((self._ready.channels, silent), np.float32),
                               self._ready.take(enhanced)], axis=1)

    def _checked(self, block) -> np.ndarray:
        """``block`` as ``[C, n]`` float32, or an error naming what is wrong with it."""
        array = np.asarray(block)
        if array.ndim == 2 and array.shape[1] != self.channels or \
                array.ndim == 1 and self.channels != 1:
            raise AudioLayoutError(
                f'the stream has {self.channels} channels; blocks must be [n, {self.channels}] '
                f'(time first){" or [n]" if self.channels == 1 else ""}, got shape {array.shape}')
        samples = samples_from_array(array)
        if not np.isfinite(samples).all():
            raise AudioInputError(f'a block of the stream contains NaN or infinite samples '
                                  f'(at {self._pushed / self.sample_rate:.2f} s)')
        self._last_block = array
        return samples

    def _layout(self, samples: np.ndarray, like: np.ndarray) -> np.ndarray:
        """``[C, n]`` samples in the layout of the block ``like``: ``[n]`` or ``[n, C]``."""
        return samples[0] if like.ndim == 1 else np.ascontiguousarray(samples.T)


def _denoiser_for_latency(enhance: Enhancer, sample_rate: int, latency_seconds: float,
                          hop: int, bandwidth: str) -> Denoiser:
    """The denoiser with the longest chunk whose delay at ``sample_rate`` is at most
    ``latency_seconds`` (overlap: ``OVERLAP_SHARE`` of it), or :class:`UsageError`."""
    budget = latency_seconds * sample_rate
    hops = max(MIN_CHUNK_HOPS, math.floor(latency_seconds * MODEL_SAMPLE_RATE / hop) + 1)
    while True:
        denoiser = Denoiser(enhance, chunk_seconds=hops * hop / MODEL_SAMPLE_RATE,
                            overlap_seconds=math.ceil(hops * OVERLAP_SHARE) * hop
                            / MODEL_SAMPLE_RATE, hop=hop)
        lag = denoiser.lag(sample_rate, bandwidth)
        if lag <= budget:
            return denoiser
        if hops == MIN_CHUNK_HOPS:
            raise UsageError(
                f'latency_seconds={latency_seconds:g} is below what the model needs at '
                f'{sample_rate} Hz: at least {lag / sample_rate:.3f} s ({lag} samples: a '
                f'{1000 * MIN_CHUNK_HOPS * hop / MODEL_SAMPLE_RATE:.0f} ms chunk'
                f'{_extra_delays(sample_rate, bandwidth)})')
        hops -= 1


def _extra_delays(sample_rate: int, bandwidth: str) -> str:
    """What adds to the chunk's delay at ``sample_rate``, for the latency error message."""
    if sample_rate == MODEL_SAMPLE_RATE:
        return ''
    full_band = bandsplit.applies(bandwidth, sample_rate, sample_rate)
    return ', plus the resamplers to and from 16 kHz' + \
        (" and the upper band's STFT window" if full_band else '')
