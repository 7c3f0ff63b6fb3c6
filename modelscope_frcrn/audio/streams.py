"""Block-wise audio file reading and writing, so long recordings never sit in memory whole.

Decoding: libsndfile (bundled with the ``soundfile`` wheels) reads WAV, FLAC,
OGG Vorbis/Opus, MP3, AIFF, CAF, W64/RF64 and more. Anything it rejects (M4A/AAC,
WMA, WebM...) is decoded by the ``ffmpeg`` program when it is installed
(``apt-get install ffmpeg``) into a temporary float WAV that is then read in blocks.
"""
import functools
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np
import soundfile as sf
import soxr

from ..atomic import write_atomically
from ..errors import (AudioDecodeError, AudioInputError, AudioLayoutError, AudioOutputError,
                      EmptyAudioError)
from .io import MAX_CHANNELS, check_audio_file, check_sample_rate, read_blocks
from .stages import run_stage

BLOCK_SECONDS = 1.0
RESAMPLING_QUALITY = 'HQ'
#: How long :func:`resampling_lag` watches the resampler for its worst lag.
LAG_PROBE_SECONDS = 1.0
#: Subtypes an enhanced output is not written in: integer ones too coarse, telephone codecs,
#: and lossy codecs (whose subtype a lossless container would otherwise take: MP3 in WAV).
_UPGRADED_SUBTYPES = {'PCM_S8': 'PCM_16', 'PCM_U8': 'PCM_16', 'ULAW': 'PCM_16', 'ALAW': 'PCM_16',
                      'IMA_ADPCM': 'PCM_16', 'MS_ADPCM': 'PCM_16', 'G721_32': 'PCM_16',
                      'GSM610': 'PCM_16', 'MPEG_LAYER_I': 'PCM_16', 'MPEG_LAYER_II': 'PCM_16',
                      'MPEG_LAYER_III': 'PCM_16', 'VORBIS': 'PCM_16', 'OPUS': 'PCM_16'}
_FLOAT_SUBTYPES = {'FLOAT', 'DOUBLE'}
#: Lossy codecs stay themselves in their own container (Opus in .ogg stays Opus, not Vorbis).
_LOSSY_CONTAINERS = {'MPEG_LAYER_I': 'MPEG', 'MPEG_LAYER_II': 'MPEG', 'MPEG_LAYER_III': 'MPEG',
                     'VORBIS': 'OGG', 'OPUS': 'OGG'}
#: What the encoders take, by subtype or container (libsndfile 1.2 refuses more, and
#: libvorbis crashes the process above 200 kHz): the only rates, the highest rate, channels.
_ONLY_RATES = {'MPEG_LAYER_III': (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
               'OPUS': (8000, 12000, 16000, 24000, 48000)}
_MAX_RATE = {'VORBIS': 200000, 'FLAC': 655350}
_MAX_CHANNELS = {'MPEG_LAYER_III': 2, 'FLAC': 8}
_COMMON_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
                 176400, 192000, 352800, 384000)
#: Output extensions (upper case) and the container each is written in: every extension the
#: ``denoise`` command reads with libsndfile, so an input's own extension is always a valid output.
#: libsndfile's other containers are refused: several hold one channel or a few fixed rates
#: (HTK, XI, SDS, WVE... were written at another rate than their samples') or cannot be read
#: back (RAW, SD2), so a resumed run could never recognise them as complete.
OUTPUT_CONTAINERS = {'WAV': 'WAV', 'FLAC': 'FLAC', 'OGG': 'OGG', 'OGA': 'OGG', 'OPUS': 'OGG',
                     'MP3': 'MP3', 'AIF': 'AIFF', 'AIFF': 'AIFF', 'AIFC': 'AIFF', 'CAF': 'CAF',
                     'W64': 'W64', 'RF64': 'RF64', 'AU': 'AU', 'SND': 'AU'}


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
        try:
            self._open()
        except BaseException:  # Ctrl-C included: no decoded copy is left behind
            self.close()
            raise

    def _open(self) -> None:
        self._readable = self._readable_path()
        try:
            with sf.SoundFile(self._readable) as stream:
                info = AudioFormat(stream.samplerate, stream.channels, stream.format,
                                   stream.subtype)
                self.frames = stream.frames
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioDecodeError(f'cannot decode {self.path} as audio: {error}') from error
        if self._decoded_dir:  # lossy sources (AAC, WMA...) are written back as 16-bit
            info = AudioFormat(info.sample_rate, info.channels, 'FFMPEG', 'PCM_16')
        self.format = info
        if self.frames <= 0:
            raise EmptyAudioError(f'{self.path} contains no samples')
        if not 1 <= info.channels <= MAX_CHANNELS:
            raise AudioLayoutError(f'{self.path} has {info.channels} channels; '
                                   f'up to {MAX_CHANNELS} are supported')
        check_sample_rate(info.sample_rate, self.path)

    def blocks(self, block_frames: Optional[int] = None) -> Iterator[np.ndarray]:
        """The samples in order, ``[C, n]`` float32 blocks of ``block_frames`` (default 1 s).
        Where the data ends before the header's length, ``frames`` becomes what was read (a
        damaged MP3 header can claim 618 billion frames; the next pass must not pad to it)."""
        block_frames = block_frames or int(self.format.sample_rate * BLOCK_SECONDS)
        position = 0
        try:
            with sf.SoundFile(self._readable) as stream:
                for block in read_blocks(stream, block_frames):
                    if not np.isfinite(block).all():
                        seconds = position / self.format.sample_rate
                        raise AudioInputError(f'{self.path} contains NaN or infinite samples '
                                              f'(near {seconds:.1f} s)')
                    position += len(block)
                    yield block.T
            self.frames = min(self.frames, position)
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


def output_format(path, source: AudioFormat, sample_rate: int, channels: int,
                  exact_rate: bool = False) -> AudioFormat:
    """The format to write ``path`` in: its extension's container, the source's subtype
    where that container takes it (8-bit, telephone and lossy codecs become 16-bit PCM in a
    lossless container), at ``sample_rate`` or, unless ``exact_rate``, the nearest rate the
    encoder takes (MP3 and Opus have a fixed set, Vorbis and FLAC a maximum).

    Raises:
        AudioOutputError: the extension is not one of :data:`OUTPUT_CONTAINERS`, or the
        container cannot hold ``channels`` channels (MP3 2, FLAC 8) or, with
        ``exact_rate``, ``sample_rate``.
    """
    extension = os.path.splitext(os.fspath(path))[1].lstrip('.').upper()
    container = OUTPUT_CONTAINERS.get(extension)
    if container is None or container not in sf.available_formats():
        supported = ', '.join('.' + name.lower() for name in OUTPUT_CONTAINERS
                              if OUTPUT_CONTAINERS[name] in sf.available_formats())
        raise AudioOutputError(f'cannot write {path}: unsupported output extension '
                               f'{"." + extension.lower() if extension else "(none)"} '
                               f'(use {supported})')
    subtype = 'OPUS' if extension == 'OPUS' else _subtype(container, source.subtype)
    _check_channels(path, container, subtype, channels)
    return AudioFormat(_rate(path, container, subtype, sample_rate, exact_rate), channels,
                       container, subtype)


def _subtype(container: str, source_subtype: str) -> str:
    if _LOSSY_CONTAINERS.get(source_subtype) == container:
        return source_subtype
    subtype = _UPGRADED_SUBTYPES.get(source_subtype, source_subtype)
    if sf.check_format(container, subtype):
        return subtype
    if subtype in _FLOAT_SUBTYPES | {'PCM_32'} and sf.check_format(container, 'PCM_24'):
        return 'PCM_24'  # FLAC: the finest integer format it has
    return sf.default_subtype(container)


def _limit(table: dict, container: str, subtype: str):
    return table.get(subtype, table.get(container))


def _check_channels(path, container: str, subtype: str, channels: int) -> None:
    most = _limit(_MAX_CHANNELS, container, subtype)
    if most is not None and channels > most:
        raise AudioOutputError(f'cannot write {path}: {container} holds at most {most} channels, '
                               f'the output has {channels} (use --mono, or a .wav output)')


def _rate(path, container: str, subtype: str, sample_rate: int, exact: bool) -> int:
    """``sample_rate``, or the rate the encoder takes nearest above it (else the highest)."""
    allowed = _limit(_ONLY_RATES, container, subtype)
    highest = _limit(_MAX_RATE, container, subtype)
    if allowed is None and highest is not None:
        allowed = [rate for rate in _COMMON_RATES if rate <= highest]
        if sample_rate <= highest:
            return sample_rate
    if allowed is None or sample_rate in allowed:
        return sample_rate
    if exact:
        raise AudioOutputError(f'cannot write {path}: {subtype} in {container} does not take '
                               f'{sample_rate} Hz (it takes {_rates_text(allowed, highest)})')
    return min((rate for rate in allowed if rate >= sample_rate), default=max(allowed))


def _rates_text(allowed, highest) -> str:
    if highest is not None:
        return f'up to {highest} Hz'
    return ', '.join(str(rate) for rate in allowed) + ' Hz'


def write_audio_file(path, blocks: Iterable[np.ndarray], audio_format: AudioFormat) -> None:
    """Write ``[C, n]`` float blocks to ``path`` atomically (see :func:`write_blocks`).

    Raises:
        AudioOutputError: naming ``path``, when the file cannot be written (the encoder
        refuses the format, the folder is not writable, the disk is full...).
    """
    try:
        write_atomically(path, lambda stream: write_blocks(stream, blocks, audio_format))
    except (sf.LibsndfileError, OSError) as error:
        raise AudioOutputError(f'cannot write {path} ({audio_format.format} '
                               f'{audio_format.subtype}, {audio_format.sample_rate} Hz, '
                               f'{audio_format.channels} channels): {error}') from error


def decoded_frames(path) -> Optional[int]:
    """How many frames ``path`` decodes to (reading it all), or None if it does not decode."""
    frames = 0
    try:
        with sf.SoundFile(os.fspath(path)) as stream:
            for block in read_blocks(stream):
                frames += len(block)
    except (sf.LibsndfileError, RuntimeError):
        return None
    return frames


def output_is_complete(input_path, output_path) -> bool:
    """Whether ``output_path`` decodes to as long a recording as ``input_path`` (so a resumed
    run may skip it; a file cut short by a crash of an older, non-atomic version is not)."""
    try:
        with AudioFileReader(input_path) as reader:
            frames, input_rate = reader.frames, reader.format.sample_rate
        output_rate = sf.info(os.fspath(output_path)).samplerate
    except (AudioInputError, sf.LibsndfileError, RuntimeError):
        return False
    return decoded_frames(output_path) == output_frames(frames, input_rate, output_rate)


def write_blocks(stream, blocks: Iterable[np.ndarray], audio_format: AudioFormat) -> None:
    """Write ``[C, n]`` float blocks to an open binary ``stream``; integer and lossy encodings
    are clipped to full scale (libsndfile would otherwise wrap around).

    Raises:
        OSError: the stream's own error (a full disk...), once libsndfile has returned.
    """
    clip = audio_format.subtype not in _FLOAT_SUBTYPES
    kept = _KeptErrors(stream)
    try:
        with sf.SoundFile(kept, 'w', audio_format.sample_rate, audio_format.channels,
                          audio_format.subtype, format=audio_format.format) as output:
            for block in blocks:
                output.write(np.clip(block, -1.0, 1.0).T if clip else block.T)
    except Exception:  # libsndfile's or soundfile's reaction to the failed write, if any
        if kept.error is None:
            raise
    if kept.error is not None:
        raise kept.error


class _KeptErrors:
    """The stream libsndfile writes through, keeping the first ``OSError`` (a full disk, a
    failing device) instead of letting it escape libsndfile's C callbacks, where it would be
    printed as a traceback and ignored; :func:`write_blocks` raises it afterwards."""

    def __init__(self, stream):
        self._stream = stream
        self.error: Optional[OSError] = None

    def __repr__(self) -> str:  # soundfile names the stream in its errors
        return repr(self._stream)

    def write(self, data) -> int:
        if self.error is None:
            try:
                return self._stream.write(data)
            except OSError as error:
                self.error = error
        return 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            return self._stream.seek(offset, whence)
        except OSError as error:
            self.error = self.error or error
            return self.tell()

    def tell(self) -> int:
        try:
            return self._stream.tell()
        except OSError as error:
            self.error = self.error or error
            return 0


def resample_blocks(blocks: Iterable[np.ndarray], from_rate: int, to_rate: int
                    ) -> Iterator[np.ndarray]:
    """Resample a stream of ``[C, n]`` blocks with soxr (same result as resampling it whole)."""
    return run_stage(Resampler(from_rate, to_rate), blocks)


class Resampler:
    """soxr's streaming resampler as a :class:`~.stages.Stage` (``[C, n]`` blocks; the
    channel count is taken from the first block). Output lags input by up to
    :func:`resampling_lag` output samples, whatever the block sizes."""

    def __init__(self, from_rate: int, to_rate: int):
        self.from_rate, self.to_rate = from_rate, to_rate
        self._stream: Optional[soxr.ResampleStream] = None
        self._channels = 1

    def push(self, block: np.ndarray) -> np.ndarray:
        if self.from_rate == self.to_rate:
            return block
        if self._stream is None:
            self._channels = block.shape[0]
            self._stream = soxr.ResampleStream(self.from_rate, self.to_rate, self._channels,
                                               dtype='float32', quality=RESAMPLING_QUALITY)
        return self._stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32)).T

    def finish(self) -> np.ndarray:
        if self._stream is None:
            return np.zeros((self._channels, 0), np.float32)
        last = np.zeros((0, self._channels), np.float32)
        return self._stream.resample_chunk(last, last=True).T


@functools.lru_cache(maxsize=None)
def resampling_lag(from_rate: int, to_rate: int) -> int:
    """The most output samples :class:`Resampler` holds back at any time: after ``n``
    input samples it has given at least ``n * to_rate / from_rate - lag``.

    Measured (once per rate pair, about 0.1-0.5 s) by feeding one sample at a time,
    the worst case (larger blocks are held back less) over ``LAG_PROBE_SECONDS``;
    one sample is added for the drift of soxr's fractional phase past that (measured:
    under 0.02 samples over 3 s at 44.1 kHz).
    """
    if from_rate == to_rate:
        return 0
    stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype='float32',
                                 quality=RESAMPLING_QUALITY)
    sample = np.zeros((1, 1), np.float32)
    given, worst = 0, 0.0
    for pushed in range(1, round(LAG_PROBE_SECONDS * from_rate) + 1):
        given += len(stream.resample_chunk(sample))
        worst = max(worst, pushed * to_rate / from_rate - given)
    return math.ceil(worst) + 1


def output_frames(frames: int, input_rate: int, output_rate: int) -> int:
    """The length at ``output_rate`` of ``frames`` samples at ``input_rate``."""
    return round(frames * output_rate / input_rate)


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
