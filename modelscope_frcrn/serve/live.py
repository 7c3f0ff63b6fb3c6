"""Live denoising for the demo: one microphone stream at a time, over plain HTTP requests.

The protocol (the server's routes; errors are ``{"error": message}`` with a 4xx/5xx status):

- ``POST /api/live/start[?atten_limit=DB]`` claims the one live session (at that
  strength, as for uploads): JSON with the ``token``, the
  ``sample_rate`` (16000), the stated delay (``latency_samples``, ``latency_ms``), the
  suggested and the largest block (``block_samples``, ``max_block_samples``) and the bounds
  (``idle_timeout_s``, ``max_session_s``); 503 while another session (or an upload) runs.
- ``POST /api/live/<token>?seq=N``: the body is the next block, raw little-endian float32
  mono samples at 16 kHz, ``N`` counting blocks from 0 (a lost, repeated or reordered
  block is a 409). The answer is as many float32 samples: the enhanced stream
  ``latency_samples`` earlier (:class:`~modelscope_frcrn.inference.streaming.StreamDenoiser`'s
  convention, so zeros at first).
- ``POST /api/live/<token>/stop`` ends the session: the answer is the last
  ``latency_samples`` enhanced samples.

A session also ends after ``idle_timeout_s`` without a block and ``max_session_s`` after
it started (then its token gets 410). It has the model to itself: it takes every place
in the upload queue (:meth:`DemoWorker.reserve_all`), so uploads meanwhile get the
polite 503, and it starts only when no upload holds one.
"""
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from ..audio import MODEL_SAMPLE_RATE
from ..inference.backends import Enhancer
from ..inference.streaming import StreamDenoiser
from .worker import DemoWorker, RequestRejected

#: the stated delay of the enhanced stream (StreamDenoiser's chunk; longer sounds better)
LATENCY_SECONDS = 0.5
#: what the page sends per request: 100 ms
BLOCK_SAMPLES = MODEL_SAMPLE_RATE // 10
#: the largest block accepted: 1 s (a page that fell behind sends what it holds at once)
MAX_BLOCK_SAMPLES = MODEL_SAMPLE_RATE
SAMPLE_BYTES = 4  # float32
IDLE_TIMEOUT_S = 5.0
MAX_SESSION_S = 180.0

@dataclass
class LiveSession:
    token: str
    stream: StreamDenoiser
    started: float
    last_block: float
    next_sequence: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class LiveSessions:
    """The demo's live session: at most one at a time, denoised with ``enhance`` (the
    worker's network, ``[C, T] -> [C, T]`` at 16 kHz) in the requests' own threads."""

    def __init__(self, worker: DemoWorker, enhance: Enhancer,
                 latency_seconds: float = LATENCY_SECONDS,
                 idle_timeout_s: float = IDLE_TIMEOUT_S, max_session_s: float = MAX_SESSION_S):
        self.worker, self.enhance = worker, enhance
        self.latency_seconds = latency_seconds
        self.idle_timeout_s, self.max_session_s = idle_timeout_s, max_session_s
        self._session: Optional[LiveSession] = None
        self._ended_reason: Dict[str, str] = {}  # token -> why it ended, for a clear 410
        self._changed = threading.Condition()

    def start(self, atten_limit_db: Optional[float] = None) -> Dict[str, Any]:
        """Claim the session, denoising at most ``atten_limit_db`` (None: no limit; see
        :mod:`~modelscope_frcrn.inference.strength`); its parameters for the page (see the
        module docstring).

        Raises:
            RequestRejected: (503) a session is running, or an upload holds the model.
        """
        with self._changed:
            if self._session is not None:
                raise RequestRejected(503, 'someone is already using live denoising (one '
                                           'session at a time); try again in a few minutes')
            if not self.worker.reserve_all():
                raise RequestRejected(503, 'the server is denoising uploads; try live again '
                                           'in a minute')
            now = time.monotonic()
            stream = StreamDenoiser(self.enhance, latency_seconds=self.latency_seconds,
                                    atten_limit_db=atten_limit_db)
            session = LiveSession(secrets.token_urlsafe(16), stream, now, now)
            self._session = session
        threading.Thread(target=self._end_when_due, args=(session,), name='live-session',
                         daemon=True).start()
        return {'token': session.token, 'sample_rate': MODEL_SAMPLE_RATE,
                'latency_samples': stream.latency,
                'latency_ms': round(1000 * stream.latency / MODEL_SAMPLE_RATE, 1),
                'atten_limit_db': atten_limit_db,
                'block_samples': BLOCK_SAMPLES, 'max_block_samples': MAX_BLOCK_SAMPLES,
                'idle_timeout_s': self.idle_timeout_s, 'max_session_s': self.max_session_s}

    def process(self, token: str, sequence: str, body: bytes) -> bytes:
        """Block number ``sequence`` of the session ``token`` (float32 bytes) -> as many
        enhanced float32 bytes.

        Raises:
            RequestRejected: unknown (404) or ended (410) session, a bad block (400, 413)
                or out of order (409).
        """
        samples = block_samples(body)
        session = self._current(token)
        with session.lock:
            self._check_still_current(session)
            expected = session.next_sequence
            if sequence != str(expected):
                raise RequestRejected(409, f'expected block {expected} of the live session, got '
                                           f'seq={sequence!r} (a block was lost or reordered)')
            session.next_sequence += 1
            session.last_block = time.monotonic()
            return session.stream.process(samples).astype('<f4').tobytes()

    def stop(self, token: str) -> bytes:
        """End the session ``token``: its last ``latency_samples`` enhanced samples (float32).

        Raises:
            RequestRejected: unknown (404) or already ended (410) session.
        """
        session = self._current(token)
        with session.lock:
            self._check_still_current(session)
            tail = session.stream.flush()  # before an upload may have the model
            self._end(session, 'it was stopped')
            return tail.astype('<f4').tobytes()

    def _current(self, token: str) -> LiveSession:
        with self._changed:
            session = self._session
            if session is not None and session.token == token:
                return session
            if token in self._ended_reason:
                raise RequestRejected(410, f'the live session has ended: '
                                           f'{self._ended_reason[token]}')
            raise RequestRejected(404, 'no such live session; start one with '
                                       'POST /api/live/start')

    def _check_still_current(self, session: LiveSession) -> None:
        """410 when ``session`` ended while this request waited for it."""
        self._current(session.token)

    def _end(self, session: LiveSession, reason: str) -> None:
        with self._changed:
            if self._session is not session:
                return
            self._session = None
            self._ended_reason = {session.token: reason}  # only the last one is remembered
            self.worker.release_all()
            self._changed.notify_all()

    def _end_when_due(self, session: LiveSession) -> None:
        """End ``session`` when idle or too long (its own thread, gone once it ends)."""
        with self._changed:
            while self._session is session:
                now = time.monotonic()
                idle_until = session.last_block + self.idle_timeout_s
                limit = session.started + self.max_session_s
                if now >= limit:
                    reason = f'it reached the limit of {self.max_session_s:g} s'
                elif now >= idle_until:
                    reason = f'no audio arrived for {self.idle_timeout_s:g} s'
                else:
                    self._changed.wait(min(idle_until, limit) - now)
                    continue
                self._end(session, reason)


def block_samples(body: bytes) -> np.ndarray:
    """A request body as float32 samples ``[n]``, or :class:`RequestRejected` (400, 413)."""
    if not body or len(body) % SAMPLE_BYTES:
        raise RequestRejected(400, f'a live block is little-endian float32 samples: a '
                                   f'non-zero multiple of {SAMPLE_BYTES} bytes, got {len(body)}')
    check_block_size(len(body))
    samples = np.frombuffer(body, dtype='<f4')
    if not np.isfinite(samples).all():
        raise RequestRejected(400, 'the live block contains NaN or infinite samples')
    return samples.astype(np.float32)


def check_block_size(size: int) -> None:
    """:class:`RequestRejected` (413) when a block of ``size`` bytes is over the largest."""
    if size > MAX_BLOCK_SAMPLES * SAMPLE_BYTES:
        raise RequestRejected(413, f'a live block holds at most {MAX_BLOCK_SAMPLES} samples '
                                   f'({MAX_BLOCK_SAMPLES * SAMPLE_BYTES} bytes), got {size} bytes')
