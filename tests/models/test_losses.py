"""The training loss: the official terms, and the optional compressed spectral, residual noise and
envelope correlation (STOI-like) terms."""
import math

import pytest
import torch
from modelscope.models import Model

from modelscope_frcrn.models.losses import (NOISE_FLOOR_DB, compressed_spectral_loss,
                                            envelope_correlation_loss, residual_noise_db, si_snr_per_item)
from modelscope_frcrn.models.stft import ConvSTFT

RATE = 16000


def _speech_with_pause(seconds: float = 1.0) -> torch.Tensor:
    """A voiced-like tone burst (harmonics of 150 Hz) in the first half, silence after. ``[1, T]``."""
    t = torch.arange(int(seconds * RATE)) / RATE
    voiced = sum(torch.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 20))
    return (voiced * (t < seconds / 2)).unsqueeze(0) * 0.1


def test_compressed_spectral_loss_is_zero_on_the_reference_and_grows_with_the_error():
    clean = _speech_with_pause()
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    assert compressed_spectral_loss(clean, clean).item() == pytest.approx(0, abs=1e-6)
    small, large = (compressed_spectral_loss(clean + level * noise, clean).item() for level in (1e-3, 1e-2))
    assert 0 < small < large


def test_compressed_spectral_loss_does_not_depend_on_the_level():
    clean = _speech_with_pause()
    estimate = clean + 1e-3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    assert compressed_spectral_loss(20 * estimate, 20 * clean).item() == pytest.approx(
        compressed_spectral_loss(estimate, clean).item(), rel=1e-4)


def test_compressed_spectral_loss_has_finite_gradients_where_the_target_is_digital_silence():
    # A clean-only training example with a digitally silent tail: the network's output there was
    # down to subnormal floats (1e-45), whose spectra's abs() has a NaN gradient; a training run
    # went to NaN on one.
    clean = _speech_with_pause()
    silent = clean == 0
    tail = 1e-42 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    estimate = (0.9 * clean + tail * silent).requires_grad_()
    compressed_spectral_loss(estimate, clean).backward()
    assert torch.isfinite(estimate.grad).all()


def test_quiet_residual_noise_costs_more_than_si_snr_says():
    # Two estimates with the same SI-SNR: one keeps quiet noise in the pause, the other has an
    # error of the same energy that follows the speech (a slightly wrong gain on the harmonics).
    # SI-SNR cannot tell them apart; the compressed loss ranks the audible residual noise worse.
    clean = _speech_with_pause()
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * (clean == 0)
    speech_error = torch.roll(clean, 1, dims=-1) - clean
    noise = noise * speech_error.norm() / noise.norm()
    with_noise, with_distortion = clean + 0.1 * noise, clean + 0.1 * speech_error
    assert si_snr_per_item(with_noise, clean).item() == pytest.approx(
        si_snr_per_item(with_distortion, clean).item(), abs=0.3)
    assert compressed_spectral_loss(with_noise, clean) > 3 * compressed_spectral_loss(with_distortion, clean)


def _loss_terms(model_dir, **kwargs) -> dict:
    model = Model.from_pretrained(str(model_dir), **kwargs)
    generator = torch.Generator().manual_seed(0)
    clean = 0.1 * torch.randn(2, 8000, generator=generator)
    noisy = clean + 0.05 * torch.randn(2, 8000, generator=generator)
    return model({'noisy': noisy, 'clean': clean})


def test_the_official_loss_is_unchanged_without_a_spectral_weight(random_model_dir):
    outputs = _loss_terms(random_model_dir)
    assert 'spectral' not in outputs and 'spectral' not in outputs['log_vars']
    official = outputs['amp_loss'] + outputs['phase_loss'] + outputs['sisnr']
    assert torch.allclose(outputs['loss'], official)


def test_a_spectral_weight_from_the_configuration_adds_the_weighted_term(random_model_dir):
    outputs = _loss_terms(random_model_dir, spectral_loss_weight=2.5)
    official = outputs['amp_loss'] + outputs['phase_loss'] + outputs['sisnr']
    assert outputs['spectral'].item() > 0 and 'spectral' in outputs['log_vars']
    assert torch.allclose(outputs['loss'], official + 2.5 * outputs['spectral'])
    outputs['loss'].backward()  # the term is differentiable through the network


def test_a_mask_weight_scales_only_the_mask_errors(random_model_dir):
    official = _loss_terms(random_model_dir)
    weighed_down = _loss_terms(random_model_dir, mask_loss_weight=0.1)
    for term in ('amp_loss', 'phase_loss', 'sisnr'):
        assert torch.allclose(weighed_down[term], official[term])
    expected = 0.1 * (official['amp_loss'] + official['phase_loss']) + official['sisnr']
    assert torch.allclose(weighed_down['loss'], expected)
    assert not torch.allclose(weighed_down['loss'], official['loss'])


def _mixture_and_stft():
    """A tone-burst 'speech' with white noise added, and an STFT like the model's (640/320)."""
    clean = _speech_with_pause()
    noisy = clean + 0.01 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    return noisy, clean, ConvSTFT(640, 320, 640, 'hann')


def _constant_mask(stft, noisy, real: float, imaginary: float = 0.0) -> torch.Tensor:
    bins_times_two, frames = stft(noisy).shape[1:]
    half = bins_times_two // 2
    return torch.cat([torch.full((1, half, frames), real), torch.full((1, half, frames), imaginary)], dim=1)


@pytest.mark.parametrize('real, imaginary, expected_db', [(1.0, 0.0, 0.0), (0.1, 0.0, -20.0),
                                                          (0.0, 0.1, -20.0), (0.06, 0.08, -20.0)])
def test_residual_noise_is_the_noise_level_a_mask_lets_through(real, imaginary, expected_db):
    noisy, clean, stft = _mixture_and_stft()
    mask = _constant_mask(stft, noisy, real, imaginary)
    assert residual_noise_db(stft(noisy) - stft(clean), mask).item() == pytest.approx(expected_db, abs=0.01)


def test_residual_noise_below_the_floor_earns_nothing_more():
    noisy, clean, stft = _mixture_and_stft()
    mask = _constant_mask(stft, noisy, 1e-3).requires_grad_()
    level = residual_noise_db(stft(noisy) - stft(clean), mask)
    level.backward()
    assert level.item() == pytest.approx(-NOISE_FLOOR_DB)
    assert mask.grad.abs().max().item() == 0


def test_residual_noise_of_a_clean_example_has_no_gradient():
    _, clean, stft = _mixture_and_stft()
    mask = _constant_mask(stft, clean, 0.5).requires_grad_()
    level = residual_noise_db(stft(clean) - stft(clean), mask)
    level.backward()
    assert level.item() == pytest.approx(0, abs=1e-3)
    assert mask.grad.abs().max().item() < 1e-6


def test_a_noise_weight_from_the_configuration_adds_the_weighted_level(random_model_dir):
    official = _loss_terms(random_model_dir)
    outputs = _loss_terms(random_model_dir, noise_loss_weight=0.2)
    assert 'residual_noise' not in official and 'residual_noise' in outputs['log_vars']
    assert -NOISE_FLOOR_DB <= outputs['residual_noise'].item() < 10
    assert torch.allclose(outputs['loss'], official['loss'] + 0.2 * outputs['residual_noise'])
    outputs['loss'].backward()


def _syllables(seconds: float = 3.0, seed: int = 0) -> torch.Tensor:
    """Speech-like test signal: harmonics of a gliding 110-220 Hz pitch, switched on and off at a
    syllable rate (4 Hz) with random loudness per syllable. ``[1, T]``."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    pitch = 110 + 110 * torch.sin(2 * math.pi * 0.3 * t).abs()
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / RATE
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 25))
    loudness = torch.rand(int(seconds * 4) + 1, generator=generator).repeat_interleave(RATE // 4)[:t.numel()]
    envelope = torch.sin(2 * math.pi * 2 * t).clamp(min=0) * (0.2 + loudness)
    return (0.1 * voiced * envelope).unsqueeze(0)


def _with_white_noise(clean: torch.Tensor, snr_db: float, seed: int = 1) -> torch.Tensor:
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    return clean + noise * clean.norm() / noise.norm() * 10 ** (-snr_db / 20)


def test_envelope_correlation_loss_is_zero_on_the_reference_and_blind_to_the_level():
    clean = _syllables()
    noisy = _with_white_noise(clean, 5)
    assert envelope_correlation_loss(clean, clean).item() == pytest.approx(0, abs=1e-4)
    assert envelope_correlation_loss(3 * noisy, clean).item() == pytest.approx(
        envelope_correlation_loss(noisy, clean).item(), rel=1e-4)


def test_envelope_correlation_follows_stoi():
    stoi = pytest.importorskip('pystoi').stoi
    clean = _syllables()
    ours, reference = [], []
    for snr_db in (-10, -5, 0, 5, 10, 20):
        noisy = _with_white_noise(clean, snr_db)
        ours.append(1 - envelope_correlation_loss(noisy, clean).item())
        reference.append(stoi(clean[0].numpy(), noisy[0].numpy(), RATE))
    assert ours == sorted(ours) and reference == sorted(reference)
    assert max(abs(a - b) for a, b in zip(ours, reference)) < 0.05


def test_envelope_correlation_leaves_out_segments_with_silent_frames():
    clean = _syllables()
    pause = torch.zeros(1, RATE)
    estimate = _with_white_noise(clean, 0)
    # noise alone in a pause of the reference: STOI drops those frames, so the loss must too
    padded = envelope_correlation_loss(torch.cat([estimate, torch.randn(1, RATE)], -1),
                                       torch.cat([clean, pause], -1))
    assert padded.item() == pytest.approx(envelope_correlation_loss(estimate, clean).item(), abs=0.02)
    silent = torch.zeros(2, RATE).requires_grad_()
    assert envelope_correlation_loss(silent, torch.zeros(2, RATE)).item() == 0


@pytest.mark.parametrize('degenerate', ['constant', 'tiny', 'silent half'])
def test_envelope_correlation_sends_back_moderate_gradients_from_near_silent_estimates(degenerate):
    # Without a floor under the envelopes these reached 1e6 (a constant estimate) and 200 (a
    # tiny one); a noisy estimate's gradients are about 0.02 here.
    clean = _syllables()
    estimate = {'constant': torch.full_like(clean, 0.1), 'tiny': 1e-6 * clean,
                'silent half': torch.cat([clean[:, :RATE], torch.zeros(1, clean.shape[-1] - RATE)], -1),
                }[degenerate]
    estimate.requires_grad_()
    envelope_correlation_loss(estimate, clean).backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().max().item() < 10


def test_a_stoi_weight_from_the_configuration_adds_the_weighted_term(random_model_dir):
    official = _loss_terms(random_model_dir)
    outputs = _loss_terms(random_model_dir, stoi_loss_weight=20)
    assert 'stoi' not in official and 'stoi' in outputs['log_vars']
    assert 0 < outputs['stoi'].item() <= 2
    assert torch.allclose(outputs['loss'], official['loss'] + 20 * outputs['stoi'])
    outputs['loss'].backward()
