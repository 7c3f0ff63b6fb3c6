"""What the demo does with one upload: validate, denoise (one at a time), render.

Kept apart from HTTP so it can be tested and reused without a server. Uploads
are decoded block by block and mixed down to mono as they are decoded, so memory
does not grow with the channel count; what decoding may cost (channels x
samples) is checked from the header before any of it is done. The output is mono
at the upload's rate, full band (see :mod:`~modelscope_frcrn.inference.bandsplit`),
within ``MIN_RATE``..``MAX_RATE``: uploads outside it are resampled to the nearer end
as they are decoded.
"""
import base64
import io
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import soundfile as sf
from modelscope.outputs import OutputKeys

from ..audio import MODEL_SAMPLE_RATE
from ..audio.io import MAX_CHANNELS, check_sample_rate, read_blocks
from ..audio.streams import resample_blocks
from ..errors import (AudioDecodeError, AudioInputError, AudioLayoutError, EmptyAudioError,
                      FRCRNError)
from .spectrogram import comparison_pngs

#: the model card widget's validator: ``max_size: 10M``
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: what a 10 MB upload of 16 kHz 16-bit mono WAV holds (5.5 min); compressed
#: uploads (FLAC, OGG, MP3) can hold far more, so the duration is limited too
MAX_SECONDS = MAX_UPLOAD_BYTES / (2 * MODEL_SAMPLE_RATE)
#: requests holding a place for the model, the one running included (so 3 wait); more
#: are refused
MAX_QUEUED = 4
#: what decoding one upload may cost, in samples (channels x frames): 5.5 min of 8-channel
#: 48 kHz audio. A 1 MB FLAC can declare 8 channels at 384 kHz for 5.5 min (1 billion samples)
MAX_DECODED_SAMPLES = 8 * 48000 * MAX_SECONDS
#: the rates the demo answers at: below the model's, the model's; above 48 kHz (where
#: DeepFilterNet and the decode cost limit stop), 48 kHz
MIN_RATE, MAX_RATE = MODEL_SAMPLE_RATE, 48000

Pipeline = Callable[[np.ndarray], Dict[str, Any]]


class RequestRejected(FRCRNError):
    """A request the demo refuses, with the HTTP status to answer and a message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Enhancement:
    """The result of one request: the enhanced WAV, both spectrograms (PNG) and timings."""
    wav: bytes
    input_png: bytes
    enhanced_png: bytes
    audio_seconds: float
    sample_rate: int
    processing_seconds: float
    queued_seconds: float

    def to_json(self) -> Dict[str, Any]:
        """The page's JSON: binary fields base64-encoded."""
        return {
            'enhanced_wav': _base64(self.wav), 'input_spectrogram': _base64(self.input_png),
            'enhanced_spectrogram': _base64(self.enhanced_png),
            'audio_seconds': round(self.audio_seconds, 3), 'sample_rate': self.sample_rate,
            'processing_seconds': round(self.processing_seconds, 3),
            'queued_seconds': round(self.queued_seconds, 3),
        }


class DemoWorker:
    """Runs ``pipeline`` (the ModelScope ANS pipeline, or anything called as it is here:
    mono float32 ``[T]``, ``array_sample_rate=``, ``sample_rate='keep'`` and the strength ->
    ``{'output_pcm': int16 bytes}`` at that rate) on uploads, one at a time.

    One worker thread decodes, denoises and renders every upload in turn, so
    memory holds one inference (in one thread's heap, reused from request to
    request) plus the raw bytes of the uploads waiting in a queue of at most
    ``max_queued`` (see :meth:`queue_slot`).
    """

    def __init__(self, pipeline: Pipeline, max_queued: int = MAX_QUEUED):
        self.pipeline = pipeline
        self.max_queued = max_queued
        self._slots = threading.BoundedSemaphore(max_queued)
        self.reserved = False
        self._jobs: 'queue.Queue[Tuple[Future, bytes, float, Optional[float]]]' = queue.Queue()
        threading.Thread(target=self._work, name='denoiser', daemon=True).start()

    @property
    def waiting(self) -> int:
        """Uploads handed to the worker thread and not yet started."""
        return self._jobs.qsize()

    @contextmanager
    def queue_slot(self) -> Iterator[None]:
        """A place in the queue, or :class:`RequestRejected` (503) when it is full."""
        if not self._slots.acquire(blocking=False):
            raise RequestRejected(503, 'a live session is using the model; try again in a few '
                                       'minutes' if self.reserved else
                                  'the server is busy with other requests; try again in a '
                                  'minute')
        try:
            yield
        finally:
            self._slots.release()

    def reserve_all(self) -> bool:
        """Take every place in the queue (for a live session, which needs the model to
        itself), or none and return False when an upload holds one."""
        for taken in range(self.max_queued):
            if not self._slots.acquire(blocking=False):
                for _ in range(taken):
                    self._slots.release()
                return False
        self.reserved = True
        return True

    def release_all(self) -> None:
        """Give back the places :meth:`reserve_all` took."""
        self.reserved = False
        for _ in range(self.max_queued):
            self._slots.release()

    def enhance(self, data: bytes, atten_limit_db: Optional[float] = None) -> Enhancement:
        """Denoise the audio file ``data`` and render both spectrograms (waits for its turn);
        ``atten_limit_db`` is the pipeline's strength control (None: no limit).

        Raises:
            RequestRejected: too large, too long or too costly to decode (413).
            AudioInputError: not decodable audio, empty, no samples, NaN samples.
        """
        check_upload(data)
        result: Future = Future()
        self._jobs.put((result, data, time.perf_counter(), atten_limit_db))
        return result.result()

    def _work(self) -> None:
        while True:
            result, data, arrived, atten_limit_db = self._jobs.get()
            try:
                result.set_result(self._enhance(data, arrived, atten_limit_db))
            except Exception as error:  # handed to the waiting request
                result.set_exception(error)

    def _enhance(self, data: bytes, arrived: float, atten_limit_db: Optional[float] = None
                 ) -> Enhancement:
        started = time.perf_counter()
        noisy, rate = decode_mono(data)
        strength = {} if atten_limit_db is None else {'atten_limit_db': atten_limit_db}
        result = self.pipeline(noisy, array_sample_rate=rate, sample_rate='keep', **strength)
        pcm = np.frombuffer(result[OutputKeys.OUTPUT_PCM], dtype='<i2')
        processing = time.perf_counter() - started
        enhanced = np.multiply(pcm, 1 / 32768, dtype=np.float32)
        input_png, enhanced_png = comparison_pngs(noisy, enhanced, rate)
        return Enhancement(wav=wav_bytes(pcm, rate), input_png=input_png,
                           enhanced_png=enhanced_png, audio_seconds=noisy.size / rate,
                           sample_rate=rate, processing_seconds=processing,
                           queued_seconds=started - arrived)


def check_upload(data: bytes) -> None:
    """Refuse, before decoding, what is too large, not audio, too long or too costly to decode.

    Raises:
        RequestRejected: over ``MAX_UPLOAD_BYTES``, ``MAX_SECONDS`` or ``MAX_DECODED_SAMPLES``
            (413).
        AudioInputError (or a subclass): not an audio file soundfile can read, no samples,
            an impossible channel count or sample rate.
    """
    check_size(len(data))
    if not data:
        raise EmptyAudioError('the upload is empty (0 bytes)')
    with _open_upload(data) as stream:
        check_decode_cost(stream.channels, stream.samplerate, stream.frames)


def check_decode_cost(channels: int, sample_rate: int, frames: int) -> None:
    """Refuse a header whose audio is empty, impossible, too long or too costly to decode."""
    if frames <= 0:
        raise EmptyAudioError('the upload contains no samples')
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioLayoutError(f'the upload has {channels} channels; up to {MAX_CHANNELS} are '
                               f'supported')
    check_sample_rate(sample_rate, 'the upload')
    seconds = frames / sample_rate
    if seconds > MAX_SECONDS:
        raise RequestRejected(413, f'the recording is {seconds / 60:.1f} min long; the limit is '
                                   f'{MAX_SECONDS / 60:.1f} min')
    if channels * frames > MAX_DECODED_SAMPLES:
        raise RequestRejected(413, f'the recording has {channels} channels at {sample_rate} Hz '
                                   f'for {seconds:.0f} s ({channels * frames / 1e6:.0f} million '
                                   f'samples); the limit is {MAX_DECODED_SAMPLES / 1e6:.0f} '
                                   f'million, e.g. {MAX_SECONDS / 60:.1f} min of 8 channels '
                                   f'at 48 kHz')


def decode_mono(data: bytes) -> Tuple[np.ndarray, int]:
    """The upload ``data`` as mono float32 ``[T]`` and its rate (the upload's, within
    ``MIN_RATE``..``MAX_RATE``), decoded block by block: channels averaged (and resampled) as
    they are decoded, so only one block is ever held at full width.

    Raises:
        AudioInputError (or a subclass): as :func:`check_upload`, or damaged data, or NaN or
            infinite samples.
        RequestRejected: as :func:`check_upload`.
    """
    with _open_upload(data) as stream:
        check_decode_cost(stream.channels, stream.samplerate, stream.frames)
        rate = min(max(stream.samplerate, MIN_RATE), MAX_RATE)
        try:
            blocks = list(resample_blocks(_mono_blocks(stream), stream.samplerate, rate))
        except sf.LibsndfileError as error:
            raise AudioDecodeError(f'the upload cannot be decoded past {stream.tell()} samples '
                                   f'(corrupt data): {error.error_string}') from error
    mono = np.concatenate(blocks, axis=1)[0]
    if mono.size == 0:
        raise EmptyAudioError('the upload contains no samples')
    if not np.isfinite(mono).all():
        raise AudioInputError('the upload contains NaN or infinite samples')
    return mono, rate


def _mono_blocks(stream: sf.SoundFile) -> Iterator[np.ndarray]:
    """``[1, n]`` blocks, channels averaged, until the data ends."""
    return (block.mean(axis=1, keepdims=True).T for block in read_blocks(stream))


def _open_upload(data: bytes) -> sf.SoundFile:
    try:
        return sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        reason = getattr(error, 'error_string', str(error)).rstrip('.')
        raise AudioDecodeError(f'cannot decode the upload as audio ({reason}): upload a WAV, '
                               f'FLAC, OGG or MP3 file') from error


def check_size(size: int) -> None:
    """:class:`RequestRejected` (413) when ``size`` bytes exceed the widget's 10 MB limit."""
    if size > MAX_UPLOAD_BYTES:
        raise RequestRejected(413, f'the file is {size / 2**20:.1f} MB; the limit is '
                                   f'{MAX_UPLOAD_BYTES / 2**20:.0f} MB')


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """int16 samples ``[T]`` as a PCM_16 WAV file."""
    stream = io.BytesIO()
    sf.write(stream, pcm, sample_rate, subtype='PCM_16', format='WAV')
    return stream.getvalue()


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')
