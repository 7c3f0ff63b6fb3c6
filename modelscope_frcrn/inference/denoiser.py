"""Denoising audio of any rate, channel count and length: in memory or file to file.

Around the network (an :data:`~modelscope_frcrn.inference.backends.Enhancer` at
16 kHz): each channel is brought to the model's input level by one gain for the
whole recording and the gain is undone afterwards, so loudness is kept;
resampling to 16 kHz and back is soxr's; long inputs go through the network in
cross-faded chunks (:class:`OverlapChunker`), so memory stays bounded.
Above 16 kHz the band the model does not see is kept and cleaned too
(:mod:`.bandsplit`), and an attenuation limit (:mod:`.strength`) sets how much
noise is taken away.
"""
import copy
import math
import os
from typing import Callable, Iterable, Iterator, Optional, Union

import numpy as np

from ..audio import MODEL_SAMPLE_RATE, normalising_gain
from ..audio.io import READ_BLOCK_FRAMES
from ..audio.levels import FixedLevel, RunningLevel, gain_for_level, rms_of_blocks
from ..audio.stages import Chain, Map, run_stage
from ..audio.streams import (AudioFileReader, Resampler, fit_length, output_format,
                             output_frames, resampling_lag, write_audio_file)
from ..errors import AudioOutputError, AudioTooShortError
from . import bandsplit
from .backends import Enhancer
from .bandsplit import FULL
from .chunking import DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS, OverlapChunker
from .strength import attenuation_floor, limited

#: ``sample_rate`` value that keeps the input's rate.
KEEP = 'keep'
SampleRate = Union[int, str, None]
#: Called with the number of chunks once they are known, then once per chunk done.
ProgressFactory = Callable[[int], Callable[[], None]]
#: How the network's input is brought to its level and the output back.
Level = Union[FixedLevel, RunningLevel]


class Denoiser:
    """Denoise recordings with an enhancer.

    Args:
        enhance: the network at 16 kHz, ``[C, T] -> [C, T]``.
        chunk_seconds: length of the pieces long inputs are enhanced in.
        overlap_seconds: overlap of neighbouring pieces (cross-faded).
        frame: the network's STFT window; inputs must be at least this long.
        hop: the network's STFT hop; chunk starts stay on its grid.
    """

    def __init__(self, enhance: Enhancer, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 overlap_seconds: float = DEFAULT_OVERLAP_SECONDS, frame: int = 640,
                 hop: int = 320):
        self.frame = frame
        self.enhancer = enhance
        self.chunk, self.hop = round(chunk_seconds * MODEL_SAMPLE_RATE), hop
        self.overlap = round(overlap_seconds * MODEL_SAMPLE_RATE)
        self.chunker = self._chunker(enhance)

    def with_enhancer(self, enhance: Enhancer) -> 'Denoiser':
        """A denoiser with these settings around another network call (e.g. one that batches)."""
        twin = copy.copy(self)
        twin.enhancer, twin.chunker = enhance, self._chunker(enhance)
        return twin

    def enhance(self, samples: np.ndarray, progress: Optional[ProgressFactory] = None,
                sample_rate: int = MODEL_SAMPLE_RATE, bandwidth: str = FULL,
                atten_limit_db: Optional[float] = None) -> np.ndarray:
        """Enhance audio held in memory, at ``sample_rate`` (see :meth:`denoise_file` for
        ``bandwidth`` and ``atten_limit_db``).

        Shape: ``[C, T]`` -> ``[C, T]`` at ``sample_rate`` when the full band is kept, else
        ``[C, T']`` at 16 kHz.
        """
        frames = samples.shape[-1]
        self._check_length(frames, sample_rate, 'the input')
        gain = normalising_gain(samples).astype(np.float32)
        full_band = bandsplit.applies(bandwidth, sample_rate, sample_rate)
        # in file-sized blocks, so that the stages' temporaries (the upper band's spectra take
        # about 70 bytes a sample) stay a block's size however long the input
        pieces = (samples[..., start:start + READ_BLOCK_FRAMES]
                  for start in range(0, frames, READ_BLOCK_FRAMES))
        output_rate = sample_rate if full_band else MODEL_SAMPLE_RATE
        blocks = self._denoise_blocks(pieces, sample_rate, frames, gain, output_rate, False,
                                      progress, bandwidth, atten_limit_db)
        enhanced = np.empty((samples.shape[0], output_frames(frames, sample_rate, output_rate)),
                            np.float32)  # filled in place: joining the blocks would hold two
        filled = 0
        for block in blocks:
            enhanced[:, filled:filled + block.shape[-1]] = block
            filled += block.shape[-1]
        return enhanced

    def denoise_file(self, input_path, output_path, sample_rate: SampleRate = KEEP,
                     mono: bool = False, progress: Optional[ProgressFactory] = None,
                     bandwidth: str = FULL, atten_limit_db: Optional[float] = None) -> None:
        """Denoise a file block by block into ``output_path``, written atomically.

        The output has the input's channels (one with ``mono``), ``sample_rate``
        (``'keep'``: the input's), its length in time and, where the output
        container allows, the input's sample encoding. ``bandwidth`` ``'full'``
        keeps and cleans the band above 8 kHz of inputs above 16 kHz, ``'model'``
        gives the model's band only; ``atten_limit_db`` is the most any part of
        the signal is attenuated (None: no limit; 0: the input back).

        Raises:
            AudioInputError (or a subclass): the input is unusable.
            AudioOutputError: the output format is unknown, cannot hold the output's channels
                (or the ``sample_rate`` asked for), would replace the input, or the file cannot
                be written.
            UsageError: an unknown ``bandwidth`` or a negative ``atten_limit_db``.
        """
        _refuse_same_file(input_path, output_path)
        with AudioFileReader(input_path) as reader:
            source = reader.format
            rate = resolve_rate(sample_rate, source.sample_rate)
            target = output_format(output_path, source, rate, 1 if mono else source.channels,
                                   exact_rate=sample_rate not in (None, KEEP))
            rate = target.sample_rate  # MP3 and Opus take a few rates only
            self._check_length(reader.frames, source.sample_rate, input_path)
            gain = gain_for_level(rms_of_blocks(reader.blocks(), reader.frames)).astype(np.float32)
            blocks = self._denoise_blocks(reader.blocks(), source.sample_rate, reader.frames,
                                          gain, rate, mono, progress, bandwidth, atten_limit_db)
            write_audio_file(output_path, blocks, target)

    def _denoise_blocks(self, blocks: Iterable[np.ndarray], sample_rate: int, frames: int,
                        gain: np.ndarray, output_rate: int, mono: bool,
                        progress: Optional[ProgressFactory], bandwidth: str = FULL,
                        atten_limit_db: Optional[float] = None) -> Iterator[np.ndarray]:
        on_chunk = None
        if progress:
            model_frames = round(frames * MODEL_SAMPLE_RATE / sample_rate)
            on_chunk = progress(self.chunker.count(model_frames))
        stage = self.stage(sample_rate, FixedLevel(gain), output_rate, mono, bandwidth,
                           atten_limit_db, on_chunk)
        return fit_length(run_stage(stage, blocks), output_frames(frames, sample_rate, output_rate))

    def stage(self, sample_rate: int, level: Level, output_rate: int, mono: bool = False,
              bandwidth: str = FULL, atten_limit_db: Optional[float] = None,
              on_chunk: Optional[Callable[[], None]] = None) -> Chain:
        """The whole denoising as one push/pull :class:`~modelscope_frcrn.audio.stages.Stage`:
        ``[C, n]`` blocks at ``sample_rate`` in, ``[C, m]`` (``[1, m]`` with ``mono``) at
        ``output_rate`` out, ``level`` normalising the network's input. Its output lags its
        input by at most :meth:`lag` input samples; once finished, it has given out the
        input's length in time, give or take a sample (cut with :func:`fit_length`)."""
        if bandsplit.applies(bandwidth, sample_rate, output_rate):
            floor = attenuation_floor(atten_limit_db)
            chunks = self._chunker(bandsplit.BandGainEnhancer(self.enhancer, floor))
            enhance_stacked = Chain([
                Map(level.apply), chunks.stream(on_chunk),
                Map(lambda block: block / bandsplit.level_gains(level.gains(block.shape[-1])))])
            stages = [bandsplit.FullBand(sample_rate, enhance_stacked, bandsplit.gain_floor(floor))]
            rate = sample_rate
        else:
            stages = [Resampler(sample_rate, MODEL_SAMPLE_RATE), Map(level.apply),
                      self._chunker(limited(self.enhancer, atten_limit_db)).stream(on_chunk),
                      Map(lambda block: block / level.gains(block.shape[-1]))]
            rate = MODEL_SAMPLE_RATE
        if mono:
            stages.append(Map(lambda block: block.mean(axis=0, keepdims=True)))
        return Chain(stages + [Resampler(rate, output_rate)])

    def lag(self, sample_rate: int, bandwidth: str = FULL) -> int:
        """The most input samples the output of :meth:`stage` at the input's rate lags
        behind, whatever the block sizes: the chunker's wait for a whole chunk, the
        resamplers' buffers and, with the full band, the upper band's STFT window. After
        ``n`` input samples at least ``n - lag`` are out."""
        ratio = sample_rate / MODEL_SAMPLE_RATE
        model_lag = resampling_lag(sample_rate, MODEL_SAMPLE_RATE) + self.chunker.lag
        upper_lag = bandsplit.upper_lag(sample_rate) \
            if bandsplit.applies(bandwidth, sample_rate, sample_rate) else 0
        return math.ceil(model_lag * ratio) + resampling_lag(MODEL_SAMPLE_RATE, sample_rate) \
            + upper_lag

    def _chunker(self, enhance: Enhancer) -> OverlapChunker:
        return OverlapChunker(enhance, self.chunk, self.overlap, self.hop)

    def _check_length(self, frames: int, sample_rate: int, origin: str) -> None:
        if frames * MODEL_SAMPLE_RATE < self.frame * sample_rate:
            milliseconds = 1000 * self.frame / MODEL_SAMPLE_RATE
            raise AudioTooShortError(
                f'{origin} is too short to enhance: {frames} samples at {sample_rate} Hz '
                f'({1000 * frames / sample_rate:.1f} ms); the model needs at least one '
                f'{milliseconds:.0f} ms analysis frame')


def resolve_rate(requested: SampleRate, input_rate: int) -> int:
    """The rate to write: ``requested`` Hz, or ``input_rate`` for ``'keep'``/None."""
    if requested in (None, KEEP):
        return input_rate
    try:
        rate = int(requested)
    except (TypeError, ValueError):
        rate = 0
    if rate <= 0:
        raise AudioOutputError(f"output sample rate must be 'keep' or a positive number of Hz, "
                               f'got {requested!r}')
    return rate


def _refuse_same_file(input_path, output_path) -> None:
    if os.path.exists(output_path) and os.path.exists(input_path) \
            and os.path.samefile(input_path, output_path):
        raise AudioOutputError(f'refusing to write the output onto the input file {input_path}')
