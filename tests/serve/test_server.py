"""The demo server over HTTP: the page and its assets, denoising through the real pipeline,
the widget's 10 MB limit, bad uploads, path traversal, the queue, failures, the subcommand."""
import argparse
import base64
import io
import re
import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import EXAMPLE_WAV, REPO_ROOT
from PIL import Image
from serve_helpers import SlowPipeline, echo, post_audio, request, running, wav_of

from modelscope_frcrn.inference import load_pipeline
from modelscope_frcrn.serve import MAX_UPLOAD_BYTES, DemoWorker, ServerStartError, add_parser
from modelscope_frcrn.serve.server import DEFAULT_HOST, DEFAULT_PORT, make_server

EXAMPLE_PATH = '/examples/speech_with_noise.wav'
ASSET_PATHS = ('/', '/app.js', '/style.css', '/api/config', EXAMPLE_PATH)


@pytest.fixture(scope='module')
def server(identity_model_dir):
    """The real pipeline with the identity model (its output reproduces its input)."""
    with running(DemoWorker(load_pipeline(str(identity_model_dir)))) as demo:
        yield demo


@pytest.fixture
def echo_server():
    with running(DemoWorker(echo)) as demo:
        yield demo


def decoded(b64_text: str) -> bytes:
    return base64.b64decode(b64_text)


def test_the_example_is_denoised_through_the_pipeline(server):
    answer = post_audio(server, EXAMPLE_WAV.read_bytes())
    assert answer.status == 200, answer.body[:300]
    result = answer.json()
    enhanced, rate = sf.read(io.BytesIO(decoded(result['enhanced_wav'])), dtype='int16')
    original, _ = sf.read(str(EXAMPLE_WAV), dtype='int16')
    assert rate == 16000 and enhanced.shape == original.shape  # 16 kHz mono, same length
    assert np.corrcoef(enhanced, original)[0, 1] > 0.99  # the identity model
    for key in ('input_spectrogram', 'enhanced_spectrogram'):
        image = Image.open(io.BytesIO(decoded(result[key])))
        assert image.format == 'PNG' and image.width > 100 and image.height == 200
    assert result['audio_seconds'] == pytest.approx(9.16)
    assert result['processing_seconds'] > 0 and result['queued_seconds'] >= 0


def band_level_db(samples: np.ndarray, rate: int, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(samples.size, 1 / rate)
    return 10 * np.log10(spectrum[(frequencies >= low_hz) & (frequencies < high_hz)].sum())


def test_stereo_44k_flac_comes_back_as_44k_mono_with_its_high_band(server, speech_like):
    t = np.arange(speech_like.size) / 44100
    with_air = speech_like + 0.05 * np.sin(2 * np.pi * 12000 * t)  # [T] at "44.1 kHz"
    stereo = np.stack([with_air, 0.5 * with_air], axis=1)  # [T, 2]
    answer = post_audio(server, wav_of(stereo, 44100, 'FLAC'))
    assert answer.status == 200, answer.body[:300]
    enhanced, rate = sf.read(io.BytesIO(decoded(answer.json()['enhanced_wav'])), dtype='float32')
    assert rate == 44100 and enhanced.shape == (speech_like.size,)  # mono, the upload's rate
    mono = 0.75 * with_air
    # the identity model and the full band: the 12 kHz tone is kept (a 16 kHz round trip
    # would leave nothing there)
    assert band_level_db(enhanced, rate, 11900, 12100) == pytest.approx(
        band_level_db(mono, rate, 11900, 12100), abs=1.0)


def test_an_upload_over_10_mb_is_refused_before_decoding(echo_server):
    answer = post_audio(echo_server, b'\0' * (MAX_UPLOAD_BYTES + 1))
    assert answer.status == 413
    assert answer.json()['error'] == 'the file is 10.0 MB; the limit is 10 MB'
    assert post_audio(echo_server, wav_of(np.zeros(1600))).status == 200  # still serving


def test_a_compressed_upload_longer_than_the_limit_is_refused(echo_server):
    six_minutes = wav_of(np.zeros(6 * 60 * 16000, dtype=np.float32), file_format='FLAC')
    assert len(six_minutes) < MAX_UPLOAD_BYTES
    answer = post_audio(echo_server, six_minutes)
    assert answer.status == 413
    assert answer.json()['error'] == 'the recording is 6.0 min long; the limit is 5.5 min'


@pytest.mark.parametrize('body', [b'{"not": "audio"}', (REPO_ROOT / 'README.md').read_bytes(),
                                  b'RIFF\x00\x00\x00\x00WAVEjunk'])
def test_a_non_audio_upload_is_refused_with_a_message(echo_server, body):
    answer = post_audio(echo_server, body)
    assert answer.status == 415
    assert answer.json()['error'].startswith('cannot decode the upload as audio (')
    assert answer.json()['error'].endswith('upload a WAV, FLAC, OGG or MP3 file')


def test_empty_and_unsized_uploads_are_refused(echo_server):
    empty = post_audio(echo_server, b'')
    assert (empty.status, empty.json()['error']) == (400, 'the upload is empty (0 bytes)')
    unsized = request(echo_server, 'POST', '/api/denoise', headers={'Transfer-Encoding': 'chunked'})
    assert unsized.status == 411 and 'Content-Length' in unsized.json()['error']


def test_a_truncated_upload_is_refused(echo_server):
    with socket.create_connection(echo_server.server_address[:2], timeout=30) as client:
        client.sendall(b'POST /api/denoise HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n'
                       + b'RIFF' * 10)
        client.shutdown(socket.SHUT_WR)
        answer = client.makefile('rb').read()
    assert answer.startswith(b'HTTP/1.0 400 ')
    assert answer.endswith(b'{"error": "the upload ended after 40 of 1000 bytes"}')
    assert post_audio(echo_server, wav_of(np.zeros(1600))).status == 200


@pytest.mark.parametrize('path', [
    '/example/../../setup.py', '/../setup.py', '/%2e%2e/setup.py', '/%2e%2e%2fsetup.py',
    '/..%2f..%2fsetup.py', '/app.js/../../../setup.py', '/static/../../../setup.py',
    '/setup.py', '/README.md', '/static/app.js', '/serve/static/index.html',
    '/modelscope_frcrn/serve/server.py', '/../../../../../../etc/passwd', '//etc/passwd',
    '/%2fetc%2fpasswd', EXAMPLE_PATH + '/..', '/examples/../setup.py', '/examples/make_example.py',
    '/examples/%2e%2e/setup.py', '/examples/README.md', '\\..\\setup.py',
])
def test_no_other_file_is_readable(echo_server, path):
    answer = request(echo_server, 'GET', path)
    assert answer.status in (400, 404)
    assert b'setup(' not in answer.body and b'root:' not in answer.body
    assert len(answer.body) < 100


def test_the_page_assets_and_example_are_served_with_a_strict_policy(echo_server):
    for path in ASSET_PATHS:
        answer = request(echo_server, 'GET', path)
        assert answer.status == 200, path
        assert "default-src 'self'" in answer.headers['Content-Security-Policy']
        assert answer.headers['X-Content-Type-Options'] == 'nosniff'
    assert request(echo_server, 'GET', EXAMPLE_PATH).body == EXAMPLE_WAV.read_bytes()
    config = request(echo_server, 'GET', '/api/config').json()
    assert config == {'max_upload_bytes': 10 * 2**20, 'max_seconds': 327.68,
                      'example': EXAMPLE_PATH}


def test_the_page_loads_nothing_from_elsewhere(echo_server):
    page = request(echo_server, 'GET', '/').body.decode()
    for reference in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert reference.startswith(('/', 'data:')) and not reference.startswith('//'), reference
    for path in ('/', '/app.js', '/style.css'):
        assert b'://' not in request(echo_server, 'GET', path).body, path


def test_without_the_example_its_route_is_gone():
    with running(DemoWorker(echo), example=None) as demo:
        assert request(demo, 'GET', EXAMPLE_PATH).status == 404
        assert request(demo, 'GET', '/api/config').json()['example'] is None


def test_posts_elsewhere_are_not_found(echo_server):
    assert request(echo_server, 'POST', EXAMPLE_PATH, b'x').status == 404
    assert request(echo_server, 'POST', '/api/denoise/../../setup.py', b'x').status == 404


def test_requests_are_queued_and_run_one_at_a_time():
    pipeline = SlowPipeline()
    worker = DemoWorker(pipeline, max_queued=3)
    with running(worker) as demo:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(
            post_audio(demo, wav_of(np.zeros(1600))))) for _ in range(3)]
        for thread in threads:
            thread.start()
        assert pipeline.started.wait(30)
        # the requests overlap for sure: two wait in the queue while the first one runs
        deadline = time.monotonic() + 30
        while worker._jobs.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker._jobs.qsize() == 2
        time.sleep(0.2)
        pipeline.release.set()
        for thread in threads:
            thread.join()
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert pipeline.most_running == 1
    assert sorted(answer.json()['queued_seconds'] >= 0.2 for answer in answers) == [False, True,
                                                                                   True]


def test_a_full_queue_answers_busy_and_recovers():
    pipeline = SlowPipeline()
    with running(DemoWorker(pipeline, max_queued=1)) as demo:
        first = threading.Thread(target=post_audio, args=(demo, wav_of(np.zeros(1600))))
        first.start()
        assert pipeline.started.wait(30)
        busy = post_audio(demo, wav_of(np.zeros(1600)))
        pipeline.release.set()
        first.join()
        assert busy.status == 503 and 'busy' in busy.json()['error']
        assert post_audio(demo, wav_of(np.zeros(1600))).status == 200


def test_a_failing_request_leaves_the_server_running():
    calls = []

    def fails_once(samples, **options):
        calls.append(samples.size)
        if len(calls) == 1:
            raise RuntimeError('out of memory')
        return echo(samples)

    with running(DemoWorker(fails_once)) as demo:
        failed = post_audio(demo, wav_of(np.zeros(1600)))
        assert failed.status == 500
        assert failed.json()['error'] == 'denoising failed: RuntimeError: out of memory'
        assert post_audio(demo, wav_of(np.zeros(1600))).status == 200


def test_a_busy_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError, match=f'cannot listen on 127.0.0.1:{port}'):
            make_server(DemoWorker(echo), '127.0.0.1', port)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog='modelscope-frcrn')
    add_parser(root.add_subparsers(required=True))
    return root


def test_the_subcommand_binds_to_this_machine_by_default():
    args = parser().parse_args(['serve'])
    assert (args.host, args.port, args.model, args.device) == (DEFAULT_HOST, DEFAULT_PORT,
                                                              None, 'cpu')
    assert DEFAULT_HOST == '127.0.0.1' and DEFAULT_PORT == 7860
    assert args.run.__name__ == 'run_serve'


def test_the_subcommand_has_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(['serve', '--help'])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ('--host', '--port', '--model', '--device', '10 MB'):
        assert option in text
