"""The attenuation limit (issue 14): 0 dB gives the input back, L dB never takes more than
L dB off any time-frequency bin (within what resynthesis allows), no limit changes nothing."""
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO_ROOT
from test_bandsplit import speech_with_air

from modelscope_frcrn.cli import main
from modelscope_frcrn.errors import UsageError
from modelscope_frcrn.inference import build_enhancer
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.inference.loading import load_model
from modelscope_frcrn.inference.spectra import MODEL_HOP, istft, stft
from modelscope_frcrn.inference.strength import attenuation_floor, lift, limit_attenuation


def heldout_noisy() -> np.ndarray:
    noisy, _ = sf.read(str(REPO_ROOT / 'tests' / 'assets' / 'heldout_noisy.wav'),
                       dtype='float32')
    return noisy[None]


def attenuation_db(output: np.ndarray, noisy: np.ndarray, hop: int = MODEL_HOP) -> np.ndarray:
    """Per-bin attenuation (dB, positive = quieter) of bins above -60 dB re the loudest,
    on an STFT grid of ``hop``."""
    before, after = np.abs(stft(noisy, hop)), np.abs(stft(output, hop))
    audible = before > 1e-3 * before.max()
    return 20 * np.log10(before[audible] / np.maximum(after[audible], 1e-20))


def frame_loss_db(output: np.ndarray, noisy: np.ndarray, hop: int = MODEL_HOP) -> np.ndarray:
    """Per-frame attenuation (dB) on an STFT grid of ``hop``."""
    def energies(signal):
        return np.sum(np.abs(stft(signal, hop)) ** 2, axis=-1)
    return 10 * np.log10(energies(noisy) / energies(output))


@pytest.fixture(scope='module')
def shipped():
    torch.manual_seed(0)
    return Denoiser(build_enhancer(load_model()))


@pytest.fixture(scope='module')
def shipped_outputs(shipped):
    noisy = heldout_noisy()
    return noisy, {limit: shipped.enhance(noisy, atten_limit_db=limit)
                   for limit in (None, 12.0, 0.0)}


def test_zero_limit_returns_the_input(shipped_outputs):
    noisy, outputs = shipped_outputs
    np.testing.assert_allclose(outputs[0.0], noisy, atol=1e-6)
    assert attenuation_db(outputs[None], noisy).max() > 30  # the model alone takes far more


def test_12_db_limit_holds_in_the_time_frequency_domain(shipped_outputs):
    noisy, outputs = shipped_outputs
    attenuation = attenuation_db(outputs[12.0], noisy)

    assert np.quantile(attenuation, 0.999) <= 12.5  # resynthesis blurs a few bins
    assert attenuation.max() <= 16.0                # measured 15.7
    assert frame_loss_db(outputs[12.0], noisy).max() <= 12.0


def test_12_db_limit_holds_with_the_full_band_at_48_khz(shipped):
    """Speech with air and white noise at 48 kHz: the upper band's per-bin gain has the limit
    as its floor on its own 5 ms grid, the model's band is limited on the model's. On a
    grid that is neither, a few bins fall further (measured: 99.77 % within 12.5 dB,
    99.9 % within 13.5 dB; most often around the 8 kHz crossover); frames do not."""
    speech = speech_with_air()
    noise = 0.3 * np.sqrt(np.mean(speech ** 2)) * np.random.default_rng(3).standard_normal(
        speech.shape)
    noisy = (speech + noise).astype(np.float32)

    limited = shipped.enhance(noisy, sample_rate=48000, atten_limit_db=12.0)

    unlimited = shipped.enhance(noisy, sample_rate=48000)
    assert np.mean(attenuation_db(unlimited, noisy, 240) > 12.5) > 0.3  # measured 0.31
    for hop in (240, 960):  # the upper band's grid; 20 ms frames
        assert frame_loss_db(limited, noisy, hop).max() <= 12.0  # measured 10.4 and 9.8
    attenuation = attenuation_db(limited, noisy, 240)
    assert np.mean(attenuation > 12.5) <= 0.004          # measured 0.0023
    assert np.quantile(attenuation, 0.999) <= 14.0       # measured 13.5


def test_limit_is_exact_on_the_spectrogram_it_lifts():
    rng = np.random.default_rng(0)
    spectra = stft(rng.standard_normal((1, 8000)).astype(np.float32))
    minimum = np.abs(stft(rng.standard_normal((1, 8000)).astype(np.float32)))

    lifted = lift(spectra, minimum)

    assert (np.abs(lifted) >= minimum * (1 - 1e-6)).all()
    keep = np.abs(spectra) >= minimum
    np.testing.assert_array_equal(lifted[keep], spectra[keep])
    np.testing.assert_allclose(np.angle(lifted), np.angle(spectra), atol=1e-5)


def test_a_mask_of_zero_becomes_the_floor():
    noisy = np.random.default_rng(2).standard_normal((2, 16000)).astype(np.float32)
    limited = limit_attenuation(noisy, np.zeros_like(noisy), attenuation_floor(12.0))
    np.testing.assert_allclose(limited, noisy * 10 ** (-12 / 20), atol=1e-5)


def test_no_limit_is_the_model_output():
    noisy = np.random.default_rng(3).standard_normal((1, 4000)).astype(np.float32)
    enhanced = 0.01 * noisy
    assert limit_attenuation(noisy, enhanced, attenuation_floor(None)) is enhanced
    assert attenuation_floor(float('inf')) == 0.0


@pytest.mark.parametrize('bad', [-1.0, float('nan')])
def test_negative_limit_is_refused(bad):
    with pytest.raises(UsageError, match='0 dB or more'):
        attenuation_floor(bad)


def test_stft_round_trip_is_exact():
    signal = np.random.default_rng(4).standard_normal((2, 5001)).astype(np.float32)
    np.testing.assert_allclose(istft(stft(signal), 5001), signal, atol=1e-5)


def test_cli_zero_limit_writes_the_input_at_48_khz(tmp_path, capsys):
    rng = np.random.default_rng(5)
    samples = (0.1 * rng.standard_normal((48000, 2))).astype(np.float32)
    source, output = tmp_path / 'in.wav', tmp_path / 'out.wav'
    sf.write(str(source), samples, 48000, subtype='PCM_16')

    assert main(['denoise', str(source), '-o', str(output), '--atten-limit', '0',
                 '--quiet']) == 0

    before, _ = sf.read(str(source), dtype='int16')
    after, rate = sf.read(str(output), dtype='int16')
    assert rate == 48000
    np.testing.assert_array_equal(after, before)


def test_denoise_help_explains_both_options(capsys):
    with pytest.raises(SystemExit):
        main(['denoise', '--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert '--bandwidth {full,model}' in text and 'above 8 kHz' in text
    assert '--atten-limit DB' in text and 'speech recognition' in text
    assert '0 returns the input' in text


def test_demo_passes_the_slider_limit_to_the_pipeline():
    from modelscope_frcrn.serve.server import attenuation_limit
    from modelscope_frcrn.serve.worker import RequestRejected

    assert attenuation_limit('/api/denoise') is None
    assert attenuation_limit('/api/denoise?atten_limit=inf') is None
    assert attenuation_limit('/api/denoise?atten_limit=12') == 12.0
    for bad in ('-3', 'loud', 'nan'):
        with pytest.raises(RequestRejected, match='atten_limit'):
            attenuation_limit(f'/api/denoise?atten_limit={bad}')


def test_demo_worker_hands_the_limit_to_the_pipeline(tmp_path):
    import io

    from modelscope.outputs import OutputKeys

    from modelscope_frcrn.serve.worker import DemoWorker

    calls = []

    def pipeline(noisy, **options):
        calls.append(options)
        return {OutputKeys.OUTPUT_PCM: (noisy * 16384).astype('<i2').tobytes()}

    wav = io.BytesIO()
    sf.write(wav, 0.1 * np.ones(16000, np.float32), 16000, format='WAV')
    worker = DemoWorker(pipeline)

    worker.enhance(wav.getvalue())
    worker.enhance(wav.getvalue(), 12.0)

    keep = {'array_sample_rate': 16000, 'sample_rate': 'keep'}
    assert calls == [keep, {**keep, 'atten_limit_db': 12.0}]
