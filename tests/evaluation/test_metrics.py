"""Per-pair metrics: known values (identical, scaled, known SNR), NaN instead of crashes,
the optional-dependency error, and DNSMOS running offline from the speechmos wheel."""
import importlib.util
import socket
import sys
import warnings

import numpy as np
import pytest
import torch
from evaluation_signals import speech_like_signal, white_noise_at_snr

from modelscope_frcrn.errors import FRCRNError
from modelscope_frcrn.evaluation import metrics
from modelscope_frcrn.errors import MetricWarning, MissingDependencyError
from modelscope_frcrn.models import losses

HAVE_DNSMOS = all(importlib.util.find_spec(name) is not None
                  for name in ('speechmos', 'onnxruntime'))
needs_dnsmos = pytest.mark.skipif(
    not HAVE_DNSMOS, reason="DNSMOS needs speechmos and onnxruntime: "
                            "pip install 'modelscope_frcrn[eval]'")


@pytest.fixture(scope='module')
def clean():
    return speech_like_signal(3.0, seed=1)


@pytest.fixture(scope='module')
def noise(clean):
    return white_noise_at_snr(clean, 10.0)


def test_identical_signals_score_the_maximum(clean):
    assert metrics.pesq_wb(clean, clean) == pytest.approx(4.64, abs=0.01)
    assert metrics.pesq_nb(clean, clean) == pytest.approx(4.55, abs=0.01)
    assert metrics.stoi(clean, clean) == pytest.approx(1.0, abs=1e-6)
    assert metrics.si_snr(clean, clean) >= 60


def test_a_scaled_copy_scores_like_the_original(clean, noise):
    noisy = clean + noise
    assert metrics.si_snr(0.25 * noisy, clean) == pytest.approx(metrics.si_snr(noisy, clean),
                                                                abs=1e-6)
    assert metrics.si_snr(noisy, 3.0 * clean) == pytest.approx(metrics.si_snr(noisy, clean),
                                                               abs=1e-6)
    assert metrics.pesq_wb(clean, 0.5 * clean) == pytest.approx(4.64, abs=0.01)
    assert metrics.pesq_nb(clean, 0.5 * noisy) == pytest.approx(metrics.pesq_nb(clean, noisy),
                                                                abs=0.05)
    assert metrics.stoi(clean, 0.5 * noisy) == pytest.approx(metrics.stoi(clean, noisy), abs=1e-6)


@pytest.mark.parametrize('snr_db', [0.0, 10.0, 20.0])
def test_white_noise_at_a_known_snr(clean, snr_db):
    noisy = clean + white_noise_at_snr(clean, snr_db, seed=7)

    assert metrics.si_snr(noisy, clean) == pytest.approx(snr_db, abs=0.5)
    assert metrics.pesq_wb(clean, noisy) < 4.0
    assert metrics.pesq_nb(clean, noisy) < 4.0
    assert metrics.stoi(clean, noisy) < 0.999


def test_more_noise_scores_lower(clean):
    scores = [metrics.score_pair(clean, clean + white_noise_at_snr(clean, snr, seed=7),
                                 with_dnsmos=False) for snr in (30.0, 5.0)]
    for key in ('pesq_wb', 'pesq_nb', 'stoi', 'si_snr'):
        assert scores[0][key] > scores[1][key], key


def test_si_snr_improvement_has_the_sign_of_the_change(clean, noise):
    noisy = clean + noise
    better = clean + 0.3 * noise  # 10.46 dB less noise

    assert metrics.si_snr_improvement(better, noisy, clean) == pytest.approx(10.46, abs=0.3)
    assert metrics.si_snr_improvement(noisy, better, clean) == pytest.approx(-10.46, abs=0.3)
    assert metrics.si_snr_improvement(noisy, noisy, clean) == 0.0


def test_si_snr_removes_the_mean_and_matches_the_training_loss_without(clean, noise):
    noisy = clean + noise
    offset = noisy + 0.2

    assert metrics.si_snr(offset, clean) == pytest.approx(metrics.si_snr(noisy, clean), abs=1e-9)
    assert metrics.si_snr(offset, clean, zero_mean=False) < metrics.si_snr(noisy, clean) - 3
    torch_si_snr = losses.si_snr_per_item  # the training loss's SI-SNR of one item
    for estimate in (noisy, offset):
        loss_value = torch_si_snr(torch.from_numpy(estimate)[None], torch.from_numpy(clean)[None])
        assert metrics.si_snr(estimate, clean, zero_mean=False) == pytest.approx(
            float(loss_value), abs=1e-6)


def test_failures_become_nan_with_a_warning(clean):
    silence = np.zeros_like(clean)
    short = clean[4000:5600]  # 0.1 s: too short for PESQ and STOI
    cases = [
        (metrics.pesq_wb, clean, silence), (metrics.pesq_nb, clean, silence),
        (metrics.pesq_wb, silence, clean), (metrics.stoi, silence, clean),
        (metrics.si_snr, clean, silence),  # reference second: silent reference
        (metrics.pesq_wb, short, short), (metrics.pesq_nb, short, short),
        (metrics.stoi, short, short), (metrics.stoi, short[:100], short[:100]),
    ]
    for function, first, second in cases:
        with pytest.warns(MetricWarning, match='NaN'):
            assert np.isnan(function(first, second)), function.__name__


def test_a_silent_estimate_has_a_very_low_si_snr(clean):
    assert metrics.si_snr(np.zeros_like(clean), clean) < -60


def test_different_lengths_are_compared_over_the_common_length(clean, noise):
    noisy = clean + noise
    with pytest.warns(MetricWarning, match='comparing the first 47200 samples'):
        scores = metrics.score_pair(clean, noisy[:-800], with_dnsmos=False)
    assert scores == metrics.score_pair(clean[:-800], noisy[:-800], with_dnsmos=False)


def test_narrow_band_pesq_at_8k(clean, noise):
    at_8k = metrics.pesq_nb(clean, clean + noise, rate=8000)
    assert 1.0 < at_8k < 4.6
    assert metrics.pesq_nb(clean, clean, rate=8000) == pytest.approx(4.55, abs=0.01)
    with pytest.raises(ValueError, match='8000 or 16000'):
        metrics.pesq_nb(clean, clean, rate=44100)


def test_signals_must_be_mono(clean):
    assert metrics.si_snr(clean[None], clean) >= 60  # [1, T] is fine
    with pytest.raises(ValueError, match='mono'):
        metrics.si_snr(np.stack([clean, clean]), clean)


def test_a_missing_package_names_the_extra(clean, monkeypatch):
    monkeypatch.setitem(sys.modules, 'pesq', None)  # makes `import pesq` fail

    with pytest.raises(MissingDependencyError, match=r"pip install 'modelscope_frcrn\[eval\]'") \
            as caught:
        metrics.pesq_wb(clean, clean)
    assert isinstance(caught.value, FRCRNError) and isinstance(caught.value, ImportError)


@needs_dnsmos
def test_dnsmos_runs_offline_and_gives_mos_values(clean, noise, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError('DNSMOS tried to open a network connection')

    monkeypatch.setattr(socket.socket, 'connect', no_network)
    monkeypatch.setattr(socket, 'create_connection', no_network)
    monkeypatch.setattr(socket, 'getaddrinfo', no_network)

    scores = metrics.dnsmos(clean + noise)

    assert set(scores) == set(metrics.DNSMOS_METRICS)
    for key, value in scores.items():
        assert np.isfinite(value) and 1.0 <= value <= 5.0, (key, value)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        metrics.dnsmos(np.full(16000, 2.0))  # out of [-1, 1]: clipped, not refused
    with pytest.warns(MetricWarning, match='silent'):
        assert all(np.isnan(value) for value in metrics.dnsmos(np.zeros(16000)).values())
