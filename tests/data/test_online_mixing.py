"""On-the-fly training mixtures: determinism, shapes, SNR, clean-only examples, rooms."""
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip('audiomentations')

from modelscope_frcrn.data.online_mixing import (  # noqa: E402
    MixingSettings, OnlineMixtures, colored_noise, reverberate, simulate_room_impulse_responses)
from modelscope_frcrn.data.synthesis import rms  # noqa: E402

RATE = 16000
SEGMENT = 8000
NO_AUGMENTATION = MixingSettings(clean_only_probability=0.0, speed_probability=0.0, eq_probability=0.0,
                                 lowpass_probability=0.0, reverb_probability=0.0, babble_probability=0.0,
                                 colored_noise_probability=0.0, second_noise_probability=0.0,
                                 utterance_gain_db=0.0)


def tone(frequency: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.1 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture(scope='module')
def speech():
    return {'low': [tone(220, 0.7), tone(330, 1.2)], 'high': [tone(1200, 0.9)]}


@pytest.fixture(scope='module')
def noises():
    rng = np.random.default_rng(3)
    return {'white': [(0.05 * rng.standard_normal(RATE)).astype(np.float32)]}


def test_items_are_a_pure_function_of_seed_and_index(speech, noises):
    first = OnlineMixtures(speech, noises, SEGMENT, length=10, seed=4)
    second = OnlineMixtures(speech, noises, SEGMENT, length=10, seed=4)
    for index in (0, 7, 3):
        a, b = first[index], second[index]
        assert a['noisy'].shape == a['clean'].shape == (SEGMENT,)
        assert a['noisy'].dtype == np.float32
        np.testing.assert_array_equal(a['noisy'], b['noisy'])
        np.testing.assert_array_equal(a['clean'], b['clean'])
    assert not np.array_equal(first[0]['noisy'], first[1]['noisy'])
    other_seed = OnlineMixtures(speech, noises, SEGMENT, length=10, seed=5)
    assert not np.array_equal(first[0]['noisy'], other_seed[0]['noisy'])


def test_drawn_snr_and_level_hold_without_augmentation(speech, noises):
    settings = replace(NO_AUGMENTATION, snr_db=(7.0, 7.0), level_dbfs=(-20.0, -20.0))
    dataset = OnlineMixtures(speech, noises, SEGMENT, length=5, seed=0, settings=settings)
    for index in range(5):
        item = dataset[index]
        noise = item['noisy'].astype(np.float64) - item['clean']
        assert 10 * np.log10(rms(item['clean']) ** 2 / rms(noise) ** 2) == pytest.approx(7.0, abs=0.01)
        assert 20 * np.log10(rms(item['noisy'])) == pytest.approx(-20.0, abs=0.01)


def test_clean_only_examples_have_the_clean_signal_as_input(speech, noises):
    settings = replace(NO_AUGMENTATION, clean_only_probability=1.0)
    item = OnlineMixtures(speech, noises, SEGMENT, length=2, seed=1, settings=settings)[1]
    np.testing.assert_array_equal(item['noisy'], item['clean'])
    assert rms(item['clean']) > 0


def test_speakers_are_not_mixed_within_one_example(speech, noises):
    settings = replace(NO_AUGMENTATION, clean_only_probability=1.0)
    dataset = OnlineMixtures(speech, noises, SEGMENT, length=20, seed=2, settings=settings)
    frequencies = np.fft.rfftfreq(SEGMENT, 1 / RATE)
    seen = set()
    for index in range(20):
        power = np.abs(np.fft.rfft(dataset[index]['clean'] * np.hanning(SEGMENT))) ** 2
        low = power[frequencies < 500].sum()
        high = power[frequencies > 1000].sum()
        assert min(low, high) < 0.01 * max(low, high)
        seen.add('low' if low > high else 'high')
    assert seen == {'low', 'high'}


def test_full_augmentation_stays_finite_and_keeps_the_target_below_the_input_power(speech, noises):
    rooms = simulate_room_impulse_responses(2, seed=0)
    dataset = OnlineMixtures(speech, noises, SEGMENT, length=30, seed=9,
                             settings=MixingSettings(reverb_probability=0.5, babble_probability=0.3),
                             room_impulse_responses=rooms)
    for index in range(30):
        item = dataset[index]
        assert np.all(np.isfinite(item['noisy'])) and np.all(np.isfinite(item['clean']))
        assert np.max(np.abs(item['noisy'])) < 1.0
        assert rms(item['clean']) > 0


def test_noise_categories_are_drawn_evenly_whatever_their_file_counts(speech):
    """Ten clips of a 300 Hz hum against one of 3 kHz: each category comes up about half the time."""
    noises = {'many_clips': [tone(300, 0.5) for _ in range(10)], 'one_recording': [tone(3000, 2.0)]}
    settings = replace(NO_AUGMENTATION, snr_db=(-20.0, -20.0))  # the noise dominates the input
    dataset = OnlineMixtures(speech, noises, SEGMENT, length=200, seed=6, settings=settings)
    frequencies = np.fft.rfftfreq(SEGMENT, 1 / RATE)
    near = lambda power, hz: power[np.abs(frequencies - hz) < 50].sum()  # noqa: E731
    high_hum = 0
    for index in range(len(dataset)):
        power = np.abs(np.fft.rfft(dataset[index]['noisy'] * np.hanning(SEGMENT))) ** 2
        high_hum += near(power, 3000) > near(power, 300)
    assert 70 <= high_hum <= 130  # binomial(200, 0.5): 3.5 sigma either side; by files: about 18


def test_room_target_is_the_aligned_early_part_of_the_input():
    full, early = simulate_room_impulse_responses(1, seed=1)[0]
    assert abs(full[np.argmax(np.abs(full))]) == pytest.approx(1.0)
    assert np.count_nonzero(early) < np.count_nonzero(full)
    impulse = np.zeros(4000)
    impulse[1000] = 1.0
    wet, target = reverberate(impulse, full, early)
    assert wet.shape == target.shape == impulse.shape
    assert np.argmax(np.abs(target)) == 1000
    assert rms(wet) > rms(target)


def test_colored_noise_slopes():
    rng = np.random.default_rng(0)
    frequencies = np.fft.rfftfreq(RATE * 4, 1 / RATE)
    for exponent, expected_db_per_decade in ((0.0, 0.0), (1.0, -10.0), (2.0, -20.0)):
        power = np.abs(np.fft.rfft(colored_noise(rng, RATE * 4, exponent))) ** 2
        low = power[(frequencies > 100) & (frequencies < 200)].mean()
        high = power[(frequencies > 1000) & (frequencies < 2000)].mean()
        assert 10 * np.log10(high / low) == pytest.approx(expected_db_per_decade, abs=1.5)
