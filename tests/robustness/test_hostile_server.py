"""The demo server on loopback under a bounded burst of concurrent uploads, slow uploads and
malformed requests: every connection gets an answer (or a clean close where HTTP allows no
answer), and the server keeps serving."""
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hostile_audio import HEADER_LIES, hang_guard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'serve'))
from serve_helpers import SlowPipeline, post_audio, running, wav_of  # noqa: E402

from modelscope_frcrn.serve import DemoWorker  # noqa: E402
from modelscope_frcrn.serve.server import MAX_RECEIVING  # noqa: E402
from modelscope_frcrn.serve.worker import MAX_QUEUED  # noqa: E402

BURST = 24
UPLOAD = wav_of(np.zeros(1600))
MALFORMED = [
    b'\r\n\r\n',
    b'GARBAGE\r\n\r\n',
    b'GET\r\n\r\n',
    b'GET / HTTP/9.9\r\n\r\n',
    b'GET /' + b'a' * 70000 + b' HTTP/1.1\r\n\r\n',
    b'GET / HTTP/1.1\r\n' + b'X: y\r\n' * 200 + b'\r\n',
    b'GET / HTTP/1.1\r\nX-Long: ' + b'y' * 70000 + b'\r\n\r\n',
    b'POST /api/denoise HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nRIFF',
    b'POST /api/denoise HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
    b'POST /api/denoise HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n',
    b'POST /api/denoise HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n',
    b'POST /api/denoise HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nRIFF\r\n0\r\n\r\n',
    b'POST /api/denoise HTTP/1.1\r\nContent-Length: 4\r\n\r\n\x00\xff\x00\xff',
    b'DELETE / HTTP/1.1\r\n\r\n',
    b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + bytes(range(256)),  # a TLS hello
    bytes(range(256)) * 4,
]


def exchange(server, request: bytes, timeout: float = 30) -> bytes:
    """Send ``request`` raw, half-close, and return everything the server answers."""
    with socket.create_connection(server.server_address[:2], timeout=timeout) as client:
        try:
            client.sendall(request)
            client.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):  # the server answered and closed
            pass
        try:
            return client.makefile('rb').read()
        except ConnectionResetError:
            return b''


@pytest.fixture
def server():
    with running(DemoWorker(SlowPipeline(seconds=0.05)), upload_deadline_s=2.0) as demo:
        yield demo


def test_malformed_requests_are_answered_and_the_server_stays_up(server):
    with hang_guard(120):
        for request in MALFORMED:
            answer = exchange(server, request)
            if not request.strip():  # no request at all: nothing to answer, the line closes
                assert answer == b''
            elif answer.startswith(b'{'):  # no valid HTTP version: an HTTP/0.9 answer, body only
                assert answer.startswith(b'{"error": '), answer
            else:
                assert answer.startswith(b'HTTP/1.'), (request[:40], answer[:80])
                status = int(answer.split()[1])  # 4xx, 501 (method), 505 (version); not 500
                assert 400 <= status < 500 or status in (501, 505), (request[:40], answer[:200])
                assert b'{"error": ' in answer
        assert post_audio(server, UPLOAD).status == 200


def test_header_lies_get_a_4xx_answer(server):
    for name, data in HEADER_LIES.items():
        answer = post_audio(server, data)
        assert answer.status in (200, 400, 413, 415), (name, answer.body[:200])
        assert answer.status == 200 or 'error' in answer.json()
    assert post_audio(server, UPLOAD).status == 200  # and the server stays up


def test_a_burst_of_concurrent_uploads_is_answered_each():
    pipeline = SlowPipeline(seconds=0.05)
    answers = []
    with running(DemoWorker(pipeline)) as demo, hang_guard(120):
        # the listen backlog holds the whole burst: an overflow resets a connection now and then
        assert demo.request_queue_size >= BURST
        threads = [threading.Thread(target=lambda: answers.append(post_audio(demo, UPLOAD)))
                   for _ in range(BURST)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(answer.status for answer in answers)
        assert len(statuses) == BURST and set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= MAX_QUEUED  # the first four always get a place
        assert pipeline.most_running == 1
        assert post_audio(demo, UPLOAD).status == 200


def test_slow_and_idle_uploads_end_by_the_deadline_and_leave_room(server):
    with hang_guard(120):
        clients = []
        for number in range(MAX_RECEIVING + 4):
            client = socket.create_connection(server.server_address[:2], timeout=30)
            client.sendall(b'POST /api/denoise HTTP/1.1\r\nContent-Length: %d\r\n\r\n'
                           % len(UPLOAD) + UPLOAD[:number])
            clients.append(client)
        started = time.monotonic()
        answers = [client.makefile('rb').read() for client in clients]
        for client in clients:
            client.close()
        statuses = sorted(int(answer.split()[1]) for answer in answers)
        # up to MAX_RECEIVING wait for their bodies and time out; the rest are refused at once
        assert statuses == [408] * MAX_RECEIVING + [503] * 4, statuses
        assert time.monotonic() - started < 10
        assert post_audio(server, UPLOAD).status == 200
