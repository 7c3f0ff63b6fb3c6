"""What the demo does with one upload: validate, denoise (one at a time), render.

Kept apart from HTTP so it can be tested and reused without a server. Uploads
are mixed down to mono and resampled to 16 kHz before the model (the output is
16 kHz mono either way), so memory does not grow with the channel count.
"""
import base64
import io
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Tuple

import numpy as np
import soundfile as sf
from modelscope.outputs import OutputKeys

from ..audio import MODEL_SAMPLE_RATE, read_mono
from ..errors import AudioDecodeError, EmptyAudioError, FRCRNError
from .spectrogram import comparison_pngs

#: the model card widget's validator: ``max_size: 10M``
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: what a 10 MB upload of 16 kHz 16-bit mono WAV holds (5.5 min); compressed
#: uploads (FLAC, OGG, MP3) can hold far more, so the duration is limited too
MAX_SECONDS = MAX_UPLOAD_BYTES / (2 * MODEL_SAMPLE_RATE)
#: requests waiting for the model, the one running included; more are refused
MAX_QUEUED = 4

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
    processing_seconds: float
    queued_seconds: float

    def to_json(self) -> Dict[str, Any]:
        """The page's JSON: binary fields base64-encoded."""
        return {
            'enhanced_wav': _base64(self.wav), 'input_spectrogram': _base64(self.input_png),
            'enhanced_spectrogram': _base64(self.enhanced_png),
            'audio_seconds': round(self.audio_seconds, 3),
            'processing_seconds': round(self.processing_seconds, 3),
            'queued_seconds': round(self.queued_seconds, 3),
        }


class DemoWorker:
    """Runs ``pipeline`` (the ModelScope ANS pipeline, or anything that maps 16 kHz mono
    float32 ``[T]`` to ``{'output_pcm': int16 bytes}``) on uploads, one at a time.

    One worker thread decodes, denoises and renders every upload in turn, so
    memory holds one inference (in one thread's heap, reused from request to
    request) plus the raw bytes of the uploads waiting in a queue of at most
    ``max_queued`` (see :meth:`queue_slot`).
    """

    def __init__(self, pipeline: Pipeline, max_queued: int = MAX_QUEUED):
        self.pipeline = pipeline
        self._slots = threading.BoundedSemaphore(max_queued)
        self._jobs: 'queue.Queue[Tuple[Future, bytes, float]]' = queue.Queue()
        threading.Thread(target=self._work, name='denoiser', daemon=True).start()

    @contextmanager
    def queue_slot(self) -> Iterator[None]:
        """A place in the queue, or :class:`RequestRejected` (503) when it is full."""
        if not self._slots.acquire(blocking=False):
            raise RequestRejected(503, 'the server is busy with other requests; try again in a '
                                       'minute')
        try:
            yield
        finally:
            self._slots.release()

    def enhance(self, data: bytes) -> Enhancement:
        """Denoise the audio file ``data`` and render both spectrograms (waits for its turn).

        Raises:
            RequestRejected: too large (413) or too long (413).
            AudioInputError: not decodable audio, empty, no samples, NaN samples.
        """
        check_upload(data)
        result: Future = Future()
        self._jobs.put((result, data, time.perf_counter()))
        return result.result()

    def _work(self) -> None:
        while True:
            result, data, arrived = self._jobs.get()
            try:
                result.set_result(self._enhance(data, arrived))
            except Exception as error:  # handed to the waiting request
                result.set_exception(error)

    def _enhance(self, data: bytes, arrived: float) -> Enhancement:
        started = time.perf_counter()
        noisy = read_mono(data)  # channels averaged, at 16 kHz
        pcm = np.frombuffer(self.pipeline(noisy)[OutputKeys.OUTPUT_PCM], dtype='<i2')
        processing = time.perf_counter() - started
        input_png, enhanced_png = comparison_pngs(noisy, pcm.astype(np.float32) / 32768)
        return Enhancement(wav=wav_bytes(pcm), input_png=input_png, enhanced_png=enhanced_png,
                           audio_seconds=noisy.size / MODEL_SAMPLE_RATE,
                           processing_seconds=processing, queued_seconds=started - arrived)


def check_upload(data: bytes) -> None:
    """Refuse, before decoding, what is too large, not audio, or too long.

    Raises:
        RequestRejected: over ``MAX_UPLOAD_BYTES`` or ``MAX_SECONDS`` (413).
        AudioDecodeError: the bytes are not an audio file soundfile can read.
    """
    check_size(len(data))
    if not data:
        raise EmptyAudioError('the upload is empty (0 bytes)')
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        reason = getattr(error, 'error_string', str(error)).rstrip('.')
        raise AudioDecodeError(f'cannot decode the upload as audio ({reason}): upload a WAV, '
                               f'FLAC, OGG or MP3 file') from error
    if info.duration > MAX_SECONDS:
        raise RequestRejected(413, f'the recording is {info.duration / 60:.1f} min long; the '
                                   f'limit is {MAX_SECONDS / 60:.1f} min')


def check_size(size: int) -> None:
    """:class:`RequestRejected` (413) when ``size`` bytes exceed the widget's 10 MB limit."""
    if size > MAX_UPLOAD_BYTES:
        raise RequestRejected(413, f'the file is {size / 2**20:.1f} MB; the limit is '
                                   f'{MAX_UPLOAD_BYTES / 2**20:.0f} MB')


def wav_bytes(pcm: np.ndarray) -> bytes:
    """16 kHz int16 samples ``[T]`` as a PCM_16 WAV file."""
    stream = io.BytesIO()
    sf.write(stream, pcm, MODEL_SAMPLE_RATE, subtype='PCM_16', format='WAV')
    return stream.getvalue()


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')
