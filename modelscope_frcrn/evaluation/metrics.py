"""Speech quality metrics for one signal pair, at 16 kHz.

Every function takes mono float signals ``[T]`` at 16 kHz (``[1, T]`` is
accepted too), as numpy arrays in [-1, 1]; the reference (clean) signal comes
first, as in ``pesq`` and ``pystoi``.

- **Lengths**: signals of different lengths are compared over their common
  length (the first ``min(len)`` samples); :func:`score_pair` warns when they
  differ.
- **Failures**: a metric that cannot be computed for a pair (PESQ on a silent
  or too short signal raises ``NoUtterancesError``/``BufferTooShortError``,
  STOI with fewer than 30 speech frames, any metric with a silent reference)
  is returned as NaN with a :class:`MetricWarning`, never an exception.
- **Dependencies**: ``pesq``, ``pystoi`` and ``speechmos`` + ``onnxruntime``
  are imported when first used (the ``eval`` extra).

Metric keys (as in :data:`INTRUSIVE_METRICS`, :data:`DNSMOS_METRICS`):
``pesq_wb`` (P.862.2 MOS-LQO, 1.04..4.64), ``pesq_nb`` (P.862.1 MOS-LQO,
1.02..4.55), ``stoi`` (0..1), ``si_snr`` (dB), ``si_snr_i`` (dB, enhanced
only), ``dnsmos_ovrl``, ``dnsmos_sig``, ``dnsmos_bak`` (P.835 MOS, 1..5) and
``dnsmos_p808`` (P.808 MOS).
"""
import math
import warnings
from typing import Dict, Optional, Tuple

import numpy as np

from ..audio import MODEL_SAMPLE_RATE, resample
from .dependencies import import_optional
from ..errors import MetricWarning

SAMPLE_RATE = MODEL_SAMPLE_RATE
#: narrow-band PESQ default: P.862 'nb' mode on the 16 kHz signals (see :func:`pesq_nb`)
NB_PESQ_RATE = 16000
SI_SNR_EPS = 1e-8  # as modelscope_frcrn.models.losses.EPS
STOI_MIN_FRAMES_MESSAGE = 'Not enough STFT frames'

INTRUSIVE_METRICS = ('pesq_wb', 'pesq_nb', 'stoi', 'si_snr')
DNSMOS_METRICS = ('dnsmos_ovrl', 'dnsmos_sig', 'dnsmos_bak', 'dnsmos_p808')
IMPROVEMENT_METRICS = ('si_snr_i',)
_DNSMOS_KEYS = {'ovrl_mos': 'dnsmos_ovrl', 'sig_mos': 'dnsmos_sig', 'bak_mos': 'dnsmos_bak',
                'p808_mos': 'dnsmos_p808'}

NAN = float('nan')


def si_snr(estimate: np.ndarray, reference: np.ndarray, zero_mean: bool = True,
           eps: float = SI_SNR_EPS) -> float:
    """Scale-invariant signal-to-noise ratio of ``estimate`` against ``reference``, in dB.

    ``target = <s', s> / |s|^2 * s``, ``noise = s' - target``,
    ``SI-SNR = 10 log10(|target|^2 / |noise|^2)``, computed in float64.

    With ``zero_mean=True`` (the default, the usual evaluation definition, e.g.
    Le Roux et al. 2019 "SDR - half-baked or well done?") both signals have
    their mean removed first, so a DC offset does not count. The SI-SNR of the
    training loss (:mod:`modelscope_frcrn.models.losses`, as in the official
    recipe) does not remove the mean: ``zero_mean=False`` gives exactly its
    value for one signal (same ``eps`` in the ratio and the logarithm).

    Identical signals give about 10 log10(energy / eps), over 60 dB for any
    audible signal; a silent reference has no defined SI-SNR (NaN, with a
    :class:`MetricWarning`). Different lengths: the common length is used.

    Shape: ``[T]`` and ``[T]`` -> float.
    """
    estimate, reference = _common(estimate, reference)
    if zero_mean:
        estimate = estimate - estimate.mean()
        reference = reference - reference.mean()
    reference_energy = float(np.dot(reference, reference))
    if reference_energy == 0.0:
        _warn('SI-SNR', 'the reference is silent')
        return NAN
    target = np.dot(estimate, reference) / (reference_energy + eps) * reference
    noise = estimate - target
    ratio = np.dot(target, target) / (np.dot(noise, noise) + eps)
    return float(10 * np.log10(ratio + eps))


def si_snr_improvement(enhanced: np.ndarray, noisy: np.ndarray, reference: np.ndarray,
                       zero_mean: bool = True) -> float:
    """``si_snr(enhanced, reference) - si_snr(noisy, reference)`` in dB: positive when the
    enhancement helped. Shape: three ``[T]`` -> float."""
    return si_snr(enhanced, reference, zero_mean) - si_snr(noisy, reference, zero_mean)


def pesq_wb(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Wide-band PESQ (ITU-T P.862.2 MOS-LQO, 1.04..4.64) at 16 kHz; NaN (with a warning)
    where PESQ fails (silent or shorter than 1/4 s). Shape: ``[T]``, ``[T]`` -> float."""
    return _pesq(reference, degraded, SAMPLE_RATE, 'wb')


def pesq_nb(reference: np.ndarray, degraded: np.ndarray, rate: int = NB_PESQ_RATE) -> float:
    """Narrow-band PESQ (ITU-T P.862 + P.862.1 mapping, MOS-LQO 1.02..4.55).

    The ``pesq`` package supports narrow-band mode at 8 and 16 kHz. With
    ``rate=16000`` (the default) the 16 kHz signals go to P.862's narrow-band
    model directly, which applies its own telephone-band (IRS) filter; this is
    what common speech enhancement toolkits do for "NB-PESQ" on 16 kHz test
    sets. ``rate=8000`` first resamples both signals to 8 kHz with
    :func:`modelscope_frcrn.audio.resample` (soxr); on speech-like test signals it
    scores about 0.1 higher. NaN (with a warning) where PESQ fails.

    Shape: ``[T]``, ``[T]`` at 16 kHz -> float.
    """
    if rate not in (8000, 16000):
        raise ValueError(f'narrow-band PESQ runs at 8000 or 16000 Hz, not {rate}')
    if rate != SAMPLE_RATE:
        reference, degraded = _common(reference, degraded)
        reference = resample(reference[None].astype(np.float32), SAMPLE_RATE, rate)[0]
        degraded = resample(degraded[None].astype(np.float32), SAMPLE_RATE, rate)[0]
    return _pesq(reference, degraded, rate, 'nb')


def stoi(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Short-time objective intelligibility (Taal et al. 2011, ``pystoi``,
    ``extended=False``), 0..1 (usually reported in %), computed at 16 kHz (pystoi
    resamples to 10 kHz itself).

    NaN (with a warning) where pystoi cannot compute it: fewer than 30 frames
    of speech (about 0.4 s; pystoi itself would return 1e-5) or a silent
    reference. Shape: ``[T]``, ``[T]`` -> float.
    """
    pystoi = import_optional('pystoi', 'STOI')
    reference, degraded = _common(reference, degraded)
    if not reference.any():
        _warn('STOI', 'the reference is silent')
        return NAN
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            value = float(pystoi.stoi(reference, degraded, SAMPLE_RATE, extended=False))
    except (ValueError, IndexError) as error:  # too short to frame at all
        _warn('STOI', f'{type(error).__name__}: {error}')
        return NAN
    for warning in caught:
        if STOI_MIN_FRAMES_MESSAGE in str(warning.message):
            _warn('STOI', 'fewer than 30 frames of speech (signal too short or too quiet)')
            return NAN
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return value


def dnsmos(signal: np.ndarray) -> Dict[str, float]:
    """Non-intrusive DNSMOS (Reddy et al., ICASSP 2021/2022) of one 16 kHz signal.

    Runs Microsoft's DNSMOS P.835 (``sig_bak_ovr.onnx``) and P.808
    (``model_v8.onnx``) ONNX models shipped inside the ``speechmos`` wheel with
    ``onnxruntime``: nothing is downloaded. Signals shorter than the models'
    9.01 s input are repeated to that length (speechmos' behaviour, as in the
    DNS Challenge script), longer ones are scored in 9.01 s windows with a 1 s
    hop and averaged. Samples are clipped to [-1, 1] first (speechmos refuses
    anything outside).

    Returns:
        ``{'dnsmos_ovrl', 'dnsmos_sig', 'dnsmos_bak', 'dnsmos_p808'}``: MOS
        values, normally 1..5; all NaN (with a warning) for an empty or silent
        signal, which DNSMOS cannot rate.

    Shape: ``[T]`` -> dict.
    """
    signal = _mono(signal)
    if not signal.any():
        _warn('DNSMOS', 'the signal is empty or silent')
        return {key: NAN for key in DNSMOS_METRICS}
    import_optional('onnxruntime', 'DNSMOS')
    speechmos_dnsmos = import_optional('speechmos.dnsmos', 'DNSMOS')
    clipped = np.clip(signal, -1.0, 1.0).astype(np.float32)
    scores = speechmos_dnsmos.run(clipped, sr=SAMPLE_RATE)
    return {ours: float(scores[theirs]) for theirs, ours in _DNSMOS_KEYS.items()}


def score_pair(reference: np.ndarray, degraded: np.ndarray, with_dnsmos: bool = True,
               nb_pesq_rate: int = NB_PESQ_RATE, name: Optional[str] = None
               ) -> Dict[str, float]:
    """All metrics of ``degraded`` against ``reference`` (both 16 kHz mono).

    Different lengths are cut to the common length, with a warning. DNSMOS
    (non-intrusive) is computed on the cut ``degraded`` signal only.

    Returns:
        ``{pesq_wb, pesq_nb, stoi, si_snr}`` plus the :data:`DNSMOS_METRICS` when
        ``with_dnsmos``; NaN for metrics that could not be computed.

    Shape: ``[T1]``, ``[T2]`` -> dict.
    """
    reference, degraded = _mono(reference), _mono(degraded)
    if reference.size != degraded.size:
        warnings.warn(f'{name or "signals"}: lengths differ (reference {reference.size}, '
                      f'degraded {degraded.size} samples); comparing the first '
                      f'{min(reference.size, degraded.size)} samples', MetricWarning,
                      stacklevel=2)
        reference, degraded = _common(reference, degraded)
    scores = {
        'pesq_wb': pesq_wb(reference, degraded),
        'pesq_nb': pesq_nb(reference, degraded, nb_pesq_rate),
        'stoi': stoi(reference, degraded),
        'si_snr': si_snr(degraded, reference),
    }
    if with_dnsmos:
        scores.update(dnsmos(degraded))
    return scores


def _pesq(reference: np.ndarray, degraded: np.ndarray, rate: int, mode: str) -> float:
    pesq = import_optional('pesq', 'PESQ')
    label = f'{mode.upper()}-PESQ'
    reference, degraded = _common(reference, degraded)
    if not reference.any() or not degraded.any():
        # pesq raises NoUtterancesError for a silent reference and fails with a
        # bare ValueError (NaN to int) for a silent degraded signal
        _warn(label, f'the {"reference" if not reference.any() else "degraded signal"} is silent')
        return NAN
    try:
        value = float(pesq.pesq(rate, reference, degraded, mode))
    except (pesq.PesqError, ValueError) as error:
        # NoUtterancesError, BufferTooShortError (< 1/4 s), ...
        _warn(label, f'{type(error).__name__}: {_text(error)}')
        return NAN
    return value if math.isfinite(value) else NAN


def _mono(signal: np.ndarray) -> np.ndarray:
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim == 2 and signal.shape[0] == 1:
        signal = signal[0]
    if signal.ndim != 1:
        raise ValueError(f'metrics take mono signals [T] (or [1, T]), got shape {signal.shape}')
    return signal


def _common(first: np.ndarray, second: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    first, second = _mono(first), _mono(second)
    length = min(first.size, second.size)
    return first[:length], second[:length]


def _warn(metric: str, reason: str) -> None:
    warnings.warn(f'{metric} recorded as NaN: {reason}', MetricWarning, stacklevel=3)


def _text(error: Exception) -> str:
    message = error.args[0] if error.args else str(error)
    return message.decode(errors='replace') if isinstance(message, bytes) else str(message)
