"""The pipeline's full-band output and strength control (issue 14), with the identity model."""
import numpy as np
import pytest
import soundfile as sf
from modelscope.outputs import OutputKeys
from modelscope.pipelines import pipeline
from modelscope.utils.constant import Tasks


@pytest.fixture(scope='module')
def identity_ans(identity_model_dir):
    return pipeline(Tasks.acoustic_noise_suppression, model=str(identity_model_dir), device='cpu')


def tones(rate: int, seconds: float = 1.0) -> np.ndarray:
    """300 Hz (the model's band) plus 12 kHz (above it), ``[T]`` float32."""
    t = np.arange(round(seconds * rate)) / rate
    signal = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 12000 * t)
    return signal.astype(np.float32)


def level_at(samples: np.ndarray, rate: int, frequency: float) -> float:
    """Amplitude of the ``frequency`` component."""
    t = np.arange(samples.size) / rate
    return 2 * abs(np.vdot(np.exp(2j * np.pi * frequency * t), samples)) / samples.size


@pytest.fixture
def file_48k(tmp_path):
    path = tmp_path / 'tones.wav'
    sf.write(str(path), tones(48000), 48000, subtype='FLOAT')
    return str(path)


def pcm_of(result) -> np.ndarray:
    return np.frombuffer(result[OutputKeys.OUTPUT_PCM], dtype=np.int16) / 32768.0


def test_keep_rate_keeps_the_band_above_8_khz(identity_ans, file_48k):
    result = identity_ans(file_48k, sample_rate='keep')

    out = pcm_of(result)
    assert result['sample_rate'] == 48000 and out.size == 48000
    assert level_at(out, 48000, 12000) == pytest.approx(0.1, abs=2e-3)
    assert level_at(out, 48000, 300) == pytest.approx(0.3, abs=2e-3)


def test_model_bandwidth_is_the_old_output(identity_ans, file_48k):
    out = pcm_of(identity_ans(file_48k, sample_rate='keep', bandwidth='model'))

    assert level_at(out, 48000, 12000) < 1e-3
    assert level_at(out, 48000, 300) == pytest.approx(0.3, abs=2e-3)


def test_zero_limit_returns_the_input(random_model_dir):
    random_ans = pipeline(Tasks.acoustic_noise_suppression, model=str(random_model_dir))
    noisy = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)

    unlimited, limited = (pcm_of(random_ans(noisy, atten_limit_db=limit)) for limit in (None, 0))

    assert np.abs(unlimited - noisy).max() > 0.01  # the model does change it
    np.testing.assert_allclose(limited, noisy, atol=2 / 32768)


def test_unknown_bandwidth_is_refused(identity_ans, file_48k):
    with pytest.raises(ValueError, match='bandwidth'):
        identity_ans(file_48k, sample_rate='keep', bandwidth='wide')
