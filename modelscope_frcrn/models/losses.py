"""FRCRN training objective: cIRM mean squared error minus SI-SNR.

The complex ideal ratio mask (cIRM) target is ``S / Y`` for clean spectrum ``S``
and noisy spectrum ``Y``; values beyond +-2 are folded to +-1 as in the official
recipe. The loss of the stage-2 output is
``2F * MSE(mask_re) + 2F * MSE(mask_im) - SI-SNR(wav, clean)``; training recipes may
scale the mask terms by ``m`` and add ``w * compressed_spectral_loss(wav, clean)``.

SI-SNR weighs every error by its energy, so quiet residual noise (in speech pauses,
between harmonics) costs little, though listeners and DNSMOS hear it. The compressed
spectral loss (Braun and Tashev, "A consolidated view of loss functions for supervised
deep learning-based speech enhancement", 2021; DeepFilterNet trains with a multi-
resolution form of it) compares magnitudes raised to the power 0.3, which lifts quiet
time-frequency bins towards loud ones.

The residual noise loss looks at the noise alone: the STFT is linear, so the noise part of
the output spectrum is the mask times the noise's spectrum ``M (Y - S)``. Its level per
frame, in dB re the noise's, is averaged over frames, each frame counting alike whether
speech is present or not, so the noise left in speech pauses costs as much as the noise
under speech (the components loss of Xu, Elshamy and Fingscheidt, "Using separate losses for
speech and noise in mask-based speech enhancement", ICASSP 2020, weighs the two parts
apart in the same way; here in dB, so quiet frames count).

The envelope correlation loss is STOI's intermediate measure made differentiable (Taal et al.,
"An algorithm for intelligibility prediction of time-frequency weighted noisy speech", 2011;
Kolbaek et al. trained on it in "On the relationship between short-time objective
intelligibility and short-time spectral-amplitude mean-square error for speech enhancement",
2018): it rewards keeping the slow envelope of each one-third-octave band of speech, which
over-suppression of speech-like noise (babble, music) takes away while SI-SNR barely notices.
"""
from functools import lru_cache
from typing import Dict, Sequence

import torch
import torch.nn.functional as F

from .frcrn import complex_multiply

EPS = 1e-8
#: Frames whose noise is already this far down gain nothing from going further.
NOISE_FLOOR_DB = 40.0
#: STOI's constants (Taal et al. 2011): bands, lowest centre frequency, frames per segment,
#: clipping level (dB of signal-to-distortion) and the dynamic range of the frames kept.
STOI_BANDS, STOI_LOWEST_HZ, STOI_SEGMENT, STOI_CLIP_DB, STOI_DYNAMIC_RANGE_DB = 15, 150, 30, -15.0, 40.0


def si_snr_per_item(estimate: torch.Tensor, reference: torch.Tensor,
                    eps: float = EPS) -> torch.Tensor:
    """Scale-invariant SNR in dB of each item (no mean removal, as in the official recipe).

    Shape: ``[B, T]`` and ``[B, T]`` -> ``[B]``.
    """
    dot = (estimate * reference).sum(-1, keepdim=True)
    target = dot / ((reference ** 2).sum(-1, keepdim=True) + eps) * reference
    noise = estimate - target
    ratio = (target ** 2).sum(-1) / ((noise ** 2).sum(-1) + eps)
    return 10 * torch.log10(ratio + eps)


def _power(spectrum: torch.Tensor) -> torch.Tensor:
    """``|z|^2`` of a complex tensor, with a finite gradient for subnormal ``z``, where ``abs``'s
    is NaN (a training run met one: the output over a clean-only example's digitally silent tail)."""
    return spectrum.real ** 2 + spectrum.imag ** 2


def _smooth_abs(spectrum: torch.Tensor) -> torch.Tensor:
    """``|z|`` within 1e-8, with a finite gradient everywhere (see :func:`_power`)."""
    return (_power(spectrum) + EPS ** 2).sqrt()


def compressed_spectral_loss(estimate: torch.Tensor, reference: torch.Tensor,
                             fft_sizes: Sequence[int] = (256, 512, 1024), power: float = 0.3,
                             complex_share: float = 0.3) -> torch.Tensor:
    """Multi-resolution compressed spectral distance, averaged over resolutions.

    At each resolution (Hann window of ``n`` samples, hop ``n // 4``) the magnitudes
    ``|X| ** power`` are compared by mean squared error, mixed with share
    ``complex_share`` of the same error on the compressed complex spectra (phase
    kept). Both signals are first divided by the reference's RMS, so the loss does
    not depend on the mixture's level.

    Shape: ``[B, T]`` and ``[B, T]`` -> scalar.
    """
    scale = reference.pow(2).mean(-1, keepdim=True).add(EPS).sqrt()
    total = estimate.new_zeros(())
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=estimate.device, dtype=estimate.dtype)
        spectra = [torch.stft(signal / scale, n_fft, n_fft // 4, window=window, return_complex=True)
                   for signal in (estimate, reference)]
        absolutes = [_smooth_abs(spectrum).add(EPS) for spectrum in spectra]
        magnitudes = [absolute.pow(power) for absolute in absolutes]
        compressed = [spectrum * magnitude / absolute
                      for spectrum, magnitude, absolute in zip(spectra, magnitudes, absolutes)]
        magnitude_error = F.mse_loss(magnitudes[0], magnitudes[1])
        complex_error = _power(compressed[0] - compressed[1]).mean()
        total = total + complex_share * complex_error + (1 - complex_share) * magnitude_error
    return total / len(fft_sizes)


def residual_noise_db(noise_spec: torch.Tensor, mask: torch.Tensor,
                      floor_db: float = NOISE_FLOOR_DB) -> torch.Tensor:
    """Mean level, in dB re the input's noise, of the noise the mask lets through.

    The noise spectrum is the noisy one minus the clean one (with the late reverberation the
    target leaves out). Per frame: ``10 log10(|M N|^2 / |N|^2)`` summed over bins, held at
    ``-floor_db`` or above (no gain from going deeper); frames without noise (clean-only
    examples) sit at 0 dB with no gradient.

    Shape: ``[B, 2F, frames]`` (real bins then imaginary) and ``[B, 2F, frames]`` -> scalar
    (lower: less noise left).
    """
    noise_spec = noise_spec.unflatten(1, (2, -1))
    passed = complex_multiply(noise_spec, mask.unflatten(1, (2, -1))).pow(2).sum((1, 2))
    noise = noise_spec.pow(2).sum((1, 2))
    silence = noise.mean(-1, keepdim=True) * 1e-6 + EPS
    level = 10 * torch.log10((passed + silence) / (noise + silence))
    return level.clamp(min=-floor_db).mean()


@lru_cache(maxsize=4)
def _third_octave_matrix(sample_rate: int, n_fft: int) -> torch.Tensor:
    """STOI's 15 one-third-octave bands from 150 Hz as a ``[15, n_fft // 2 + 1]`` 0/1 matrix."""
    try:
        from pystoi.utils import thirdoct
    except ImportError as error:
        raise ImportError('the envelope correlation (STOI) loss needs pystoi: '
                          'pip install "modelscope_frcrn[train]"') from error
    bands, _ = thirdoct(sample_rate, n_fft, STOI_BANDS, STOI_LOWEST_HZ)
    return torch.from_numpy(bands).float()


def envelope_correlation_loss(estimate: torch.Tensor, reference: torch.Tensor,
                              sample_rate: int = 16000) -> torch.Tensor:
    """One minus STOI's intermediate intelligibility measure, computed at ``sample_rate``.

    As in STOI: 25.6 ms Hann frames at half overlap, band envelopes of 15 one-third-octave
    bands, segments of 30 frames (384 ms), the estimate's envelope scaled to the reference's
    energy and clipped at 15 dB above it, then the correlation of the two envelopes per band
    and segment, averaged. Unlike STOI it runs without resampling to 10 kHz (the bands stop
    at 4.3 kHz either way) and it cuts the frames 40 dB below the loudest out of the frame
    sequence rather than out of the waveform (0 when fewer than 30 frames are left).

    Shape: ``[B, T]`` and ``[B, T]`` -> scalar (0: envelopes equal; up to 2).
    """
    frame = round(0.0256 * sample_rate)
    n_fft = 1 << (2 * frame - 1).bit_length()
    window = torch.hann_window(frame, device=estimate.device, dtype=estimate.dtype)
    bands = _third_octave_matrix(sample_rate, n_fft).to(estimate.device, estimate.dtype)
    spectra = [torch.stft(signal, n_fft, frame // 2, frame, window, center=False, return_complex=True)
               for signal in (estimate, reference)]
    band_powers = [bands @ _power(spectrum) for spectrum in spectra]  # [B, bands, frames]
    # A floor 60 dB under the reference's mean band power keeps the square roots and the
    # correlations of near-silent envelopes from sending huge gradients back (1e6 without it).
    floor = band_powers[1].detach().mean((1, 2), keepdim=True) * 1e-6 + EPS  # [B, 1, 1]
    frame_energy = band_powers[1].detach().sum(1)  # [B, frames]
    quiet = frame_energy <= frame_energy.amax(-1, keepdim=True) * 10 ** (-STOI_DYNAMIC_RANGE_DB / 10)
    # the frames kept move to the front, in their order, as if the quiet ones were cut out
    order = quiet.int().argsort(dim=-1, stable=True).unsqueeze(1).expand(-1, bands.shape[0], -1)
    estimated, clean = ((power + floor).sqrt().gather(-1, order).unfold(-1, STOI_SEGMENT, 1)
                        for power in band_powers)  # [B, bands, segments, 30]
    last_start = (~quiet).sum(-1, keepdim=True) - STOI_SEGMENT  # [B, 1]
    counted = (torch.arange(clean.shape[2], device=quiet.device) <= last_start).float()  # [B, segments]
    scale = clean.norm(dim=-1, keepdim=True) / estimated.norm(dim=-1, keepdim=True)
    clipped = torch.minimum(estimated * scale, clean * (1 + 10 ** (-STOI_CLIP_DB / 20)))
    centred = [envelope - envelope.mean(-1, keepdim=True) for envelope in (clipped, clean)]
    smoothing = STOI_SEGMENT * floor  # [B, 1, 1]
    correlation = (centred[0] * centred[1]).sum(-1) / (
        (centred[0].pow(2).sum(-1) + smoothing) * (centred[1].pow(2).sum(-1) + smoothing)).sqrt()
    per_segment = correlation.mean(1)  # [B, segments]
    return ((1 - per_segment) * counted).sum() / counted.sum().clamp(min=1)


def cirm_target(noisy_spec: torch.Tensor, clean_spec: torch.Tensor) -> torch.Tensor:
    """Folded complex ideal ratio mask.

    Shape: ``[B, 2F, frames]`` spectra (real bins then imaginary) -> ``[B, 2F, frames]``.
    """
    y_re, y_im = noisy_spec.chunk(2, dim=1)
    s_re, s_im = clean_spec.chunk(2, dim=1)
    power = y_re ** 2 + y_im ** 2 + EPS
    mask = torch.cat([(s_re * y_re + s_im * y_im) / power,
                      (s_im * y_re - s_re * y_im) / power], dim=1)
    mask = torch.where(mask > 2, torch.ones_like(mask), mask)
    return torch.where(mask < -2, -torch.ones_like(mask), mask)


def frcrn_loss(stft, noisy: torch.Tensor, clean: torch.Tensor, estimate: torch.Tensor,
               mask: torch.Tensor, spectral_weight: float = 0.0,
               mask_weight: float = 1.0, noise_weight: float = 0.0,
               stoi_weight: float = 0.0) -> Dict[str, torch.Tensor]:
    """Loss terms of one FRCRN stage.

    Args:
        stft: the model's STFT module.
        noisy, clean: ``[B, T]`` waveforms.
        estimate: ``[B, T']`` enhanced waveform of the stage, ``T' <= T``.
        mask: ``[B, 2F, frames]`` estimated complex mask of the stage.
        spectral_weight: weight of :func:`compressed_spectral_loss` (0: the official loss).
        mask_weight: weight of the two mask errors (1: the official loss). Their gradient
            is 10-20 times the SI-SNR term's, so they steer training unless weighed down.
        noise_weight: weight of :func:`residual_noise_db` (0: not computed).
        stoi_weight: weight of :func:`envelope_correlation_loss` (0: not computed).

    Returns:
        ``loss`` (total), ``amp_loss`` and ``phase_loss`` (real and imaginary mask
        errors), ``sisnr`` (negative mean SI-SNR, so lower is better) and, with a
        spectral weight, ``spectral``, with a noise weight ``residual_noise`` (dB) and with a
        STOI weight ``stoi`` (all unweighted), all scalars; and
        ``si_snr_per_item`` ``[B]`` in dB (detached) for evaluation.
    """
    length = min(estimate.shape[-1], clean.shape[-1])
    per_item = si_snr_per_item(estimate[..., :length], clean[..., :length])
    sisnr = -per_item.mean()
    noisy_spec, clean_spec = stft(noisy), stft(clean)
    target = cirm_target(noisy_spec, clean_spec)
    bins_times_two = mask.shape[1]
    target_re, target_im = target.chunk(2, dim=1)
    mask_re, mask_im = mask.chunk(2, dim=1)
    amp_loss = F.mse_loss(mask_re, target_re) * bins_times_two
    phase_loss = F.mse_loss(mask_im, target_im) * bins_times_two
    terms = {'loss': mask_weight * (amp_loss + phase_loss) + sisnr, 'amp_loss': amp_loss,
             'phase_loss': phase_loss, 'sisnr': sisnr, 'si_snr_per_item': per_item.detach()}
    if spectral_weight:
        terms['spectral'] = compressed_spectral_loss(estimate[..., :length], clean[..., :length])
        terms['loss'] = terms['loss'] + spectral_weight * terms['spectral']
    if noise_weight:
        terms['residual_noise'] = residual_noise_db(noisy_spec - clean_spec, mask)
        terms['loss'] = terms['loss'] + noise_weight * terms['residual_noise']
    if stoi_weight:
        terms['stoi'] = envelope_correlation_loss(estimate[..., :length], clean[..., :length])
        terms['loss'] = terms['loss'] + stoi_weight * terms['stoi']
    return terms
