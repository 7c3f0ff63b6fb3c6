"""Memory and latency of the web demo (``modelscope-frcrn serve``) for the largest upload it accepts.

The model card's widget accepts uploads of at most 10 MB and declares an
inference spec of 1 CPU and 1000 MB. This starts the real server in a
subprocess (default: the shipped model), posts one upload, and reports the server
process's resident memory once ready and at its peak (``VmHWM``: model loading,
decoding, inference, spectrograms, the JSON answer), and the request's latency.

Uploads (``--upload``): ``wav``, a 10 MB WAV (16 kHz mono PCM_16: the example
recording repeated, 327.7 s); ``costliest``, the costliest upload the server
accepts: a FLAC under 10 MB of 8 channels at 48 kHz for the whole 327.7 s
(``MAX_DECODED_SAMPLES``; the example in channel 1, the others silent).

    python benchmarks/serve_memory.py [--upload costliest] [--model M] [--threads 1] [--json FILE]
"""
import argparse
import http.client
import io
import json
import platform
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import soundfile as sf
import soxr

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_WAV = REPO_ROOT / 'examples' / 'speech_with_noise.wav'
READY_PREFIX = 'serving the FRCRN demo on '
WAV_HEADER_BYTES = 44


def upload_of(size: int) -> bytes:
    """A 16 kHz mono PCM_16 WAV of exactly ``size`` bytes: the example, repeated."""
    example, _ = sf.read(str(EXAMPLE_WAV), dtype='int16')
    frames = (size - WAV_HEADER_BYTES) // 2
    stream = io.BytesIO()
    sf.write(stream, np.resize(example, frames), 16000, subtype='PCM_16', format='WAV')
    assert len(stream.getvalue()) == size
    return stream.getvalue()


def costliest_upload() -> bytes:
    """8 channels at 48 kHz for ``MAX_SECONDS``: as many samples as the server decodes."""
    from modelscope_frcrn.serve.worker import MAX_DECODED_SAMPLES

    rate, channels = 48000, 8
    example, _ = sf.read(str(EXAMPLE_WAV), dtype='float32')
    samples = np.zeros((int(MAX_DECODED_SAMPLES) // channels, channels), np.float32)
    samples[:, 0] = np.resize(soxr.resample(example, 16000, rate), len(samples)) / 4
    stream = io.BytesIO()
    sf.write(stream, samples, rate, subtype='PCM_16', format='FLAC')
    assert len(stream.getvalue()) <= 10 * 2**20
    return stream.getvalue()


def start_server(model: Optional[str], threads: Optional[int]) -> Tuple[subprocess.Popen, str, int]:
    code = ('import torch; torch.set_num_threads(%d); ' % threads if threads else '') + (
        f'from modelscope_frcrn.serve import serve; serve({model!r}, port=0)')
    process = subprocess.Popen([sys.executable, '-u', '-c', code], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    while True:
        ready, _, _ = select.select([process.stdout], [], [], 300)
        line = process.stdout.readline() if ready else ''
        if line.startswith(READY_PREFIX):
            address = line[len(READY_PREFIX):].split()[0].removeprefix('http://').rstrip('/')
            host, port = address.rsplit(':', 1)
            return process, host, int(port)
        if not line:
            process.kill()
            raise SystemExit('the server did not start')


def memory_mb(pid: int) -> Dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak so far) of ``pid`` in MiB."""
    fields = dict(line.split(':', 1) for line in Path(f'/proc/{pid}/status').read_text().splitlines())
    return {key: int(fields[key].split()[0]) / 1024 for key in ('VmRSS', 'VmHWM')}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', help='model directory or id (default: the shipped model)')
    parser.add_argument('--threads', type=int, help='torch threads in the server (default: torch\'s)')
    parser.add_argument('--upload', choices=('wav', 'costliest'), default='wav',
                        help='what to post (default: wav, see above)')
    parser.add_argument('--megabytes', type=float, default=10.0,
                        help='size of the wav upload (default: 10)')
    parser.add_argument('--json', help='default: benchmarks/serve_memory.json, '
                                       'serve_memory_costliest.json for --upload costliest')
    args = parser.parse_args()
    json_path = args.json or str(REPO_ROOT / 'benchmarks' / (
        'serve_memory_costliest.json' if args.upload == 'costliest' else 'serve_memory.json'))

    body = costliest_upload() if args.upload == 'costliest' else upload_of(int(args.megabytes * 2**20))
    process, host, port = start_server(args.model, args.threads)
    try:
        ready = memory_mb(process.pid)
        connection = http.client.HTTPConnection(host, port, timeout=3600)
        start = time.perf_counter()
        connection.request('POST', '/api/denoise', body=body, headers={'Content-Type': 'audio/wav'})
        response = connection.getresponse()
        answer = json.loads(response.read())
        latency = time.perf_counter() - start
        after = memory_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    if response.status != 200:
        raise SystemExit(f'HTTP {response.status}: {answer}')
    result = {
        'upload': args.upload, 'upload_bytes': len(body), 'audio_seconds': answer['audio_seconds'],
        'rss_ready_mb': round(ready['VmRSS'], 1), 'rss_peak_mb': round(after['VmHWM'], 1),
        'rss_after_mb': round(after['VmRSS'], 1), 'inference_spec_memory_mb': 1000,
        'processing_seconds': answer['processing_seconds'], 'request_seconds': round(latency, 2),
        'rtf': round(answer['processing_seconds'] / answer['audio_seconds'], 3),
        'model': args.model or 'default', 'torch_threads': args.threads,
        'machine': {'cpu': platform.processor() or platform.machine(), 'python': platform.python_version()},
    }
    print(json.dumps(result, indent=2))
    Path(json_path).write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
