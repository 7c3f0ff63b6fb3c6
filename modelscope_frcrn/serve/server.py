"""The demo web server (standard library ``http.server``) and the ``serve`` subcommand.

Routes, all fixed: ``GET /`` (the page), ``/app.js``, ``/style.css``,
``/examples/speech_with_noise.wav`` (the bundled example, when present), ``/api/config`` and
``POST /api/denoise[?atten_limit=DB]`` (body: the raw bytes of an audio file; the query sets
the attenuation limit, see :mod:`~modelscope_frcrn.inference.strength`; answer: JSON, see
:meth:`~modelscope_frcrn.serve.worker.Enhancement.to_json`, or
``{"error": message}`` with a 4xx/5xx status), and live denoising of a microphone
(``/capture-worklet.js``, ``POST /api/live/start``, ``/api/live/<token>[/stop]``: see
:mod:`~modelscope_frcrn.serve.live`). Paths are looked up as exact strings, never mapped
onto the file system, so no other file can be read.

An upload is received whole, within ``UPLOAD_DEADLINE_S`` in total, before it
asks for a place in the denoiser's queue: a slow or idle client holds one of
``MAX_RECEIVING`` receiving places for at most that long, never the queue.
"""
import argparse
import ipaddress
import json
import logging
import math
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from ..errors import AudioDecodeError, AudioInputError, FRCRNError
from .live import LiveSessions, check_block_size
from .worker import MAX_SECONDS, MAX_UPLOAD_BYTES, DemoWorker, RequestRejected, check_size

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 7860
STATIC_DIR = Path(__file__).parent / 'static'
EXAMPLE_WAV = STATIC_DIR / 'speech_with_noise.wav'
DENOISE_PATH = '/api/denoise'
LIVE_PATH = re.compile(r'/api/live/(?:(?P<start>start)|(?P<token>[A-Za-z0-9_-]{1,64})'
                       r'(?P<stop>/stop)?)')
#: the longest wait for any one read of a request line or header
READ_TIMEOUT_S = 60
#: the longest an upload may take in total (10 MB at about 0.7 Mbit/s)
UPLOAD_DEADLINE_S = 120.0
#: uploads received at the same time; more are answered 503 (each holds up to 10 MB)
MAX_RECEIVING = 8
#: the pipeline's chunk length: 5 s chunks keep a 10 MB upload within the widget's inference
#: spec of 1000 MB (10 s chunks peak near 1.1 GB; see benchmarks/serve_memory.py)
CHUNK_SECONDS = 5.0
#: allocations from this size are mapped and returned to the system when freed (see serve)
MALLOC_THRESHOLD_BYTES = 1 << 20
#: a refused upload is read and thrown away up to this size so that the browser
#: sees the answer instead of a reset connection; beyond it the connection is closed
DISCARD_LIMIT = 4 * MAX_UPLOAD_BYTES
SECURITY_HEADERS = {
    # nothing loads from elsewhere; media and images come from this server, blobs or data URLs
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
}

logger = logging.getLogger(__name__)


def attenuation_limit(path: str) -> Optional[float]:
    """The ``atten_limit`` query parameter of a request path in dB (None when absent or inf).

    Raises:
        RequestRejected: (400) not a number of dB from 0 up.
    """
    values = parse_qs(urlsplit(path).query).get('atten_limit')
    if not values:
        return None
    try:
        limit = float(values[0])
    except ValueError:
        limit = -1.0
    if not limit >= 0:
        raise RequestRejected(400, f'atten_limit must be a number of dB from 0 up, '
                                   f'got {values[0]!r}')
    return None if math.isinf(limit) else limit


class ServerStartError(FRCRNError, OSError):
    """The server cannot listen on the host and port asked for."""


@dataclass(frozen=True)
class Asset:
    content_type: str
    body: bytes


def load_assets(example: Optional[Path] = EXAMPLE_WAV) -> Dict[str, Asset]:
    """Every GET route's content, read once: the page, its script and style, the example."""
    assets = {path: Asset(content_type, (STATIC_DIR / name).read_bytes())
              for path, name, content_type in (
                  ('/', 'index.html', 'text/html; charset=utf-8'),
                  ('/app.js', 'app.js', 'text/javascript; charset=utf-8'),
                  ('/style.css', 'style.css', 'text/css; charset=utf-8'),
                  ('/capture-worklet.js', 'capture-worklet.js',
                   'text/javascript; charset=utf-8'))}
    example_path = None
    if example is not None and example.is_file():
        example_path = f'/examples/{example.name}'
        assets[example_path] = Asset('audio/wav', example.read_bytes())
    config = {'max_upload_bytes': MAX_UPLOAD_BYTES, 'max_seconds': MAX_SECONDS,
              'example': example_path}
    assets['/api/config'] = Asset('application/json', json.dumps(config).encode())
    return assets


class DemoServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the denoiser and the GET routes' content."""
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of connections overflows it, the kernel
    # falls back to SYN cookies and, under CPU load, resets one now and then before any answer
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], denoiser: DemoWorker, assets: Dict[str, Asset],
                 upload_deadline_s: float = UPLOAD_DEADLINE_S,
                 live: Optional[LiveSessions] = None):
        super().__init__(address, DemoHandler)
        self.denoiser = denoiser
        self.live = live
        self.assets = assets
        self.upload_deadline_s = upload_deadline_s
        self.receiving = threading.BoundedSemaphore(MAX_RECEIVING)

    def handle_error(self, request, client_address) -> None:
        """One line for a client that went away or stalled; a full traceback for anything else."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, socket.timeout)):
            logger.info('connection from %s ended: %s', client_address[0], error)
        else:
            logger.exception('request from %s failed', client_address[0])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f'http://{f"[{host}]" if ":" in host else host}:{port}/'


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer
    server_version = 'modelscope-frcrn'
    timeout = READ_TIMEOUT_S

    def do_GET(self) -> None:
        asset = self.server.assets.get(urlsplit(self.path).path)
        if asset is None:
            self._send_error(404, 'not found')
        else:
            self._send(200, asset.content_type, asset.body)

    def do_POST(self) -> None:
        try:
            length = self._content_length()
        except RequestRejected as error:
            self.close_connection = True
            self._send_error(error.status, str(error))
            return
        path = urlsplit(self.path).path
        live_route = LIVE_PATH.fullmatch(path)
        if live_route:
            self._live(live_route, length)
        elif path == DENOISE_PATH:
            status, answer = self._denoise(length)
            self._send(status, 'application/json', json.dumps(answer).encode())
        else:
            self._discard(length)
            self._send_error(404, 'not found')

    def _live(self, route: re.Match, length: int) -> None:
        """Answer one request of the live protocol (see :mod:`~modelscope_frcrn.serve.live`)."""
        unread = length
        try:
            check_block_size(length)
            unread = 0  # as in _denoise
            body = self._receive(length)
            content_type, answer = self._live_answer(route, body)
        except RequestRejected as error:
            self._discard(unread)
            self._send_error(error.status, str(error))
            return
        self._send(200, content_type, answer)

    def _live_answer(self, route: re.Match, body: bytes) -> Tuple[str, bytes]:
        """(content type, answer) of a live request whose body was read."""
        live = self.server.live
        if live is None:
            raise RequestRejected(404, 'live denoising is not available on this server')
        if route['start']:
            limit = attenuation_limit(self.path)
            return 'application/json', json.dumps(live.start(limit)).encode()
        if route['stop']:
            return 'application/octet-stream', live.stop(route['token'])
        sequence = parse_qs(urlsplit(self.path).query).get('seq', [''])[0]
        return 'application/octet-stream', live.process(route['token'], sequence, bytes(body))

    def _denoise(self, length: int) -> Tuple[int, dict]:
        """Run one upload of ``length`` bytes; (status, JSON answer). Never raises."""
        unread = length
        try:
            check_size(length)
            unread = 0  # whatever happens while reading, nothing more is read
            data = self._receive(length)
            limit = attenuation_limit(self.path)
            with self.server.denoiser.queue_slot():
                return 200, self.server.denoiser.enhance(data, limit).to_json()
        except RequestRejected as error:
            status, message = error.status, str(error)
        except AudioInputError as error:
            status, message = (415 if isinstance(error, AudioDecodeError) else 400), str(error)
        except Exception as error:  # one bad request must not stop the server
            logger.exception('denoising failed')
            status, message = 500, f'denoising failed: {type(error).__name__}: {error}'
        self._discard(unread)
        return status, {'error': message}

    def _content_length(self) -> int:
        value = self.headers.get('Content-Length')
        if value is None:
            raise RequestRejected(411, 'send the audio file as the request body with a '
                                       'Content-Length header')
        if not re.fullmatch(r'[0-9]{1,18}', value.strip()):  # str.isdigit takes '²'
            raise RequestRejected(400, f'invalid Content-Length: {value!r}')
        return int(value)

    def _receive(self, length: int) -> bytearray:
        """The body, read within the upload deadline while holding a receiving place."""
        if not self.server.receiving.acquire(blocking=False):
            self.close_connection = True
            raise RequestRejected(503, 'the server is receiving too many uploads; try again in '
                                       'a minute')
        try:
            return self._read_body(length, time.monotonic() + self.server.upload_deadline_s)
        finally:
            self.server.receiving.release()
            self.connection.settimeout(self.timeout)

    def _read_body(self, length: int, deadline: float) -> bytearray:
        body = bytearray()
        while len(body) < length:
            try:
                self.connection.settimeout(max(deadline - time.monotonic(), 1e-3))
                chunk = self.rfile.read1(min(length - len(body), 1 << 16))
            except socket.timeout as error:
                self.close_connection = True
                raise RequestRejected(408, f'the upload did not arrive within '
                                           f'{self.server.upload_deadline_s:g} s ({len(body)} of '
                                           f'{length} bytes received)') from error
            if not chunk:
                self.close_connection = True
                raise RequestRejected(400, f'the upload ended after {len(body)} of {length} bytes')
            body += chunk
        return body

    def _discard(self, length: int) -> None:
        """Read and drop an unread body (up to ``DISCARD_LIMIT``; beyond, close the connection)."""
        if length > DISCARD_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return
            length -= len(chunk)

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None
                   ) -> None:
        """http.server's answer to a malformed request, as JSON with the usual headers."""
        self.close_connection = True
        self._send_error(code, message or self.responses.get(code, ('error',))[0])

    def _send_error(self, status: int, message: str) -> None:
        self._send(status, 'application/json', json.dumps({'error': message}).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def make_server(denoiser: DemoWorker, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                example: Optional[Path] = EXAMPLE_WAV,
                upload_deadline_s: float = UPLOAD_DEADLINE_S,
                live: Optional[LiveSessions] = None) -> DemoServer:
    """A server bound to ``host``:``port`` (0: any free port), not yet serving; ``live``:
    the live sessions (None: the live routes answer 404).

    Raises:
        ServerStartError: the address cannot be bound (in use, not local...).
    """
    try:
        return DemoServer((host, port), denoiser, load_assets(example), upload_deadline_s,
                          live)
    except OSError as error:
        raise ServerStartError(f'cannot listen on {host}:{port}: {error}') from error


def serve(model: Optional[str] = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          device: str = 'cpu') -> None:
    """Load ``model`` once (default: the shipped model) and serve the demo until Ctrl+C.

    Raises:
        ServerStartError: the address cannot be bound.
        FRCRNError: the model cannot be loaded.
    """
    from ..inference import load_pipeline
    from ..inference.backends import tune_malloc

    pipeline = load_pipeline(model, device, chunk_seconds=CHUNK_SECONDS)
    worker = DemoWorker(pipeline)
    live = LiveSessions(worker, pipeline.denoiser.enhancer)  # the same network, loaded once
    # After the enhancer's own tuning, which keeps freed blocks for speed: here memory matters
    # more, so blocks from 1 MiB up are mapped and go back to the system after each request.
    # A 10 MB upload then peaks near 0.8 GB instead of 1.0 GB (benchmarks/serve_memory.py).
    tune_malloc(MALLOC_THRESHOLD_BYTES)
    server = make_server(worker, host, port, live=live)
    if not _is_loopback(host):
        print(f'warning: listening on {host}: anyone who can reach this address can use the demo')
    print(f'serving the FRCRN demo on {server.url} (Ctrl+C to stop)', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers`` (``ArgumentParser.add_subparsers()``).

    The command stores ``run=run_serve``: call ``args.run(args)``.
    """
    parser = subparsers.add_parser(
        'serve', help='web demo: upload or record noisy speech, hear and see before/after',
        description='Start a local web page to try the denoiser: upload a file, record from the '
                    'microphone or use the bundled example, then listen to and compare the '
                    'noisy and enhanced audio and their spectrograms. Uploads are limited to '
                    f'{MAX_UPLOAD_BYTES // 2**20} MB and {MAX_SECONDS / 60:.1f} min; requests '
                    'are processed one at a time.')
    parser.add_argument('--host', default=DEFAULT_HOST,
                        help=f'address to listen on (default: {DEFAULT_HOST}, this machine only; '
                             '0.0.0.0 opens the demo to the network)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT,
                        help=f'port to listen on (default: {DEFAULT_PORT}; 0 picks a free one)')
    parser.add_argument('--model', metavar='M', help='model directory or ModelScope model id '
                                                     '(default: the model shipped with this package)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda (default: cpu)')
    parser.set_defaults(run=run_serve)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    """The ``serve`` subcommand: serve until interrupted, return 0."""
    serve(args.model, args.host, args.port, args.device)
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == 'localhost'
