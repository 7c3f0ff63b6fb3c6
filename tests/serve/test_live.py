"""The live protocol over HTTP with a stand-in network: start, blocks, stop, one session at a
time, uploads refused meanwhile, the idle and total time bounds, bad tokens, blocks and order."""
import threading
import time

import numpy as np
import pytest
from serve_helpers import SlowPipeline, echo, post_audio, request, running, wav_of

from modelscope_frcrn.serve import DemoWorker
from modelscope_frcrn.serve.live import BLOCK_SAMPLES, MAX_BLOCK_SAMPLES, LiveSessions

START = '/api/live/start'


def identity(chunk: np.ndarray) -> np.ndarray:
    return chunk


@pytest.fixture
def live_server():
    worker = DemoWorker(echo)
    with running(worker, live=LiveSessions(worker, identity)) as demo:
        yield demo


def start(server) -> dict:
    answer = request(server, 'POST', START)
    assert answer.status == 200, answer.body
    return answer.json()


def send(server, token: str, sequence, samples: np.ndarray):
    return request(server, 'POST', f'/api/live/{token}?seq={sequence}',
                   samples.astype('<f4').tobytes(), {'Content-Type': 'application/octet-stream'})


def stop(server, token: str):
    return request(server, 'POST', f'/api/live/{token}/stop')


def as_samples(body: bytes) -> np.ndarray:
    return np.frombuffer(body, dtype='<f4')


def test_a_session_returns_the_stream_delayed_by_the_stated_latency(live_server):
    session = start(live_server)
    assert session['sample_rate'] == 16000 and session['block_samples'] == BLOCK_SAMPLES
    assert session['latency_samples'] == 7999 and session['latency_ms'] == 499.9
    assert (session['idle_timeout_s'], session['max_session_s']) == (5.0, 180.0)
    assert session['atten_limit_db'] is None
    signal = np.sin(np.arange(12 * BLOCK_SAMPLES) * 0.05).astype(np.float32) * 0.3
    answers = []
    for sequence, block in enumerate(np.split(signal, 12)):
        answer = send(live_server, session['token'], sequence, block)
        assert answer.status == 200, answer.body
        answers.append(as_samples(answer.body))
    assert all(len(answer) == BLOCK_SAMPLES for answer in answers)  # as many as sent
    tail = stop(live_server, session['token'])
    assert tail.status == 200 and len(as_samples(tail.body)) == session['latency_samples']
    stream = np.concatenate(answers + [as_samples(tail.body)])
    latency = session['latency_samples']
    assert not stream[:latency].any()
    np.testing.assert_allclose(stream[latency:], signal, atol=1e-4)


def test_one_session_at_a_time_and_uploads_wait_for_its_end(live_server):
    token = start(live_server)['token']
    busy = request(live_server, 'POST', START)
    assert busy.status == 503
    assert busy.json()['error'].startswith('someone is already using live denoising')
    upload = post_audio(live_server, wav_of(np.zeros(1600)))
    assert upload.status == 503
    assert upload.json()['error'].startswith('a live session is using the model')
    assert stop(live_server, token).status == 200
    assert post_audio(live_server, wav_of(np.zeros(1600))).status == 200
    assert stop(live_server, start(live_server)['token']).status == 200


def test_a_session_does_not_start_while_an_upload_is_denoised():
    pipeline = SlowPipeline()
    worker = DemoWorker(pipeline)
    with running(worker, live=LiveSessions(worker, identity)) as demo:
        upload = threading.Thread(target=post_audio, args=(demo, wav_of(np.zeros(1600))))
        upload.start()
        assert pipeline.started.wait(10)
        answer = request(demo, 'POST', START)
        pipeline.release.set()
        upload.join()
        assert answer.status == 503
        assert answer.json()['error'] == ('the server is denoising uploads; try live again in '
                                          'a minute')
        assert stop(demo, start(demo)['token']).status == 200


@pytest.mark.parametrize('bound, message', [
    ({'idle_timeout_s': 0.3}, 'the live session has ended: no audio arrived for 0.3 s'),
    ({'max_session_s': 0.6}, 'the live session has ended: it reached the limit of 0.6 s'),
])
def test_a_session_ends_when_idle_or_too_long_and_frees_the_model(bound, message):
    worker = DemoWorker(echo)
    with running(worker, live=LiveSessions(worker, identity, **bound)) as demo:
        token = start(demo)['token']
        block = np.zeros(BLOCK_SAMPLES, np.float32)
        deadline = time.monotonic() + 5
        sequence = 0
        while time.monotonic() < deadline:  # a block every 0.2 s keeps it from idling
            answer = send(demo, token, sequence, block)
            if answer.status != 200 or 'idle_timeout_s' in bound:
                break
            sequence += 1
            time.sleep(0.2)
        if 'idle_timeout_s' in bound:
            time.sleep(0.6)
            answer = send(demo, token, 1, block)
        assert answer.status == 410 and answer.json()['error'] == message
        assert post_audio(demo, wav_of(np.zeros(1600))).status == 200  # the model is free
        assert stop(demo, token).status == 410
        assert stop(demo, start(demo)['token']).status == 200


def test_bad_tokens_blocks_and_order_get_clear_errors(live_server):
    token = start(live_server)['token']
    block = np.zeros(BLOCK_SAMPLES, np.float32)
    assert send(live_server, 'not-a-session', 0, block).status == 404
    assert request(live_server, 'POST', '/api/live/../denoise').status == 404
    for body, status, error in [
            (b'', 400, 'a live block is little-endian float32 samples: a non-zero multiple of 4 '
                       'bytes, got 0'),
            (b'\0' * 6, 400, 'a live block is little-endian float32 samples: a non-zero '
                             'multiple of 4 bytes, got 6'),
            (b'\0' * (4 * MAX_BLOCK_SAMPLES + 4), 413, 'a live block holds at most 16000 samples '
                                                      '(64000 bytes), got 64004 bytes'),
            (np.full(4, np.nan, '<f4').tobytes(), 400, 'the live block contains NaN or infinite '
                                                       'samples')]:
        answer = request(live_server, 'POST', f'/api/live/{token}?seq=0', body)
        assert (answer.status, answer.json()['error']) == (status, error)
    assert send(live_server, token, 0, block).status == 200  # refused blocks count for nothing
    repeated = send(live_server, token, 0, block)
    assert repeated.status == 409
    assert repeated.json()['error'] == ("expected block 1 of the live session, got seq='0' (a "
                                        "block was lost or reordered)")
    assert send(live_server, token, 1, block).status == 200
    assert stop(live_server, token).status == 200
    assert send(live_server, token, 2, block).status == 410


def test_the_strength_applies_to_the_session(live_server):
    answer = request(live_server, 'POST', f'{START}?atten_limit=12')
    assert answer.status == 200 and answer.json()['atten_limit_db'] == 12.0
    assert stop(live_server, answer.json()['token']).status == 200
    refused = request(live_server, 'POST', f'{START}?atten_limit=-3')
    assert refused.status == 400
    assert refused.json()['error'] == "atten_limit must be a number of dB from 0 up, got '-3'"


def test_without_live_sessions_the_routes_say_so():
    with running(DemoWorker(echo)) as demo:
        answer = request(demo, 'POST', START)
        assert answer.status == 404
        assert answer.json()['error'] == 'live denoising is not available on this server'


def test_the_capture_worklet_is_served_under_the_strict_policy(live_server):
    answer = request(live_server, 'GET', '/capture-worklet.js')
    assert answer.status == 200 and b"registerProcessor('capture'" in answer.body
    assert answer.headers['Content-Type'] == 'text/javascript; charset=utf-8'
    assert "default-src 'self'" in answer.headers['Content-Security-Policy']
