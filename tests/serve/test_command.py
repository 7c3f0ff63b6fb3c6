"""``modelscope-frcrn serve`` as a user runs it: ``--model`` and ``--port`` are used, and
``--host 0.0.0.0`` warns that the demo is open to the network."""
import base64
import io
import queue
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile as sf
from serve_helpers import post_audio, wav_of

READY_PREFIX = 'serving the FRCRN demo on '


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def lines_until_ready(process: subprocess.Popen, timeout: float = 300) -> list:
    """The server's stdout lines up to and including the ready line."""
    lines: 'queue.Queue[str]' = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                     daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=1.0))
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if seen[-1].startswith(READY_PREFIX):
            return seen
    raise AssertionError(f'the server did not start: {seen}')


class Address:
    """What serve_helpers.request needs of a server."""

    def __init__(self, port: int):
        self.server_address = ('127.0.0.1', port)


def test_host_port_and_model_options(identity_model_dir):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, '-u', '-m', 'modelscope_frcrn', 'serve', '--host', '0.0.0.0',
         '--port', str(port), '--model', str(identity_model_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = lines_until_ready(process)
        assert any(line.startswith('warning: listening on 0.0.0.0') for line in lines)
        assert f':{port}' in lines[-1]
        samples = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
        answer = post_audio(Address(port), wav_of(samples))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert answer.status == 200
    enhanced, _ = sf.read(io.BytesIO(base64.b64decode(answer.json()['enhanced_wav'])),
                          dtype='float32')
    # the identity model given with --model reproduces its input; the shipped model would not
    assert np.abs(enhanced - samples).max() < 1e-3
