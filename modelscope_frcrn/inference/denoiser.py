"""Denoising audio of any rate, channel count and length: in memory or file to file.

Around the network (an :data:`~modelscope_frcrn.inference.backends.Enhancer` at
16 kHz): each channel is brought to the model's input level by one gain for the
whole recording and the gain is undone afterwards, so loudness is kept;
resampling to 16 kHz and back is soxr's; long inputs go through the network in
cross-faded chunks (:class:`OverlapChunker`), so memory stays bounded.
"""
import os
from typing import Callable, Iterable, Iterator, Optional, Union

import numpy as np

from ..audio import MODEL_SAMPLE_RATE, normalising_gain
from ..audio.levels import gain_for_level, rms_of_blocks
from ..audio.streams import (AudioFileReader, fit_length, output_format, resample_blocks,
                             write_audio_file)
from ..errors import AudioOutputError, AudioTooShortError
from .backends import Enhancer
from .chunking import DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS, OverlapChunker

#: ``sample_rate`` value that keeps the input's rate.
KEEP = 'keep'
SampleRate = Union[int, str, None]
#: Called with the number of chunks once they are known, then once per chunk done.
ProgressFactory = Callable[[int], Callable[[], None]]


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
        self.chunker = OverlapChunker(enhance, round(chunk_seconds * MODEL_SAMPLE_RATE),
                                      round(overlap_seconds * MODEL_SAMPLE_RATE), hop)

    def enhance(self, samples: np.ndarray, progress: Optional[ProgressFactory] = None
                ) -> np.ndarray:
        """Enhance 16 kHz audio held in memory. Shape: ``[C, T]`` -> ``[C, T]``."""
        self._check_length(samples.shape[-1], MODEL_SAMPLE_RATE, 'the input')
        gain = normalising_gain(samples).astype(np.float32)
        blocks = self._enhance_blocks([samples], gain, samples.shape[-1], progress)
        return np.concatenate(list(blocks), axis=1)

    def denoise_file(self, input_path, output_path, sample_rate: SampleRate = KEEP,
                     mono: bool = False, progress: Optional[ProgressFactory] = None) -> None:
        """Denoise a file block by block into ``output_path``, written atomically.

        The output has the input's channels (one with ``mono``), ``sample_rate``
        (``'keep'``: the input's), its length in time and, where the output
        container allows, the input's sample encoding.

        Raises:
            AudioInputError (or a subclass): the input is unusable.
            AudioOutputError: the output format is unknown, cannot hold the output's channels
                (or the ``sample_rate`` asked for), would replace the input, or the file cannot
                be written.
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
                                          gain, rate, mono, progress)
            write_audio_file(output_path, blocks, target)

    def _denoise_blocks(self, blocks: Iterable[np.ndarray], sample_rate: int, frames: int,
                        gain: np.ndarray, output_rate: int, mono: bool,
                        progress: Optional[ProgressFactory]) -> Iterator[np.ndarray]:
        model_frames = round(frames * MODEL_SAMPLE_RATE / sample_rate)
        at_model_rate = resample_blocks(blocks, sample_rate, MODEL_SAMPLE_RATE)
        enhanced = self._enhance_blocks(at_model_rate, gain, model_frames, progress)
        if mono:
            enhanced = (block.mean(axis=0, keepdims=True) for block in enhanced)
        at_output_rate = resample_blocks(enhanced, MODEL_SAMPLE_RATE, output_rate)
        return fit_length(at_output_rate, round(frames * output_rate / sample_rate))

    def _enhance_blocks(self, blocks: Iterable[np.ndarray], gain: np.ndarray, frames: int,
                        progress: Optional[ProgressFactory]) -> Iterator[np.ndarray]:
        """Shape: ``[C, n]`` blocks at 16 kHz and ``gain`` ``[C, 1]`` -> enhanced blocks."""
        on_chunk = progress(self.chunker.count(frames)) if progress else None
        normalised = (block * gain for block in blocks)
        return (block / gain for block in self.chunker.run(normalised, on_chunk))

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
