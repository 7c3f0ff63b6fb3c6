"""Block-wise audio file reading and writing, so long recordings never sit in memory whole.

Decoding: libsndfile (bundled with the ``soundfile`` wheels) reads WAV, FLAC,
OGG Vorbis/Opus, MP3, AIFF, CAF, W64/RF64 and more. Anything it rejects (M4A/AAC,
WMA, WebM...) is decoded by the ``ffmpeg`` program when it is installed
(``apt-get install ffmpeg``) into a temporary float WAV that is then read in blocks.
"""
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np
import soundfile as sf
import soxr

from ..errors import (AudioDecodeError, AudioInputError, AudioLayoutError, AudioOutputError,
                      EmptyAudioError)
from .io import MAX_CHANNELS, check_audio_file

BLOCK_SECONDS = 1.0
#: Integer subtypes too coarse for an enhanced output are written as 16-bit.
_UPGRADED_SUBTYPES = {'PCM_S8': 'PCM_16', 'PCM_U8': 'PCM_16', 'ULAW': 'PCM_16', 'ALAW': 'PCM_16',
                      'IMA_ADPCM': 'PCM_16', 'MS_ADPCM': 'PCM_16', 'G721_32': 'PCM_16',
                      'GSM610': 'PCM_16'}
_FLOAT_SUBTYPES = {'FLOAT', 'DOUBLE'}


@dataclass(frozen=True)
class AudioFormat:
    """How audio is stored: rate, channels, container and sample encoding (soundfile names)."""
    sample_rate: int
    channels: int
    format: str
    subtype: str


class AudioFileReader:
    """Reads an audio file in ``[C, n]`` float32 blocks; re-iterable, so it can be read twice.

    Raises (on opening): :class:`AudioFileNotFoundError` (missing path, directory),
    :class:`EmptyAudioError` (0 bytes, 0 samples), :class:`AudioDecodeError` (not audio
    or corrupt), :class:`AudioLayoutError` (absurd channel count). Blocks with NaN or
    infinite samples raise :class:`AudioInputError` naming the time.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        check_audio_file(self.path)
        self._decoded_dir: Optional[str] = None
        self._readable = self._readable_path()
        with sf.SoundFile(self._readable) as stream:
            info = AudioFormat(stream.samplerate, stream.channels, stream.format, stream.subtype)
            self.frames = stream.frames
        if self._decoded_dir:  # lossy sources (AAC, WMA...) are written back as 16-bit
            info = AudioFormat(info.sample_rate, info.channels, 'FFMPEG', 'PCM_16')
        self.format = info
        if self.frames <= 0:
            raise EmptyAudioError(f'{self.path} contains no samples')
        if not 1 <= info.channels <= MAX_CHANNELS:
            raise AudioLayoutError(f'{self.path} has {info.channels} channels; '
                                   f'up to {MAX_CHANNELS} are supported')

    def blocks(self, block_frames: Optional[int] = None) -> Iterator[np.ndarray]:
        """The samples in order, ``[C, n]`` float32 blocks of ``block_frames`` (default 1 s)."""
        block_frames = block_frames or int(self.format.sample_rate * BLOCK_SECONDS)
        position = 0
        try:
            with sf.SoundFile(self._readable) as stream:
                # frames given: libsndfile cannot seek in some codecs (GSM 6.10, G.721)
                for block in stream.blocks(block_frames, frames=self.frames, dtype='float32',
                                           always_2d=True):
                    if not np.isfinite(block).all():
                        seconds = position / self.format.sample_rate
                        raise AudioInputError(f'{self.path} contains NaN or infinite samples '
                                              f'(near {seconds:.1f} s)')
                    position += len(block)
                    yield block.T
        except sf.LibsndfileError as error:
            raise AudioDecodeError(f'{self.path} cannot be decoded past {position} samples '
                                   f'(corrupt data): {error}') from error

    def close(self) -> None:
        if self._decoded_dir:
            shutil.rmtree(self._decoded_dir, ignore_errors=True)
            self._decoded_dir = None

    def __enter__(self) -> 'AudioFileReader':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _readable_path(self) -> str:
        """The file itself when libsndfile reads it, else an FFmpeg-decoded copy."""
        try:
            sf.info(self.path)
            return self.path
        except (sf.LibsndfileError, RuntimeError) as error:
            libsndfile_error = error
        if shutil.which('ffmpeg') is None:
            raise AudioDecodeError(
                f'cannot decode {self.path} as audio (corrupt, or a format libsndfile does not '
                f'read; install FFmpeg for M4A/AAC/WMA/WebM): {libsndfile_error}')
        self._decoded_dir = tempfile.mkdtemp(prefix='modelscope_frcrn_decode_')
        # Float WAV (RF64 past 4 GB): libsndfile reads FFmpeg's float W64 as 32-bit integers.
        decoded = os.path.join(self._decoded_dir, 'decoded.wav')
        run = subprocess.run(['ffmpeg', '-nostdin', '-v', 'error', '-i', self.path, '-vn',
                              '-c:a', 'pcm_f32le', '-rf64', 'auto', decoded],
                             capture_output=True, text=True)
        if run.returncode != 0 or not os.path.isfile(decoded):
            self.close()
            reason = (run.stderr.strip().splitlines() or ['no audio stream'])[-1]
            raise AudioDecodeError(f'cannot decode {self.path} as audio (corrupt, or not audio): '
                                   f'libsndfile: {libsndfile_error}; FFmpeg: {reason}')
        return decoded


def output_format(path, source: AudioFormat, sample_rate: int, channels: int) -> AudioFormat:
    """The format to write ``path`` in: its extension's container, the source's subtype
    where that container takes it (8-bit and lossy telephone codecs become 16-bit).

    Raises:
        AudioOutputError: libsndfile cannot write files with that extension.
    """
    extension = os.path.splitext(os.fspath(path))[1].lstrip('.').upper()
    container = {'OGA': 'OGG', 'OPUS': 'OGG', 'AIF': 'AIFF'}.get(extension, extension)
    if container not in sf.available_formats():
        raise AudioOutputError(f'cannot write {path}: unknown audio extension {extension!r} '
                               f'(use .wav, .flac, .ogg, .mp3 ...)')
    subtype = _UPGRADED_SUBTYPES.get(source.subtype, source.subtype)
    if extension == 'OPUS':
        subtype = 'OPUS'
    if not sf.check_format(container, subtype):
        subtype = sf.default_subtype(container)
    return AudioFormat(sample_rate, channels, container, subtype)


def write_blocks(stream, blocks: Iterable[np.ndarray], audio_format: AudioFormat) -> None:
    """Write ``[C, n]`` float blocks to an open binary ``stream``; integer and lossy encodings
    are clipped to full scale (libsndfile would otherwise wrap around)."""
    clip = audio_format.subtype not in _FLOAT_SUBTYPES
    with sf.SoundFile(stream, 'w', audio_format.sample_rate, audio_format.channels,
                      audio_format.subtype, format=audio_format.format) as output:
        for block in blocks:
            output.write(np.clip(block, -1.0, 1.0).T if clip else block.T)


def resample_blocks(blocks: Iterable[np.ndarray], from_rate: int, to_rate: int
                    ) -> Iterator[np.ndarray]:
    """Resample a stream of ``[C, n]`` blocks with soxr (same result as resampling it whole)."""
    if from_rate == to_rate:
        yield from blocks
        return
    stream, channels = None, 0
    for block in blocks:
        if stream is None:
            channels = block.shape[0]
            stream = soxr.ResampleStream(from_rate, to_rate, channels, dtype='float32',
                                         quality='HQ')
        yield stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32)).T
    if stream is not None:
        yield stream.resample_chunk(np.zeros((0, channels), np.float32), last=True).T


def fit_length(blocks: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """Cut or zero-pad a block stream to exactly ``length`` samples (resampling back and
    forth can leave one sample more or less)."""
    remaining = length
    channels = 1
    for block in blocks:
        channels = block.shape[0]
        if remaining > 0:
            yield block[:, :remaining]
            remaining -= min(remaining, block.shape[-1])
    if remaining > 0:
        yield np.zeros((channels, remaining), np.float32)
