"""Full-band output above 16 kHz: the band above 8 kHz is kept on speech, cleaned on noise,
and joined to the model's band without a seam (issue 14)."""
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO_ROOT
from scipy.signal import butter, sosfiltfilt, welch

from modelscope_frcrn.audio import resample
from modelscope_frcrn.evaluation.metrics import si_snr
from modelscope_frcrn.inference import build_enhancer
from modelscope_frcrn.inference.bandsplit import UpperBandCleaner, applies, frame_gain, upper_lag
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.inference.loading import load_model

RATE = 48000


def passthrough(chunk: np.ndarray) -> np.ndarray:
    return chunk.copy()


def band_energy_db(output: np.ndarray, reference: np.ndarray, low: float, high: float,
                   rate: int = RATE) -> float:
    """Energy of ``output`` relative to ``reference`` between ``low`` and ``high`` Hz."""
    frequencies, before = welch(reference, rate, nperseg=2048)
    _, after = welch(output, rate, nperseg=2048)
    band = (frequencies >= low) & (frequencies < high)
    return float(10 * np.log10(after[band].sum() / before[band].sum()))


def speech_with_air() -> np.ndarray:
    """Real clean speech at 48 kHz with a band above 8 kHz that follows it: the held-out
    recording's 4-8 kHz band shifted up by 8 kHz (as bandwidth extension does). ``[1, T]``."""
    clean, rate = sf.read(str(REPO_ROOT / 'tests' / 'assets' / 'heldout_clean.wav'),
                          dtype='float32')
    speech = resample(clean[None, :3 * rate], rate, RATE)[0]
    band = sosfiltfilt(butter(8, [4200, 7800], 'bandpass', fs=RATE, output='sos'), speech)
    shifted = 2 * band * np.cos(2 * np.pi * 8000 * np.arange(band.size) / RATE)
    air = sosfiltfilt(butter(8, 8200, 'highpass', fs=RATE, output='sos'), shifted)
    return (speech + air).astype(np.float32)[None]


@pytest.fixture(scope='module')
def shipped():
    torch.manual_seed(0)
    return Denoiser(build_enhancer(load_model()))


def test_clean_speech_keeps_its_high_band_with_the_shipped_model(shipped):
    speech = speech_with_air()

    full = shipped.enhance(speech, sample_rate=RATE)
    model_only = resample(shipped.enhance(speech, sample_rate=RATE, bandwidth='model'),
                          16000, RATE)

    assert full.shape == speech.shape
    assert abs(band_energy_db(full[0], speech[0], 8000, 20000)) <= 3.0
    assert abs(band_energy_db(full[0], speech[0], 100, 8000)) <= 3.0  # same loudness
    assert band_energy_db(model_only[0], speech[0], 8000, 20000) < -40  # what 'model' loses


def test_clean_speech_file_is_the_input_with_a_pass_through(tmp_path):
    source, output = tmp_path / 'speech.wav', tmp_path / 'out.wav'
    sf.write(str(source), speech_with_air()[0], RATE, subtype='FLOAT')

    Denoiser(passthrough, chunk_seconds=1.0, overlap_seconds=0.25).denoise_file(source, output)

    before, _ = sf.read(str(source), dtype='float32')
    after, rate = sf.read(str(output), dtype='float32')
    assert rate == RATE and after.shape == before.shape
    assert si_snr(after, before) >= 20.0
    assert abs(band_energy_db(after, before, 8000, 20000)) <= 3.0
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_white_noise_loses_as_much_above_8_khz_as_below(shipped, tmp_path):
    noise = (0.05 * np.random.default_rng(0).standard_normal(2 * RATE)).astype(np.float32)
    source, output = tmp_path / 'noise.wav', tmp_path / 'out.wav'
    sf.write(str(source), noise, RATE, subtype='FLOAT')

    shipped.denoise_file(source, output)

    enhanced, _ = sf.read(str(output), dtype='float32')
    low_loss = -band_energy_db(enhanced, noise, 50, 8000)
    high_loss = -band_energy_db(enhanced, noise, 8000, 20000)
    assert low_loss > 6.0  # the model did take noise away
    assert high_loss >= low_loss


class Scale:
    """A pointwise enhancer: multiplies its input by ``factor``."""

    def __init__(self, factor: float):
        self.factor = factor

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        return self.factor * chunk


@pytest.mark.parametrize('rate', [44100, 48000])
@pytest.mark.parametrize('length_seconds', [0.05, 1.3, 4.77])
@pytest.mark.parametrize('block', [999, 44100, 10 ** 6])
def test_no_seam_at_blocks_or_chunks(rate, length_seconds, block):
    """The chunking test's exactness with full band on: a pass-through gives the input back,
    doubling doubles the model's band only (the gain never exceeds 1) -- at every sample,
    whatever the block and chunk boundaries; halving gives what one block and one chunk give."""
    signal = np.random.default_rng(block).standard_normal((2, round(length_seconds * rate)))
    signal = (0.1 * signal).astype(np.float32)
    low = resample(resample(signal, rate, 16000), 16000, rate)

    def run(enhance, block=block, chunk_seconds=0.5):
        denoiser = Denoiser(enhance, chunk_seconds=chunk_seconds, overlap_seconds=0.1)
        blocks = [signal[:, start:start + block] for start in range(0, signal.shape[-1], block)]
        gain = np.ones((2, 1), np.float32)
        out = denoiser._denoise_blocks(blocks, rate, signal.shape[-1], gain, rate, False, None)
        return np.concatenate(list(out), axis=1)

    np.testing.assert_array_equal(run(passthrough), signal)
    np.testing.assert_allclose(run(Scale(2.0)), signal + low, atol=1e-5)
    np.testing.assert_allclose(run(Scale(0.5)), run(Scale(0.5), 10 ** 7, chunk_seconds=10.0),
                               atol=1e-6)


def test_frame_gain_follows_the_model_and_stays_in_range():
    noisy = np.random.default_rng(1).standard_normal((1, 16000)).astype(np.float32)
    kept, quieter = frame_gain(noisy, noisy, 0.01), frame_gain(noisy, 0.1 * noisy, 0.01)
    silenced = frame_gain(noisy, 0 * noisy, 0.01)

    np.testing.assert_array_equal(kept, 1.0)
    np.testing.assert_allclose(quieter, 0.1, rtol=1e-4)
    np.testing.assert_allclose(silenced, 0.01)  # the floor
    assert frame_gain(0 * noisy, 0 * noisy, 0.01).min() == 1.0  # silence: untouched


def through_cleaner(high: np.ndarray, gains: np.ndarray, block: int = 10 ** 7):
    """``(G - 1)(high)`` for frame gains ``gains``, both ``[C, T]`` at 48 kHz, pushed in
    ``block``s; and what each push gave."""
    cleaner = UpperBandCleaner(RATE, 0.01)
    stacked = np.concatenate([high, gains - 1.0]).astype(np.float32)
    pieces = [cleaner.push(stacked[:, start:start + block])
              for start in range(0, high.shape[-1], block)]
    return np.concatenate(pieces + [cleaner.finish()], axis=1), pieces


def test_upper_band_keeps_what_stands_above_its_noise_where_the_model_heard_noise():
    """The model calls every frame noise (frame gain -20 dB, as where it removes loud
    low-frequency noise): after a second of noise alone, the upper band's noise goes down
    at least as much (measured: 28 dB), and a 12 kHz tone far above that noise comes
    through (measured: -0.03 dB)."""
    t = np.arange(2 * RATE) / RATE
    noise = 0.01 * np.random.default_rng(2).standard_normal(t.size)
    tone = 0.05 * np.sin(2 * np.pi * 12000 * t) * (t >= 1.0)
    high = (sosfiltfilt(butter(8, 8000, 'highpass', fs=RATE, output='sos'), noise) + tone)[None]

    out = high + through_cleaner(high, np.full_like(high, 0.1))[0]

    later = slice(int(1.1 * RATE), None)
    assert abs(band_energy_db(out[0, later], high[0, later], 11900, 12100)) < 1.0
    assert band_energy_db(out[0, later], high[0, later], 14000, 20000) < -20.0


def test_steady_noise_goes_down_as_far_as_the_model_took_it_from_the_first_frame():
    """The model takes 35 dB off every frame of white noise: the upper band's noise goes
    down nearly as far over the whole second, its start included (measured: 36.9 dB; the
    Wiener gain alone, with a noise estimate its first frame could lock low: 29.8 dB)."""
    noise = 0.05 * np.random.default_rng(3).standard_normal(RATE)
    high = sosfiltfilt(butter(8, 8000, 'highpass', fs=RATE, output='sos'), noise)[None]

    out = high + through_cleaner(high, np.full_like(high, 10 ** (-35 / 20)))[0]

    assert band_energy_db(out[0], high[0], 8500, 20000) < -33.0


@pytest.mark.parametrize('block', [1, 7, 480, 999])
def test_upper_band_is_the_same_whatever_the_blocks(block):
    rng = np.random.default_rng(block)
    high = (0.1 * rng.standard_normal((2, RATE // 4))).astype(np.float32)
    ramp = np.linspace(0.05, 1.0, high.shape[-1], dtype=np.float32)
    gains = np.stack([ramp, ramp[::-1]])

    whole, _ = through_cleaner(high, gains)
    out, pieces = through_cleaner(high, gains, block)

    assert whole.shape == high.shape
    np.testing.assert_array_equal(out, whole)
    given = np.cumsum([piece.shape[-1] for piece in pieces])
    pushed = np.minimum(np.arange(1, len(pieces) + 1) * block, high.shape[-1])
    assert (pushed - given).max() <= upper_lag(RATE)


def test_full_band_applies_only_above_16_khz():
    assert applies('full', 48000, 48000) and applies('full', 44100, 22050)
    assert not applies('full', 16000, 16000) and not applies('full', 48000, 16000)
    assert not applies('model', 48000, 48000)
    with pytest.raises(ValueError, match='bandwidth'):
        applies('wide', 48000, 48000)
