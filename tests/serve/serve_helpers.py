"""Helpers for the demo server's tests: a server on a free port in a thread, raw HTTP requests,
and stand-in pipelines."""
import http.client
import io
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, Optional

import numpy as np
import soundfile as sf
from conftest import EXAMPLE_WAV

from modelscope_frcrn.audio import to_int16
from modelscope_frcrn.serve import DemoWorker, make_server
from modelscope_frcrn.serve.server import DemoServer


@contextmanager
def running(denoiser: DemoWorker, example=EXAMPLE_WAV, **options) -> Iterator[DemoServer]:
    """``make_server`` on 127.0.0.1 and a free port, serving in a thread until the block ends;
    ``options``: ``make_server``'s keyword arguments."""
    server = make_server(denoiser, '127.0.0.1', 0, example, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Response:
    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def request(server: DemoServer, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None) -> Response:
    """Send ``path`` exactly as given (http.client does not normalise ``..`` or ``%2e``)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return Response(answer.status, dict(answer.getheaders()), answer.read())
    finally:
        connection.close()


def post_audio(server: DemoServer, data: bytes) -> Response:
    return request(server, 'POST', '/api/denoise', data, {'Content-Type': 'audio/wav'})


def wav_of(samples: np.ndarray, sample_rate: int = 16000, file_format: str = 'WAV') -> bytes:
    stream = io.BytesIO()
    sf.write(stream, samples, sample_rate, format=file_format)
    return stream.getvalue()


def echo(samples: np.ndarray, **options) -> dict:
    """A stand-in pipeline: returns its input as the 'enhanced' int16 PCM (at its own rate)."""
    return {'output_pcm': to_int16(samples).tobytes()}


class SlowPipeline:
    """Echoes its input after ``seconds`` or once released; counts the calls running at once."""

    def __init__(self, seconds: float = 10.0):
        self.seconds = seconds
        self.started = threading.Event()
        self.release = threading.Event()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, samples: np.ndarray, **options) -> dict:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.started.set()
        self.release.wait(self.seconds)
        with self._lock:
            self.running -= 1
        return echo(samples)
