"""On-the-fly training mixtures: a fresh speech excerpt, noise, SNR and level for every example.

The DNS-Challenge recipe and NeMo's online augmentation are the models: rather
than a fixed set of pre-mixed pairs, every training example is drawn anew from
the source audio, so a model sees as many different mixtures as it has steps.
Each example is a pure function of ``(seed, index)``: a run resumed at step
``n`` sees exactly the examples an uninterrupted run would.

Per example (probabilities in :class:`MixingSettings`):

- **speech**: one speaker (speakers are drawn uniformly, so a large source
  does not drown the others), utterances concatenated with short pauses,
  each brought to a common level within a few dB; Kaldi-style speed
  perturbation (tempo and pitch together, soxr resampling); a random
  seven-band EQ and, sometimes, a random low-pass (``audiomentations``), so the
  model meets many microphones and bandwidths and learns to keep what is
  there rather than a fixed band;
- **room**: sometimes the speech is convolved with a simulated room impulse
  response (``pyroomacoustics`` image method); the input carries the full
  reverberation, the target only the direct path and the first 50 ms of
  reflections (the DNS-Challenge 4 convention);
- **noise**: a random excerpt of a noise file (looped if short), babble of
  several other training utterances, or coloured noise (white to brown);
  sometimes a second noise is added below the first;
- **mix**: SNR and level drawn uniformly (:func:`.synthesis.mix`, clipping
  guarded); a few examples are clean only, so the model learns to leave
  clean speech alone.

Shapes: every array here is mono float ``[T]`` at 16 kHz.
"""
import contextlib
import random
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Sequence, Tuple

import numpy as np
import soxr
from torch.utils.data import Dataset

from ..audio import MODEL_SAMPLE_RATE
from .synthesis import MAX_REDRAWS, SILENT_RMS, mix, rms

#: Utterances are brought to this RMS (-25 dBFS) before the per-example level is drawn.
UTTERANCE_RMS = 10 ** (-25 / 20)
#: Reflections arriving later than this after the direct path are not part of the target.
EARLY_REFLECTIONS_SECONDS = 0.05


@dataclass(frozen=True)
class MixingSettings:
    """Ranges and probabilities of the on-the-fly augmentation (dB, Hz, probabilities in [0, 1])."""

    snr_db: Tuple[float, float] = (-5.0, 20.0)
    level_dbfs: Tuple[float, float] = (-35.0, -15.0)
    clean_only_probability: float = 0.05
    utterance_gain_db: float = 3.0
    pause_seconds: Tuple[float, float] = (0.05, 0.6)
    speed_probability: float = 0.5
    speed_range: Tuple[float, float] = (0.9, 1.1)
    eq_probability: float = 0.5
    eq_gain_db: float = 6.0
    lowpass_probability: float = 0.15
    lowpass_hz: Tuple[float, float] = (3500.0, 7500.0)
    reverb_probability: float = 0.3
    babble_probability: float = 0.2
    babble_voices: Tuple[int, int] = (3, 8)
    colored_noise_probability: float = 0.15
    second_noise_probability: float = 0.3
    second_noise_db: Tuple[float, float] = (-12.0, 0.0)


class OnlineMixtures(Dataset):
    """Item ``i``: a noisy/clean training segment drawn from seed ``(seed, i)``.

    Args:
        speech: speaker name -> that speaker's utterances (float32 ``[T]``, 16 kHz).
        noises: noise category -> its recordings (float32 ``[T]``, 16 kHz). A category is drawn
            first, uniformly, then one of its recordings: a category of a thousand short clips
            weighs as much as one of a few long ones.
        segment_samples: length of every example.
        length: number of examples (``len(dataset)``).
        seed: the stream's seed; two datasets with the same arguments are identical.
        settings: augmentation ranges and probabilities.
        room_impulse_responses: ``(full, early)`` pairs as made by
            :func:`simulate_room_impulse_responses`; none disables reverberation.

    Shape: item ``{'noisy': [T], 'clean': [T]}`` float32, ``T = segment_samples``.
    """

    def __init__(self, speech: Mapping[str, Sequence[np.ndarray]],
                 noises: Mapping[str, Sequence[np.ndarray]],
                 segment_samples: int, length: int, seed: int,
                 settings: MixingSettings = MixingSettings(),
                 room_impulse_responses: Sequence[Tuple[np.ndarray, np.ndarray]] = ()):
        usable = {name: list(utterances) for name, utterances in speech.items() if utterances}
        if not usable:
            raise ValueError('no speech: every speaker has an empty utterance list')
        categories = {name: list(recordings) for name, recordings in noises.items() if recordings}
        if not categories and settings.babble_probability + settings.colored_noise_probability < 1:
            raise ValueError('no noise recordings, yet the settings draw from them')
        self.speakers = sorted(usable)
        self.speech, self.noises = usable, [categories[name] for name in sorted(categories)]
        self.segment_samples, self.length, self.seed = segment_samples, length, seed
        self.settings = settings
        self.rooms = list(room_impulse_responses)
        self._equalizer, self._lowpass = _speech_filters(settings)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        settings = self.settings
        dry = self._speech_segment(rng)
        dry = self._recording_chain(rng, dry)
        wet, target = dry, dry
        if self.rooms and rng.random() < settings.reverb_probability:
            wet, target = reverberate(dry, *self.rooms[int(rng.integers(len(self.rooms)))])
        level = float(rng.uniform(*settings.level_dbfs))
        if rng.random() < settings.clean_only_probability:
            gain = 10 ** (level / 20) / max(rms(wet), 1e-8)
            noisy, clean = wet * gain, target * gain
        else:
            noise = self._noise(rng)
            mixture = mix(wet, noise, float(rng.uniform(*settings.snr_db)), level)
            noisy, clean = mixture.noisy, target * (rms(mixture.clean) / max(rms(wet), 1e-12))
        return {'noisy': noisy.astype(np.float32), 'clean': clean.astype(np.float32)}

    def _speech_segment(self, rng: np.random.Generator) -> np.ndarray:
        """``segment_samples`` of one speaker's utterances, speed-perturbed as drawn."""
        settings = self.settings
        speed = 1.0
        if rng.random() < settings.speed_probability:
            speed = float(rng.uniform(*settings.speed_range))
        needed = int(np.ceil(self.segment_samples * speed)) + 1
        utterances = self.speech[self.speakers[int(rng.integers(len(self.speakers)))]]
        pieces, filled = [], 0
        while filled < needed:
            utterance = utterances[int(rng.integers(len(utterances)))]
            gain_db = rng.uniform(-settings.utterance_gain_db, settings.utterance_gain_db)
            pieces.append(utterance * (UTTERANCE_RMS * 10 ** (gain_db / 20) / max(rms(utterance), 1e-8)))
            pieces.append(np.zeros(int(rng.uniform(*settings.pause_seconds) * MODEL_SAMPLE_RATE)))
            filled += pieces[-2].size + pieces[-1].size
        speech = audible_excerpt(rng, np.concatenate(pieces), needed)
        if speed != 1.0:
            speech = soxr.resample(speech, MODEL_SAMPLE_RATE * speed, MODEL_SAMPLE_RATE)
        return fit_length(speech, self.segment_samples)

    def _recording_chain(self, rng: np.random.Generator, speech: np.ndarray) -> np.ndarray:
        """A random microphone colour and, sometimes, a band limit (target and input alike)."""
        settings = self.settings
        samples = speech.astype(np.float32)
        for filter_, probability in ((self._equalizer, settings.eq_probability),
                                     (self._lowpass, settings.lowpass_probability)):
            if rng.random() < probability:
                with seeded_global_random(int(rng.integers(2 ** 31))):
                    samples = filter_(samples, sample_rate=MODEL_SAMPLE_RATE)
        return samples.astype(np.float64)

    def _noise(self, rng: np.random.Generator) -> np.ndarray:
        """One noise, sometimes with a second one below it (float64 ``[segment_samples]``)."""
        noise = self._one_noise(rng)
        if rng.random() < self.settings.second_noise_probability:
            second = self._one_noise(rng)
            relative_db = rng.uniform(*self.settings.second_noise_db)
            noise = noise + second * (rms(noise) / max(rms(second), 1e-8) * 10 ** (relative_db / 20))
        return noise

    def _one_noise(self, rng: np.random.Generator) -> np.ndarray:
        settings = self.settings
        draw = rng.random()
        if draw < settings.babble_probability:
            return self._babble(rng)
        if draw < settings.babble_probability + settings.colored_noise_probability or not self.noises:
            return colored_noise(rng, self.segment_samples, exponent=float(rng.uniform(0.0, 2.0)))
        for _ in range(10):
            category = self.noises[int(rng.integers(len(self.noises)))]
            recording = category[int(rng.integers(len(category)))]
            excerpt = looped_excerpt(rng, recording, self.segment_samples)
            if rms(excerpt) > 1e-5:
                return excerpt
        return colored_noise(rng, self.segment_samples, exponent=1.0)

    def _babble(self, rng: np.random.Generator) -> np.ndarray:
        """Several utterances of random training speakers, summed at random gains."""
        voices = int(rng.integers(self.settings.babble_voices[0], self.settings.babble_voices[1] + 1))
        babble = np.zeros(self.segment_samples)
        for _ in range(voices):
            utterances = self.speech[self.speakers[int(rng.integers(len(self.speakers)))]]
            utterance = utterances[int(rng.integers(len(utterances)))]
            excerpt = looped_excerpt(rng, utterance, self.segment_samples)
            babble += excerpt / max(rms(excerpt), 1e-8) * 10 ** (rng.uniform(-6, 0) / 20)
        return babble


def _speech_filters(settings: MixingSettings):
    """The ``audiomentations`` EQ and low-pass, always applied when called."""
    from audiomentations import LowPassFilter, SevenBandParametricEQ
    equalizer = SevenBandParametricEQ(min_gain_db=-settings.eq_gain_db,
                                      max_gain_db=settings.eq_gain_db, p=1.0)
    lowpass = LowPassFilter(min_cutoff_freq=settings.lowpass_hz[0],
                            max_cutoff_freq=settings.lowpass_hz[1], p=1.0)
    return equalizer, lowpass


@contextlib.contextmanager
def seeded_global_random(seed: int) -> Iterator[None]:
    """Seed Python's and NumPy's global generators (``audiomentations`` draws from them),
    restoring their previous states afterwards."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """``signal`` cut or zero-padded at the end to ``length`` samples."""
    if signal.size >= length:
        return signal[:length]
    return np.pad(signal, (0, length - signal.size))


def audible_excerpt(rng: np.random.Generator, speech: np.ndarray, length: int) -> np.ndarray:
    """``length`` samples of ``speech`` from a random offset, redrawn while the excerpt is
    silent (it fell into a pause); ``speech`` starts with an utterance, so offset 0 is the fallback."""
    for _ in range(MAX_REDRAWS):
        start = int(rng.integers(speech.size - length + 1))
        if rms(speech[start:start + length]) >= SILENT_RMS:
            return speech[start:start + length]
    return speech[:length]


def looped_excerpt(rng: np.random.Generator, recording: np.ndarray, length: int) -> np.ndarray:
    """``length`` samples of ``recording`` from a random offset, wrapping around when it is shorter."""
    start = int(rng.integers(recording.size))
    indices = (start + np.arange(length)) % recording.size
    return recording[indices].astype(np.float64)


def colored_noise(rng: np.random.Generator, length: int, exponent: float) -> np.ndarray:
    """Gaussian noise whose power falls as ``1 / f ** exponent`` (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length, 1.0 / MODEL_SAMPLE_RATE)
    frequencies[0] = frequencies[1]
    noise = np.fft.irfft(spectrum / frequencies ** (exponent / 2), n=length)
    return noise / max(rms(noise), 1e-12)


def simulate_room_impulse_responses(count: int, seed: int, rt60_seconds=(0.15, 0.9),
                                    max_order: int = 60) -> List[Tuple[np.ndarray, np.ndarray]]:
    """``count`` shoebox rooms (image method): ``(full, early)`` impulse responses.

    ``early`` is ``full`` up to ``EARLY_REFLECTIONS_SECONDS`` after the direct
    path, zero after it; both are normalised so that the direct path has gain 1.
    """
    import pyroomacoustics

    rng = np.random.default_rng([seed, 7])
    responses = []
    while len(responses) < count:
        dimensions = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        rt60 = float(rng.uniform(*rt60_seconds))
        try:
            absorption, order = pyroomacoustics.inverse_sabine(rt60, dimensions)
        except ValueError:  # the room is too large for that RT60
            continue
        room = pyroomacoustics.ShoeBox(dimensions, fs=MODEL_SAMPLE_RATE, max_order=min(order, max_order),
                                       materials=pyroomacoustics.Material(absorption))
        margin = 0.5
        room.add_source(rng.uniform(margin, dimensions - margin))
        room.add_microphone(rng.uniform(margin, dimensions - margin))
        room.compute_rir()
        full = np.asarray(room.rir[0][0], dtype=np.float64)
        direct = int(np.argmax(np.abs(full)))
        full = full / full[direct]
        early = full.copy()
        early[direct + int(EARLY_REFLECTIONS_SECONDS * MODEL_SAMPLE_RATE):] = 0.0
        responses.append((full, early))
    return responses


def reverberate(speech: np.ndarray, full: np.ndarray, early: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(reverberant input, early-reflection target), both aligned with the dry ``speech``.

    The direct path's delay is removed so that the target stays time-aligned with the dry speech.
    """
    from scipy.signal import fftconvolve

    direct = int(np.argmax(np.abs(early)))
    length = speech.size
    wet = fftconvolve(speech, full)[direct:direct + length]
    target = fftconvolve(speech, early)[direct:direct + length]
    return fit_length(wet, length), fit_length(target, length)
