"""modelscope_frcrn.audio.levels: per-channel normalisation gain and safe int16 conversion."""
import numpy as np
import pytest

from modelscope_frcrn.audio.levels import (MODEL_INPUT_DBFS, gain_for_level, normalising_gain, rms,
                                           rms_of_blocks, to_int16)

TARGET_RMS = 10.0 ** (MODEL_INPUT_DBFS / 20.0)


def test_rms_per_channel():
    samples = np.stack([np.full(100, 0.5), np.tile([1.0, -1.0], 50), np.zeros(100)])
    np.testing.assert_allclose(rms(samples), [[0.5], [1.0], [0.0]])


def test_gain_brings_each_channel_to_the_target_level():
    rng = np.random.default_rng(0)
    samples = np.stack([0.5 * rng.standard_normal(4000),
                        0.001 * rng.standard_normal(4000)]).astype(np.float32)

    gain = normalising_gain(samples)

    assert gain.shape == (2, 1)
    assert gain[0, 0] != pytest.approx(gain[1, 0], rel=0.5)  # per channel, not shared
    np.testing.assert_allclose(rms(samples * gain), TARGET_RMS, rtol=1e-5)


def test_gain_for_another_target():
    samples = np.full((1, 100), 0.1)
    gain = normalising_gain(samples, target_dbfs=-6.0)
    assert gain[0, 0] == pytest.approx(10 ** (-6 / 20) / 0.1)


def test_silent_channel_gets_gain_one_and_others_are_unaffected():
    rng = np.random.default_rng(1)
    loud = 0.2 * rng.standard_normal(1000)
    samples = np.stack([np.zeros(1000), loud])

    gain = normalising_gain(samples)

    assert np.isfinite(gain).all()
    assert gain[0, 0] == 1.0
    assert gain[1, 0] == pytest.approx(TARGET_RMS / rms(loud[None])[0, 0])


def test_all_silent_input():
    gain = normalising_gain(np.zeros((1, 500), np.float32))
    np.testing.assert_array_equal(gain, [[1.0]])


def test_block_wise_level_gives_the_whole_signals_gain():
    """What the file denoiser computes from a stream of blocks (restoring the level on the
    way out is checked end to end in tests/inference/test_denoiser.py)."""
    rng = np.random.default_rng(2)
    samples = np.stack([0.03 * rng.standard_normal(8000), 0.3 * rng.standard_normal(8000),
                        np.zeros(8000)]).astype(np.float32)
    blocks = [samples[:, start:start + 1500] for start in range(0, 8000, 1500)]

    level = rms_of_blocks(iter(blocks), 8000)

    np.testing.assert_allclose(level, rms(samples), rtol=1e-12)
    np.testing.assert_allclose(gain_for_level(level), normalising_gain(samples), rtol=1e-12)
    assert gain_for_level(level)[2, 0] == 1.0


def test_to_int16_scales_and_rounds():
    values = np.array([0.0, 0.5, -0.5, 0.4 / 32768, 0.6 / 32768, -0.6 / 32768,
                       1000.4 / 32768, -1000.6 / 32768])

    out = to_int16(values)

    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, [0, 16384, -16384, 0, 1, -1, 1000, -1001])


def test_to_int16_clips_instead_of_wrapping():
    values = np.array([1.0, 32767 / 32768, 1.0001, 1.5, 2.0, 1e6, np.float32(3e38),
                       -1.0, -1.0001, -1.5, -2.0, -1e6])

    out = to_int16(values)

    np.testing.assert_array_equal(out, [32767] * 7 + [-32768] * 5)


def test_to_int16_keeps_the_sign_of_an_overdriven_sine():
    t = np.arange(1600) / 16000
    sine = 1.3 * np.sin(2 * np.pi * 200 * t)

    out = to_int16(sine)

    loud = np.abs(sine) > 0.01
    assert (np.sign(out[loud]) == np.sign(sine[loud])).all()
    assert out.max() == 32767 and out.min() == -32768


def test_to_int16_keeps_shape():
    assert to_int16(np.zeros((2, 7), np.float32)).shape == (2, 7)
