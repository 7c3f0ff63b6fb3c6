"""What an upload may cost the demo server: decoding bounded from the header and done block by
block, a total deadline per upload that keeps idle clients out of the queue, malformed
Content-Length headers, the queue's length, the duration limit at its edge."""
import io
import socket
import threading
import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from serve_helpers import SlowPipeline, echo, post_audio, running, wav_of

from modelscope_frcrn.audio import read_mono
from modelscope_frcrn.errors import AudioDecodeError, AudioInputError, AudioLayoutError
from modelscope_frcrn.serve import MAX_SECONDS, DemoWorker, RequestRejected
from modelscope_frcrn.serve.worker import MAX_QUEUED, check_upload, decode_mono

STREAMINFO_SAMPLES = slice(18, 26)  # 'fLaC', block header, then rate|channels|bits|total samples


def flac_declaring(channels: int, sample_rate: int, total_frames: int) -> bytes:
    """A 0.1 s FLAC whose STREAMINFO claims ``total_frames`` frames (a ~1 kB file can claim hours)."""
    data = bytearray(wav_of(np.zeros((sample_rate // 10, channels), np.float32), sample_rate,
                            'FLAC'))
    fields = int.from_bytes(data[STREAMINFO_SAMPLES], 'big')
    fields = (fields & ~((1 << 36) - 1)) | total_frames
    data[STREAMINFO_SAMPLES] = fields.to_bytes(8, 'big')
    return bytes(data)


def test_a_small_file_declaring_a_costly_decode_is_refused_from_its_header():
    upload = flac_declaring(8, 384000, int(327 * 384000))  # the review's ~5 GB decode
    assert sf.info(io.BytesIO(upload)).duration == pytest.approx(327)
    with pytest.raises(RequestRejected) as refused:
        check_upload(upload)
    assert refused.value.status == 413
    assert str(refused.value) == ('the recording has 8 channels at 384000 Hz for 327 s (1005 '
                                  'million samples); the limit is 126 million, e.g. 5.5 min of '
                                  '8 channels at 48 kHz')


@pytest.mark.parametrize('channels, rate, error, message', [
    (65, 16000, AudioLayoutError, 'the upload has 65 channels; up to 64 are supported'),
    (1, 999, AudioDecodeError, 'the upload declares a sample rate of 999 Hz; 1000 to 768000 Hz'),
    (1, 2**31 - 1, AudioDecodeError, 'the upload declares a sample rate of 2147483647 Hz'),
])
def test_impossible_headers_are_refused_before_decoding(channels, rate, error, message):
    upload = bytearray(wav_of(np.zeros((1600, 1), np.float32)))
    upload[22:24] = channels.to_bytes(2, 'little')
    upload[24:28] = rate.to_bytes(4, 'little')
    with pytest.raises(error, match=message):
        check_upload(bytes(upload))


def test_multichannel_uploads_are_mixed_down_block_by_block():
    rng = np.random.default_rng(0)
    eight = (0.1 * rng.standard_normal((48000 * 30, 8))).astype(np.float32)  # 30 s at 48 kHz
    upload = wav_of(eight, 48000, 'FLAC')
    del eight
    tracemalloc.start()
    try:
        mono, rate = decode_mono(upload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    reference = read_mono(upload, 48000)  # decodes all 8 channels whole, then mixes
    assert rate == 48000 and mono.shape == reference.shape == (48000 * 30,)
    np.testing.assert_allclose(mono, reference, atol=1e-4)
    # the whole decode would hold 46 MB of float32; the result is 5.8 MB, held twice while
    # its blocks are joined
    assert peak < 2 * mono.nbytes + 4 * 2**20, peak


@pytest.mark.parametrize('upload_rate, demo_rate', [(8000, 16000), (44100, 44100),
                                                    (96000, 48000)])
def test_uploads_keep_their_rate_within_16_to_48_khz(upload_rate, demo_rate):
    tone = np.sin(2 * np.pi * 440 * np.arange(upload_rate) / upload_rate).astype(np.float32)
    mono, rate = decode_mono(wav_of(tone, upload_rate))
    assert rate == demo_rate and mono.size == pytest.approx(demo_rate, abs=2)


def test_nan_samples_in_an_upload_are_refused():
    samples = np.zeros(1600, np.float32)
    samples[800] = np.nan
    upload = io.BytesIO()
    sf.write(upload, samples, 16000, subtype='FLOAT', format='WAV')
    with pytest.raises(AudioInputError, match='NaN or infinite'):
        decode_mono(upload.getvalue())


def send_headers_and(server, body: bytes, length: int = 1000) -> socket.socket:
    """A connection that sent a POST's headers and ``body`` (of ``length`` declared), then idles."""
    client = socket.create_connection(server.server_address[:2], timeout=30)
    client.sendall(b'POST /api/denoise HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % length
                   + body)
    return client


def test_idle_uploads_hold_no_queue_place_and_end_with_408():
    with running(DemoWorker(echo), upload_deadline_s=2.0) as demo:
        idle = [send_headers_and(demo, b'R') for _ in range(MAX_QUEUED + 1)]
        try:
            started = time.monotonic()
            assert post_audio(demo, wav_of(np.zeros(1600))).status == 200
            assert time.monotonic() - started < 2.0  # answered while every idle one still waits
            for client in idle:
                answer = client.makefile('rb').read()
                assert answer.startswith(b'HTTP/1.0 408 ')
                assert answer.endswith(b'{"error": "the upload did not arrive within 2 s '
                                       b'(1 of 1000 bytes received)"}')
        finally:
            for client in idle:
                client.close()


def test_the_deadline_is_for_the_whole_upload_not_each_read():
    with running(DemoWorker(echo), upload_deadline_s=1.0) as demo:
        with send_headers_and(demo, b'') as trickle:
            started = time.monotonic()
            answer = b''
            trickle.settimeout(0.2)
            while not answer:  # a byte every 0.2 s would pass any per-read timeout
                trickle.sendall(b'R')
                try:
                    answer = trickle.recv(1000)
                except socket.timeout:
                    pass
            assert answer.startswith(b'HTTP/1.0 408 ')
            assert 1.0 <= time.monotonic() - started < 3.0


@pytest.mark.parametrize('value', [b'\xb2', '²'.encode(), b'-1', b'1e3', b'0x10', b' ', b'1 000',
                                   b'9' * 30])
def test_a_malformed_content_length_is_answered_400(value):
    with running(DemoWorker(echo)) as demo:
        with socket.create_connection(demo.server_address[:2], timeout=30) as client:
            client.sendall(b'POST /api/denoise HTTP/1.1\r\nHost: x\r\nContent-Length: ' + value
                           + b'\r\n\r\nRIFF')
            answer = client.makefile('rb').read()
        assert answer.startswith(b'HTTP/1.0 400 ')
        assert b'{"error": "invalid Content-Length: ' in answer
        assert post_audio(demo, wav_of(np.zeros(1600))).status == 200


def test_one_runs_and_three_wait_then_busy():
    pipeline = SlowPipeline()
    worker = DemoWorker(pipeline)
    upload = wav_of(np.zeros(1600))
    with running(worker) as demo:
        answers = []
        first = threading.Thread(target=lambda: answers.append(post_audio(demo, upload)))
        first.start()
        assert pipeline.started.wait(30)
        waiting = [threading.Thread(target=lambda: answers.append(post_audio(demo, upload)))
                   for _ in range(MAX_QUEUED - 1)]
        for thread in waiting:
            thread.start()
        deadline = time.monotonic() + 30
        while worker.waiting < MAX_QUEUED - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.waiting == 3
        busy = post_audio(demo, upload)
        pipeline.release.set()
        for thread in [first, *waiting]:
            thread.join()
    assert busy.status == 503 and 'busy' in busy.json()['error']
    assert [answer.status for answer in answers] == [200] * 4


def test_the_duration_limit_is_inclusive():
    rng = np.random.default_rng(0)
    limit_frames = int(MAX_SECONDS * 16000)  # 5,242,880 frames: 327.68 s
    noise = (0.01 * rng.standard_normal(limit_frames + 1)).astype(np.float32)
    with running(DemoWorker(echo)) as demo:
        at_limit = post_audio(demo, wav_of(noise[:limit_frames], file_format='FLAC'))
        assert at_limit.status == 200, at_limit.body[:200]
        assert at_limit.json()['audio_seconds'] == MAX_SECONDS
        over = post_audio(demo, wav_of(noise, file_format='FLAC'))
        assert over.status == 413
        assert over.json()['error'] == 'the recording is 5.5 min long; the limit is 5.5 min'
