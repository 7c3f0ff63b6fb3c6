"""Add generated noises (mains hum, bursts, fan, alert tones) to a sources folder.

    python recipes/broad_model/add_generated_noise.py --sources SOURCES [--clips 24] [--seconds 30] \
        [--categories hum,bursts,fan,tones]

Writes ``SOURCES/noise/{train,valid}/<category>/*.flac``: more noise categories for
on-the-fly mixing. The recorded categories of ``build_sources.py`` have no steady
mains hum and few isolated clicks and thumps; the shipped model learnt both from the
default recipe's generators (``hum``, ``bursts``, ``fan``), and a run trained without
them fell behind it on exactly those noise types of the out-of-domain set
(recipes/broad_model/README.md). The packages hold only 4 minutes of alert sounds;
``tones`` adds synthetic ones: ringtone melodies, chimes, beeps, telephone rings, DTMF
and sirens, each motif repeated with pauses. Train and validation clips are drawn from
different seeds. Idempotent: existing category folders are replaced.
"""
import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RECIPES = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
SEEDS = {'train': 101, 'valid': 202}
CATEGORIES = ('hum', 'bursts', 'fan', 'tones')
#: Highest partial of a generated tone, below the 8 kHz Nyquist frequency.
TOP_HZ = 7800.0
DTMF_ROWS, DTMF_COLUMNS = (697.0, 770.0, 852.0, 941.0), (1209.0, 1336.0, 1477.0, 1633.0)
#: Partial ratios of a struck bell or bar (inharmonic), for chimes.
BELL_RATIOS = (1.0, 2.0, 2.76, 4.07, 5.4)


def partials(freq: np.ndarray, rng: np.random.Generator, ratios=None) -> np.ndarray:
    """A tone with instantaneous fundamental ``freq`` (Hz per sample) and a random timbre:
    harmonics (or the given ratios) with amplitudes 1/k**p, none above ``TOP_HZ``."""
    ratios = ratios or tuple(range(1, int(rng.integers(1, 9)) + 1))
    slope = rng.uniform(0.5, 2.5)
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    tone = np.zeros_like(freq)
    for k, ratio in enumerate(ratios, start=1):
        if ratio * freq.max() < TOP_HZ:
            tone += np.sin(ratio * phase + rng.uniform(0, 2 * np.pi)) / k ** slope
    return tone


def envelope(length: int, rng: np.random.Generator, struck: bool) -> np.ndarray:
    """Attack then an exponential decay (struck) or a sustain with a short release."""
    t = np.arange(length) / SAMPLE_RATE
    attack = np.minimum(1.0, t / rng.uniform(0.002, 0.02))
    if struck:
        return attack * np.exp(-t / rng.uniform(0.08, 0.8))
    release = np.minimum(1.0, (length / SAMPLE_RATE - t) / 0.01)
    return attack * np.clip(release, 0.0, 1.0)


def note(freq_hz: float, seconds: float, rng: np.random.Generator, struck: bool,
         ratios=None) -> np.ndarray:
    length = max(1, int(seconds * SAMPLE_RATE))
    return partials(np.full(length, freq_hz), rng, ratios) * envelope(length, rng, struck)


def melody(rng: np.random.Generator) -> np.ndarray:
    """A ringtone-like phrase: 3-8 notes of a major or minor scale."""
    steps = np.array([0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.5 else [0, 2, 3, 5, 7, 8, 10])
    root, struck = rng.uniform(48, 84), rng.random() < 0.5
    notes = []
    for _ in range(int(rng.integers(3, 9))):
        pitch = root + steps[rng.integers(len(steps))] + 12 * rng.integers(0, 2)
        notes.append(note(440.0 * 2 ** ((pitch - 69) / 12), rng.uniform(0.08, 0.4), rng, struck))
    return np.concatenate(notes)


def chime(rng: np.random.Generator) -> np.ndarray:
    """One to four bell strikes with inharmonic partials, overlapping as they ring."""
    strikes = int(rng.integers(1, 5))
    gap = int(rng.uniform(0.1, 0.4) * SAMPLE_RATE)
    tail = int(rng.uniform(0.6, 1.5) * SAMPLE_RATE)
    out = np.zeros(gap * strikes + tail)
    for index in range(strikes):
        strike = note(rng.uniform(300, 1500), tail / SAMPLE_RATE, rng, True, BELL_RATIOS)
        out[index * gap:index * gap + tail] += strike
    return out


def beeps(rng: np.random.Generator) -> np.ndarray:
    """1-4 equal beeps (sine to buzzy) with short gaps: timers, alarms, notifications."""
    beep = note(rng.uniform(400, 4000), rng.uniform(0.04, 0.3), rng, False)
    pause = np.zeros(int(rng.uniform(0.05, 0.25) * SAMPLE_RATE))
    return np.concatenate([np.concatenate([beep, pause]) for _ in range(int(rng.integers(1, 5)))])


def telephone_ring(rng: np.random.Generator) -> np.ndarray:
    """Two tones together, amplitude-modulated at 15-25 Hz like a bell ringer, for 0.4-2 s."""
    length = int(rng.uniform(0.4, 2.0) * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    pair = sum(np.sin(2 * np.pi * rng.uniform(300, 1200) * t) for _ in range(2))
    warble = 0.5 * (1 + np.sign(np.sin(2 * np.pi * rng.uniform(15, 25) * t)))
    return pair * (warble if rng.random() < 0.7 else 1.0) * envelope(length, rng, False)


def dtmf(rng: np.random.Generator) -> np.ndarray:
    """A dialled number: 3-10 keypad tone pairs of 60-200 ms with 50-150 ms pauses."""
    keys = []
    for _ in range(int(rng.integers(3, 11))):
        length = int(rng.uniform(0.06, 0.2) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        low, high = rng.choice(DTMF_ROWS), rng.choice(DTMF_COLUMNS)
        key = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)
        keys += [key * envelope(length, rng, False), np.zeros(int(rng.uniform(0.05, 0.15) * SAMPLE_RATE))]
    return np.concatenate(keys)


def siren(rng: np.random.Generator) -> np.ndarray:
    """A pitch sweeping up and down (wail) or alternating (hi-lo) for 0.5-3 s."""
    length = int(rng.uniform(0.5, 3.0) * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    low = rng.uniform(300, 1000)
    high = low * rng.uniform(1.3, 3.0)
    rate = rng.uniform(0.3, 4.0)
    if rng.random() < 0.5:
        sweep = 0.5 * (1 - np.cos(2 * np.pi * rate * t))
    else:
        sweep = (np.sin(2 * np.pi * rate * t) > 0).astype(float)
    return partials(low + (high - low) * sweep, rng) * envelope(length, rng, False)


MOTIFS = (melody, chime, beeps, telephone_ring, dtmf, siren)


def tones(n: int, rng: np.random.Generator) -> np.ndarray:
    """Alert-like sounds on a quiet floor: motifs (``MOTIFS``) each repeated 1-6 times
    with 0.1-2 s pauses, a new motif after each run of repeats."""
    x = 0.001 * rng.standard_normal(n)
    position = int(rng.uniform(0, 1) * SAMPLE_RATE)
    while position < n:
        motif = MOTIFS[rng.integers(len(MOTIFS))](rng)
        motif *= rng.uniform(0.3, 1.0) / np.sqrt(np.mean(motif ** 2) + 1e-12)
        for _ in range(int(rng.integers(1, 7))):
            end = min(n, position + motif.size)
            x[position:end] += motif[:end - position]
            position = end + int(rng.uniform(0.1, 2.0) * SAMPLE_RATE)
            if position >= n:
                break
    return x


def default_recipe_generators():
    """``{category: generator(n, rng)}`` from ``recipes/default_model/build_sources.py``, and its
    ``at_level``."""
    spec = importlib.util.spec_from_file_location(
        'default_build_sources', RECIPES / 'default_model' / 'build_sources.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)

    def hum(n, rng):
        return module.hum(n, rng, float(rng.choice([50.0, 60.0])))

    return {'hum': hum, 'bursts': module.bursts, 'fan': module.fan}, module.at_level


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sources', type=Path, required=True)
    parser.add_argument('--clips', type=int, default=24, help='training clips per category')
    parser.add_argument('--seconds', type=float, default=30.0)
    parser.add_argument('--categories', default=','.join(CATEGORIES),
                        help=f'comma-separated, among {", ".join(CATEGORIES)}')
    args = parser.parse_args(argv)
    categories = args.categories.split(',')
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        parser.error(f'unknown categories {sorted(unknown)}; choose among {sorted(CATEGORIES)}')
    default_generators, at_level = default_recipe_generators()
    available = {**default_generators, 'tones': tones}
    generators = {name: available[name] for name in categories}
    length = int(args.seconds * SAMPLE_RATE)
    for split, clips in (('train', args.clips), ('valid', max(2, args.clips // 8))):
        for category, generate in generators.items():
            folder = args.sources / 'noise' / split / category
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for index in range(clips):
                rng = np.random.default_rng([SEEDS[split], index, len(category)])
                sf.write(folder / f'generated_{category}_{index:03d}.flac',
                         at_level(generate(length, rng)), SAMPLE_RATE, subtype='PCM_16')
            print(f'{split}/{category}: {clips} clips of {args.seconds:g} s')


if __name__ == '__main__':
    main()
