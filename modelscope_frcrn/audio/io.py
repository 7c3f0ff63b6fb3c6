"""Reading audio from files, URLs, bytes and arrays; writing WAV files atomically.

Everything that touches the outside world for audio lives here, so every
input kind gets the same checks and the same error messages.
"""
import io
import os
import urllib.error
import urllib.request
from typing import Iterator, Tuple, Union

import numpy as np
import soundfile as sf
import soxr

from ..atomic import write_atomically
from ..errors import (AudioDecodeError, AudioFileNotFoundError, AudioInputError,
                      AudioLayoutError, AudioTypeError, EmptyAudioError)

MODEL_SAMPLE_RATE = 16000
#: More channels than this is taken as a layout mistake, not a recording.
MAX_CHANNELS = 64
#: Sample rates outside this range are a damaged header, not a recording (a WAV claiming
#: 1 Hz turns 50 ms into 13 minutes at 16 kHz).
SAMPLE_RATE_RANGE = (1000, 768000)
URL_TIMEOUT_S = 30
READ_BLOCK_FRAMES = 1 << 16

AudioSource = Union[str, os.PathLike, bytes, np.ndarray]


def read_audio(source: AudioSource, array_sample_rate: int = MODEL_SAMPLE_RATE
               ) -> Tuple[np.ndarray, int]:
    """Decode ``source`` into float32 samples.

    Args:
        source: a file path, an ``http(s)://`` URL, the bytes of an audio file,
            or an array of samples (``[T]`` mono or ``[T, C]`` as soundfile
            returns; integer arrays are scaled from their full range).
        array_sample_rate: the sample rate of an array ``source``.

    Returns:
        samples ``[C, T]`` float32 in [-1, 1] and the sample rate.

    Raises:
        AudioInputError (or a subclass naming the problem): missing file,
        directory, empty or undecodable data, no samples, NaN/inf samples,
        unsupported type.
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str):
        data = _fetch_url(source) if _is_url(source) else _read_file(source)
        samples, sample_rate = _decode(data, source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        samples, sample_rate = _decode(bytes(source), 'audio bytes')
    elif isinstance(source, np.ndarray):
        samples, sample_rate = samples_from_array(source), array_sample_rate
    else:
        raise AudioTypeError(f'unsupported audio input type {type(source).__name__}: '
                             f'pass a file path, URL, bytes or numpy array')
    return _checked(samples, _describe(source)), sample_rate


def read_mono(source: AudioSource, sample_rate: int = MODEL_SAMPLE_RATE) -> np.ndarray:
    """``source`` (as :func:`read_audio` takes it) as mono float32 ``[T]`` at ``sample_rate``:
    channels averaged, then resampled."""
    samples, rate = read_audio(source)
    return resample(samples.mean(axis=0, keepdims=True), rate, sample_rate)[0]


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (soxr). Shape: ``[C, T]`` -> ``[C, T * to_rate / from_rate]``."""
    if from_rate == to_rate:
        return samples
    return np.ascontiguousarray(soxr.resample(samples.T, from_rate, to_rate, quality='HQ').T,
                                dtype=np.float32)


def write_wav(path: Union[str, os.PathLike], samples: np.ndarray, sample_rate: int,
              subtype: str = 'PCM_16') -> None:
    """Write ``[C, T]`` or ``[T]`` samples to ``path`` atomically (temp file + rename).

    A reader never sees a partial file, and an interrupted write leaves
    nothing behind under ``path``.
    """
    write_atomically(path, lambda stream: sf.write(stream, np.asarray(samples).T, sample_rate,
                                                   subtype=subtype, format='WAV'))


def _is_url(text: str) -> bool:
    return text.startswith(('http://', 'https://'))


def _fetch_url(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as error:
        raise AudioInputError(f'cannot download audio from {url}: {error}') from error


def check_audio_file(path: str) -> None:
    """Raise :class:`AudioFileNotFoundError` or :class:`EmptyAudioError` unless ``path`` is a
    non-empty file."""
    if not os.path.exists(path):
        raise AudioFileNotFoundError(f'audio file not found: {path}')
    if os.path.isdir(path):
        raise AudioFileNotFoundError(f'expected an audio file but got a directory: {path}')
    if os.path.getsize(path) == 0:
        raise EmptyAudioError(f'audio file is empty (0 bytes): {path}')


def _read_file(path: str) -> bytes:
    check_audio_file(path)
    with open(path, 'rb') as stream:
        return stream.read()


def _decode(data: bytes, origin: str) -> Tuple[np.ndarray, int]:
    if not data:
        raise EmptyAudioError(f'{origin} is empty (0 bytes)')
    try:
        with sf.SoundFile(io.BytesIO(data)) as stream:
            check_sample_rate(stream.samplerate, origin)
            blocks = list(read_blocks(stream))
            sample_rate, channels = stream.samplerate, stream.channels
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioDecodeError(f'cannot decode {origin} as audio '
                               f'(corrupt, or not a WAV/FLAC/OGG file): {error}') from error
    if not blocks:
        return np.zeros((channels, 0), np.float32), sample_rate
    return np.concatenate(blocks).T, sample_rate


def read_blocks(stream: sf.SoundFile, block_frames: int = READ_BLOCK_FRAMES
                ) -> Iterator[np.ndarray]:
    """``[n, C]`` float32 blocks of an open file until its data ends, however many frames its
    header claims: ``sf.read`` allocates the claimed length up front (a damaged MP3 header
    can claim terabytes), and ``SoundFile.blocks`` pads a short file with uninitialised
    memory."""
    while True:
        block = stream.read(block_frames, dtype='float32', always_2d=True)
        if not len(block):
            return
        yield block


def check_sample_rate(sample_rate: int, origin: str) -> None:
    """:class:`AudioDecodeError` unless ``sample_rate`` is within ``SAMPLE_RATE_RANGE``."""
    low, high = SAMPLE_RATE_RANGE
    if not low <= sample_rate <= high:
        raise AudioDecodeError(f'{origin} declares a sample rate of {sample_rate} Hz; {low} to '
                               f'{high} Hz are supported (is the file damaged?)')


def samples_from_array(array: np.ndarray) -> np.ndarray:
    """An audio array, floats or integers (full range mapped onto [-1, 1)), as float32 samples.

    Shape: ``[T]`` or ``[T, C]`` -> ``[C, T]``.
    """
    if array.ndim not in (1, 2):
        raise AudioInputError(f'audio array must be [T] or [T, C], got shape {array.shape}')
    if np.issubdtype(array.dtype, np.integer):
        # Map the type's full range onto [-1, 1): int16 / 32768, uint8 (offset binary) (x - 128) / 128.
        limits = np.iinfo(array.dtype)
        half_range = (float(limits.max) - float(limits.min) + 1) / 2
        array = (array.astype(np.float64) - (float(limits.min) + half_range)) / half_range
    elif not np.issubdtype(array.dtype, np.floating):
        raise AudioTypeError(f'audio array must hold integers or floats, got {array.dtype}')
    return np.atleast_2d(array.T).astype(np.float32)


def _checked(samples: np.ndarray, origin: str) -> np.ndarray:
    if samples.shape[0] == 0:
        raise EmptyAudioError(f'{origin} has no channels')
    if samples.shape[0] > MAX_CHANNELS:
        raise AudioLayoutError(f'{origin} has {samples.shape[0]} channels; up to {MAX_CHANNELS} '
                               f'are supported (arrays must be [T] or [T, C], samples first)')
    if samples.shape[-1] == 0:
        raise EmptyAudioError(f'{origin} contains no samples')
    if not np.isfinite(samples).all():
        raise AudioInputError(f'{origin} contains NaN or infinite samples')
    return samples


def _describe(source) -> str:
    return source if isinstance(source, str) else f'audio {type(source).__name__}'
