"""The README's pipeline keywords beyond the model card's contract: ``backend='onnx'``,
``precision=``, ``sample_rate=<Hz>``, ``array_sample_rate=``, and an http URL as input."""
import functools
import http.server
import threading

import numpy as np
import pytest
from conftest import write_wav
from modelscope.outputs import OutputKeys
from modelscope.pipelines import pipeline
from modelscope.utils.constant import Tasks


def build(model_dir, **kwargs):
    return pipeline(Tasks.acoustic_noise_suppression, model=str(model_dir), device='cpu', **kwargs)


def pcm(result) -> np.ndarray:
    return np.frombuffer(result[OutputKeys.OUTPUT_PCM], dtype=np.int16).astype(np.int32)


@pytest.fixture
def noisy_file(tmp_path):
    rng = np.random.default_rng(0)
    return write_wav(tmp_path / 'noisy.wav', (0.1 * rng.standard_normal(16000)).astype(np.float32))


def test_sample_rate_in_hz(identity_model_dir, noisy_file):
    result = build(identity_model_dir)(str(noisy_file), sample_rate=8000)

    assert result['sample_rate'] == 8000 and pcm(result).size == 8000


def test_array_sample_rate_is_a_numpy_inputs_rate(identity_model_dir, tmp_path):
    rng = np.random.default_rng(1)
    at_48k = (0.1 * rng.standard_normal(48000)).astype(np.float32)
    ans = build(identity_model_dir)

    from_array = ans(at_48k, array_sample_rate=48000, sample_rate='keep')
    from_file = ans(str(write_wav(tmp_path / 'at_48k.wav', at_48k, 48000, 'FLOAT')),
                    sample_rate='keep')

    assert from_array['sample_rate'] == 48000 and pcm(from_array).size == 48000
    np.testing.assert_array_equal(pcm(from_array), pcm(from_file))


def test_an_http_url_is_fetched(identity_model_dir, noisy_file):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(noisy_file.parent))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ans = build(identity_model_dir)
    try:
        from_url = ans(f'http://127.0.0.1:{server.server_address[1]}/{noisy_file.name}')
    finally:
        server.shutdown()
        server.server_close()

    np.testing.assert_array_equal(pcm(from_url), pcm(ans(str(noisy_file))))


def test_backend_onnx_matches_torch(random_model_dir, noisy_file):
    pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (extra [onnx])')
    pytest.importorskip('onnx', reason='onnx is not installed (extra [onnx])')

    onnx_out = pcm(build(random_model_dir, backend='onnx')(str(noisy_file)))
    torch_out = pcm(build(random_model_dir)(str(noisy_file)))

    assert np.abs(onnx_out - torch_out).max() <= 2 and np.abs(torch_out).max() > 100


def test_precision_bf16_is_close_to_fp32_but_not_the_same(random_model_dir, noisy_file):
    bf16 = pcm(build(random_model_dir, precision='bf16')(str(noisy_file)))
    fp32 = pcm(build(random_model_dir)(str(noisy_file)))

    assert not np.array_equal(bf16, fp32)
    error = np.sum((bf16 - fp32).astype(np.float64) ** 2)
    assert 10 * np.log10(np.sum(fp32.astype(np.float64) ** 2) / error) > 20
