"""Spectrogram images: size, orientation, silence, and the shared colour scale."""
import io

import numpy as np
import pytest
from PIL import Image

from modelscope_frcrn.serve.spectrogram import (HEIGHT, MAX_WIDTH, N_FFT, PALETTE_ANCHORS,
                                                comparison_pngs, spectrogram_db, spectrogram_png)


def image(png: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(png))
    assert picture.format == 'PNG' and picture.mode == 'RGB'
    return np.asarray(picture, dtype=np.float64)


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.5,
         sample_rate: int = 16000) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_frames_and_bins():
    assert spectrogram_db(np.zeros(16000)).shape == (N_FFT // 2 + 1, 1 + (16000 - N_FFT) // (N_FFT // 2))
    assert spectrogram_db(np.zeros(10)).shape == (N_FFT // 2 + 1, 1)  # padded to one frame


def test_a_48_khz_second_has_as_many_frames_and_spans_up_to_24_khz():
    decibels = spectrogram_db(tone(12000, sample_rate=48000), 48000)
    assert decibels.shape == (3 * N_FFT // 2 + 1, 1 + (16000 - N_FFT) // (N_FFT // 2))
    row = decibels.mean(axis=1).argmax()
    assert row / (decibels.shape[0] - 1) * 24000 == pytest.approx(12000, abs=20)


def test_one_column_per_frame_up_to_the_maximum_width():
    assert image(spectrogram_png(tone(440))).shape == (HEIGHT, 61, 3)
    assert image(spectrogram_png(tone(440, seconds=60))).shape == (HEIGHT, MAX_WIDTH, 3)


def test_low_frequencies_are_at_the_bottom():
    brightness = image(spectrogram_png(tone(500))).sum(axis=(1, 2))  # per row, top first
    assert np.argmax(brightness) > 0.9 * HEIGHT


def test_silence_is_dark():
    picture = image(spectrogram_png(np.zeros(16000, dtype=np.float32)))
    assert (picture == PALETTE_ANCHORS[0]).all()


def test_removed_noise_shows_darker_on_the_shared_scale():
    rng = np.random.default_rng(0)
    clean = tone(300)
    noisy = clean + 0.05 * rng.standard_normal(clean.size).astype(np.float32)
    noisy_png, enhanced_png = comparison_pngs(noisy, clean)
    assert image(enhanced_png).mean() < image(noisy_png).mean() - 20
    assert image(enhanced_png).mean() <= image(spectrogram_png(clean)).mean()  # noisy's top is higher
