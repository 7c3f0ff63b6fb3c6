"""Speech-like test signals that PESQ, STOI and DNSMOS accept (for tests/evaluation).

PESQ's voice activity detection rejects steady tones; these signals have what
it looks for: a harmonic source with a moving pitch, formant resonances, and
syllables of 0.12-0.3 s separated by short gaps and longer pauses.
"""
from pathlib import Path
from typing import Dict

import numpy as np
from scipy.signal import lfilter

SAMPLE_RATE = 16000


def speech_like_signal(seconds: float = 3.0, seed: int = 0, peak: float = 0.3) -> np.ndarray:
    """A deterministic speech-like signal, float64 ``[seconds * 16000]``, peak ``peak``."""
    rng = np.random.default_rng(seed)
    count = int(seconds * SAMPLE_RATE)
    t = np.arange(count) / SAMPLE_RATE
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) + 20 * rng.standard_normal()
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    source = sum(np.sin(k * phase) / k for k in range(1, 30))
    voiced = source.copy()
    for centre, bandwidth in ((500 + 100 * rng.uniform(), 80), (1500 + 300 * rng.uniform(), 120),
                              (2500, 200)):
        radius = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
        angle = 2 * np.pi * centre / SAMPLE_RATE
        voiced += 0.5 * lfilter([1 - radius], [1, -2 * radius * np.cos(angle), radius ** 2], source)
    envelope = np.zeros(count)
    position = int(0.2 * SAMPLE_RATE)
    while position < count - int(0.2 * SAMPLE_RATE):
        length = int(rng.uniform(0.12, 0.3) * SAMPLE_RATE)
        syllable = np.hanning(length)[:count - position]
        envelope[position:position + syllable.size] += syllable
        position += length + int(rng.uniform(0.03, 0.12) * SAMPLE_RATE)
        if rng.uniform() < 0.15:
            position += int(0.3 * SAMPLE_RATE)
    signal = voiced * envelope
    return signal / np.abs(signal).max() * peak


def white_noise_at_snr(clean: np.ndarray, snr_db: float, seed: int = 100) -> np.ndarray:
    """White noise scaled so that ``10 log10(sum(clean^2) / sum(noise^2)) == snr_db``."""
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    return noise * np.sqrt(np.sum(clean ** 2) / np.sum(noise ** 2) / 10 ** (snr_db / 10))


def noisy_clean_pairs(count: int = 3, seconds: float = 3.0, snr_db: float = 10.0
                      ) -> Dict[int, Dict[str, np.ndarray]]:
    """``{fileid: {'clean': [T], 'noisy': [T]}}`` for fileids 1..count."""
    pairs = {}
    for fileid in range(1, count + 1):
        clean = speech_like_signal(seconds, seed=fileid)
        noisy = clean + white_noise_at_snr(clean, snr_db, seed=100 + fileid)
        pairs[fileid] = {'clean': clean, 'noisy': np.clip(noisy, -1, 1)}
    return pairs


def write_pcm16(path: Path, samples: np.ndarray) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, SAMPLE_RATE, subtype='PCM_16')
    return path
