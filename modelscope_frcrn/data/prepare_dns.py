"""DNS-Challenge-style training data: synthesize noisy/clean pairs, or index existing ones.

Library functions :func:`synthesize_dns` and :func:`index_pairs` (in ``pairs.py``)
do the work and raise :class:`~modelscope_frcrn.errors.DataPreparationError`;
:func:`add_parser` adds the thin ``prepare-dns`` subcommand over them.

Synthesis (``--clean DIR --noise DIR --out DIR``):

- Sources: every WAV/FLAC/OGG file under the folders (recursive), any sample
  rate and channel count (channels averaged, resampled to 16 kHz with soxr).
- Held-out split: a fraction of the clean files and of the noise files (10 %,
  at least one each), chosen by the seed, is used only by the test pairs, the
  rest only by the train pairs. ``OUT/synthesis.json`` lists the held-out files
  and every ``pairs.jsonl`` row lists the source files of its pair.
- Each pair, like the DNS synthesizer: a clean clip of ``clip_seconds`` filled
  with random excerpts of random clean files separated by 0.2 s of silence,
  a noise clip made the same way, SNR and target level (dBFS RMS of the mix)
  drawn uniformly on a 0.1 dB grid, clean and noise scaled so that
  ``noisy = clean + noise`` has that SNR and level; if the mix's peak would
  reach 0.99, clean and noise are scaled down together (the SNR stays, the
  level drops; ``clipping_gain`` in ``pairs.jsonl`` says by how much).
- Files: ``OUT/{train,test}/noisy/noisy_snr{S}_tl{L}_fileid_{N}.wav`` and
  ``OUT/{train,test}/clean/clean_fileid_{N}.wav``, 16 kHz mono PCM_16 like the
  DNS data and the recordings the model is used on, half the size of float;
  noisy and clean are each rounded to int16 from the same float mix, so
  ``noisy - clean`` equals the scaled noise to within one int16 step.
- Deterministic: pair N of a split draws everything from an RNG seeded with
  (seed, split, N), so the same seed gives the same bytes whatever ``workers``.
- Resumable: files are written atomically, a pair whose files exist (and whose
  row is in ``pairs.jsonl``) is skipped, a missing file is rewritten alone.
  Rerunning with other settings into the same folder is refused.
- Layout (``dataset_folder.py``): ``audio`` rows point at the WAV files,
  ``arrays`` rows hold the decoded samples; ``auto`` picks ``audio`` where the
  installed datasets can decode it. Rerunning with another layout rewrites only
  the data files.
"""
import argparse
import json
import math
import multiprocessing
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..atomic import write_text_atomically
from ..audio import MODEL_SAMPLE_RATE, to_int16, write_wav
from ..errors import DataPreparationError
from .dataset_folder import (LAYOUTS, PAIRS, SETTINGS_FILE, SPLITS, PreparedDataset, audio_decoding_problem,
                             clean_name, jsonl, noisy_name, read_jsonl, resolve_layout, write_dataset_folder)
from .sources import find_audio_files, list_digest, load_source, split_held_out
from .synthesis import draw_db, fill_audible_clip, mix

#: Defaults of the DNS Challenge 2021 synthesizer (SNR, level) and of the CLI.
DEFAULT_HOURS = 1.0
DEFAULT_CLIP_SECONDS = 30.0
DEFAULT_SNR = (-5.0, 20.0)
DEFAULT_LEVEL = (-35.0, -15.0)
DEFAULT_TEST_PAIRS = 20
DEFAULT_HELD_OUT_FRACTION = 0.1
DEFAULT_SILENCE_SECONDS = 0.2
DEFAULT_SEED = 0
SETTINGS_FORMAT = 1
#: Settings that must not change between runs into the same folder (the others may).
_FIXED_SETTINGS = ('format', 'sample_rate', 'seed', 'clip_seconds', 'silence_seconds', 'snr_min',
                   'snr_max', 'level_min', 'level_max', 'held_out_fraction', 'clean_files',
                   'noise_files')
_SPLIT_STREAM = {'train': 0, 'test': 1}


@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to make any pair; sent once to each worker process."""

    out_dir: str
    clean_root: str
    noise_root: str
    seed: int
    clip_samples: int
    silence_samples: int
    snr_range: Tuple[float, float]
    level_range: Tuple[float, float]
    #: split -> (clean files, noise files), relative to their roots.
    files: Dict[str, Tuple[List[str], List[str]]] = field(default_factory=dict)


def synthesize_dns(clean_dir, noise_dir, out_dir, *, hours: float = DEFAULT_HOURS,
                   train_pairs: Optional[int] = None, test_pairs: int = DEFAULT_TEST_PAIRS,
                   clip_seconds: float = DEFAULT_CLIP_SECONDS,
                   snr_min: float = DEFAULT_SNR[0], snr_max: float = DEFAULT_SNR[1],
                   level_min: float = DEFAULT_LEVEL[0], level_max: float = DEFAULT_LEVEL[1],
                   held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION,
                   silence_seconds: float = DEFAULT_SILENCE_SECONDS, seed: int = DEFAULT_SEED,
                   workers: int = 1, progress: bool = True, layout: str = 'auto') -> PreparedDataset:
    """Synthesize a DNS-style noisy/clean data set into ``out_dir`` (see the module docstring).

    Args:
        clean_dir, noise_dir: folders of clean speech and of noise (searched recursively).
        out_dir: the data set folder to make or to complete.
        hours: total length of the train split; ``ceil(hours * 3600 / clip_seconds)`` pairs.
        train_pairs: the number of train pairs, instead of ``hours``.
        test_pairs: the number of test pairs (made from held-out files).
        clip_seconds: length of every pair.
        snr_min, snr_max: SNR range in dB (uniform).
        level_min, level_max: RMS level range of the mix in dBFS (uniform).
        held_out_fraction: share of the clean files and of the noise files kept for test.
        silence_seconds: silence between concatenated source excerpts.
        seed: the seed every random choice derives from.
        workers: processes synthesizing pairs in parallel (the result does not depend on it).
        progress: show a tqdm progress bar on stderr.
        layout: ``audio``, ``arrays`` or ``auto`` (see ``dataset_folder.py``).

    Returns:
        the folder and its pair counts; it loads with
        ``datasets.load_dataset(out_dir, 'train', split='train')`` (and ``'test'``).

    Raises:
        DataPreparationError: missing or empty folders, too few files to hold one
        out, undecodable or silent sources, invalid settings, or a folder made
        with other settings.
    """
    if train_pairs is None:
        _check(hours >= 0 and math.isfinite(hours), f'--hours must be >= 0, got {hours}')
        _check(clip_seconds > 0, f'--clip-seconds must be > 0, got {clip_seconds}')
        train_pairs = math.ceil(hours * 3600.0 / clip_seconds - 1e-9)
    counts = {'train': int(train_pairs), 'test': int(test_pairs)}
    _check_settings(counts, clip_seconds, snr_min, snr_max, level_min, level_max,
                    held_out_fraction, silence_seconds, seed, workers)
    layout = resolve_layout(layout)
    clean_files = find_audio_files(clean_dir, 'clean')
    noise_files = find_audio_files(noise_dir, 'noise')
    out_dir = Path(os.path.abspath(out_dir))
    for kind, folder in (('clean', clean_dir), ('noise', noise_dir)):
        folder = Path(os.path.abspath(folder))
        _check(out_dir != folder and folder not in out_dir.parents,
               f'--out {out_dir} is inside the {kind} folder {folder}: its files would become '
               f'sources of the next run; choose an output folder outside it')

    files = _split_sources(clean_files, noise_files, counts, held_out_fraction, seed)
    plan = _Plan(out_dir=str(out_dir), clean_root=os.path.abspath(clean_dir),
                 noise_root=os.path.abspath(noise_dir), seed=seed,
                 clip_samples=int(round(clip_seconds * MODEL_SAMPLE_RATE)),
                 silence_samples=int(round(silence_seconds * MODEL_SAMPLE_RATE)),
                 snr_range=(snr_min, snr_max), level_range=(level_min, level_max), files=files)
    _check(plan.clip_samples > 0, f'--clip-seconds {clip_seconds} is shorter than one sample')
    settings = {'format': SETTINGS_FORMAT, 'sample_rate': MODEL_SAMPLE_RATE, 'seed': seed,
                'clip_seconds': clip_seconds, 'silence_seconds': silence_seconds,
                'snr_min': snr_min, 'snr_max': snr_max, 'level_min': level_min,
                'level_max': level_max, 'held_out_fraction': held_out_fraction,
                'clean_files': list_digest(clean_files), 'noise_files': list_digest(noise_files),
                'clean_dir': plan.clean_root, 'noise_dir': plan.noise_root,
                'train_pairs': counts['train'], 'test_pairs': counts['test'],
                'test_clean_files': files['test'][0] if counts['test'] else [],
                'test_noise_files': files['test'][1] if counts['test'] else []}
    _claim_folder(out_dir, settings)

    done = {split: _completed_records(out_dir / split, counts[split]) for split in SPLITS}
    jobs = [(split, index) for split in SPLITS for index in range(counts[split])
            if index not in done[split]]
    files_written = _run_jobs(plan, jobs, workers, progress, done)

    metadata = {}
    for split in SPLITS:
        records = [done[split][index] for index in range(counts[split])]
        if records:
            write_text_atomically(out_dir / split / PAIRS, jsonl(records))
        metadata[split] = [_metadata_row(out_dir / split, record) for record in records]
    write_dataset_folder(out_dir, metadata, _description(settings, counts, layout), layout)
    return PreparedDataset(path=out_dir, pairs={s: n for s, n in counts.items() if n},
                           files_written=files_written,
                           pairs_skipped=sum(counts.values()) - len(jobs), layout=layout)


# ---------------------------------------------------------------- planning


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DataPreparationError(message)


def _check_settings(counts, clip_seconds, snr_min, snr_max, level_min, level_max,
                    held_out_fraction, silence_seconds, seed, workers) -> None:
    for split, count in counts.items():
        _check(count >= 0, f'the number of {split} pairs must be >= 0, got {count}')
    _check(sum(counts.values()) > 0, 'nothing to make: both the train and test pair counts are 0')
    _check(all(math.isfinite(v) for v in (snr_min, snr_max, level_min, level_max, held_out_fraction)),
           'SNR and level bounds and the held-out fraction must be finite numbers')
    _check(clip_seconds > 0 and math.isfinite(clip_seconds),
           f'--clip-seconds must be > 0, got {clip_seconds}')
    _check(snr_min <= snr_max, f'--snr-min {snr_min} is above --snr-max {snr_max}')
    _check(level_min <= level_max, f'--level-min {level_min} is above --level-max {level_max}')
    _check(level_max < 0, f'--level-max must be below 0 dBFS (an RMS level), got {level_max}')
    _check(0 < held_out_fraction < 1,
           f'the held-out fraction must be between 0 and 1, got {held_out_fraction}')
    _check(silence_seconds >= 0, f'the silence between excerpts must be >= 0 s, got {silence_seconds}')
    _check(isinstance(seed, int) and seed >= 0, f'--seed must be an integer >= 0, got {seed}')
    _check(workers >= 1, f'--workers must be >= 1, got {workers}')
    draw_db(np.random.default_rng(0), snr_min, snr_max, what='SNR')  # the ranges hold a 0.1 dB step
    draw_db(np.random.default_rng(0), level_min, level_max, what='level')


def _split_sources(clean_files, noise_files, counts, fraction, seed):
    """split -> (clean files, noise files); disjoint between splits when both are made."""
    if counts['train'] and counts['test']:
        clean_train, clean_test = split_held_out(clean_files, fraction, seed, 'clean', stream=0)
        noise_train, noise_test = split_held_out(noise_files, fraction, seed, 'noise', stream=1)
        return {'train': (clean_train, noise_train), 'test': (clean_test, noise_test)}
    return {split: (list(clean_files), list(noise_files)) for split in SPLITS}


def _claim_folder(out_dir: Path, settings: dict) -> None:
    """Write OUT/synthesis.json, or refuse a folder that was made with other settings."""
    settings_path = out_dir / SETTINGS_FILE
    if settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text(encoding='utf-8'))
        except (OSError, ValueError) as error:
            raise DataPreparationError(f'cannot read {settings_path}: {error}') from error
        changed = [key for key in _FIXED_SETTINGS if previous.get(key) != settings[key]]
        has_audio = any(any((out_dir / split).rglob('*.wav')) for split in SPLITS)
        if changed and has_audio:
            details = ', '.join(f'{key}: {previous.get(key)!r} -> {settings[key]!r}' for key in changed)
            raise DataPreparationError(
                f'{out_dir} was made with other settings ({details}); resuming would mix two data '
                f'sets: use another --out folder, the settings of {settings_path}, or delete the '
                f'folder to start over')
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise DataPreparationError(f'--out {out_dir} exists and is not empty, and it is not a '
                                   f'folder made by prepare-dns: choose a new or empty folder')
    write_text_atomically(settings_path, json.dumps(settings, indent=2) + '\n')


def _completed_records(split_dir: Path, count: int) -> Dict[int, dict]:
    """fileid -> pairs.jsonl row, for the pairs < count whose two files exist."""
    records = {}
    for record in read_jsonl(split_dir / PAIRS):
        fileid = record.get('fileid')
        paths = [record.get('noisy'), record.get('clean')]
        if (isinstance(fileid, int) and 0 <= fileid < count and all(isinstance(p, str) for p in paths)
                and all((split_dir / path).is_file() for path in paths)):
            records[fileid] = record
    return records


def _metadata_row(split_dir: Path, record: dict) -> dict:
    return {'noisy': str(split_dir / record['noisy']), 'clean': str(split_dir / record['clean']),
            'duration': record['duration']}


def _description(settings: dict, counts: Dict[str, int], layout: str) -> str:
    return (
        '# DNS-style noisy/clean speech pairs\n\n'
        f'Synthesized by `modelscope-frcrn prepare-dns` from `{settings["clean_dir"]}` and '
        f'`{settings["noise_dir"]}`: {counts["train"]} train and {counts["test"]} test pairs of '
        f'{settings["clip_seconds"]:g} s, 16 kHz mono PCM_16, SNR {settings["snr_min"]:g} to '
        f'{settings["snr_max"]:g} dB, mix level {settings["level_min"]:g} to '
        f'{settings["level_max"]:g} dBFS, seed {settings["seed"]}. Test pairs use only clean and '
        f'noise files that no train pair uses (listed in `synthesis.json`).\n\n'
        '```python\n'
        'from datasets import load_dataset\n'
        "train = load_dataset(FOLDER, 'train', split='train')  # columns noisy, clean, duration\n"
        '```\n\n'
        + _MOVING[layout] +
        '`*/pairs.jsonl` tells for every pair its SNR, level, clipping gain and source files.\n')


_MOVING = {
    'audio': 'Audio paths in `*/metadata.jsonl` are absolute: after moving this folder, rerun the\n'
             'same command with the new `--out` (nothing is synthesized again).\n',
    'arrays': 'The samples are in `*/data.parquet` (16 kHz float32); the WAV files beside them are\n'
              'what `modelscope-frcrn evaluate` reads.\n'}


# ---------------------------------------------------------------- making pairs

_WORKER_PLAN: Optional[_Plan] = None


def _init_worker(plan: Optional[_Plan]) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan
    load_source.cache_clear()


def _pair_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0, _SPLIT_STREAM[split], index])


def _make_pair(job: Tuple[str, int]) -> Tuple[str, dict, int]:
    """Synthesize pair ``index`` of ``split`` and write the files that are missing.

    Returns:
        the split, the pair's pairs.jsonl row and the number of files written.
    """
    split, index = job
    plan = _WORKER_PLAN
    rng = _pair_rng(plan.seed, split, index)
    snr = draw_db(rng, *plan.snr_range, what='SNR')
    level = draw_db(rng, *plan.level_range, what='level')
    clean_files, noise_files = plan.files[split]
    clean, clean_used = fill_audible_clip(
        rng, clean_files, plan.clip_samples,
        lambda name: load_source(plan.clean_root, name, 'clean'), plan.silence_samples, 'clean')
    noise, noise_used = fill_audible_clip(
        rng, noise_files, plan.clip_samples,
        lambda name: load_source(plan.noise_root, name, 'noise'), plan.silence_samples, 'noise')
    mixture = mix(clean, noise, snr, level)
    record = {'fileid': index, 'noisy': f'noisy/{noisy_name(index, snr, level)}',
              'clean': f'clean/{clean_name(index)}', 'duration': plan.clip_samples / MODEL_SAMPLE_RATE,
              'snr': snr, 'level': level, 'clipping_gain': round(mixture.clipping_gain, 6),
              'clean_sources': clean_used, 'noise_sources': noise_used}
    written = 0
    split_dir = Path(plan.out_dir) / split
    for key, signal in (('noisy', mixture.noisy), ('clean', mixture.clean)):
        path = split_dir / record[key]
        if not path.is_file():
            write_wav(path, to_int16(signal), MODEL_SAMPLE_RATE, subtype='PCM_16')
            written += 1
    return split, record, written


def _run_jobs(plan: _Plan, jobs: Sequence[Tuple[str, int]], workers: int, progress: bool,
              done: Dict[str, Dict[int, dict]]) -> int:
    """Make the pairs of ``jobs``, appending each row to its split's pairs.jsonl as it
    completes (so an interrupted run resumes), and adding it to ``done``."""
    if not jobs:
        return 0
    from tqdm.auto import tqdm

    logs = {}
    for split in {split for split, _ in jobs}:
        (Path(plan.out_dir) / split).mkdir(parents=True, exist_ok=True)
        logs[split] = open(Path(plan.out_dir) / split / PAIRS, 'a', encoding='utf-8')
    pool = None
    try:
        if workers == 1 or len(jobs) == 1:
            _init_worker(plan)
            results = map(_make_pair, jobs)
        else:
            pool = multiprocessing.get_context().Pool(min(workers, len(jobs)), initializer=_init_worker,
                                                      initargs=(plan,))
            results = pool.imap_unordered(_make_pair, jobs)
        written = 0
        for split, record, count in tqdm(results, total=len(jobs), desc='prepare-dns', unit='pair',
                                         disable=not progress, file=sys.stderr):
            logs[split].write(json.dumps(record, ensure_ascii=False) + '\n')
            logs[split].flush()
            done[split][record['fileid']] = record
            written += count
        return written
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _init_worker(None)
        for log in logs.values():
            log.close()


# ---------------------------------------------------------------- command line

_SYNTHESIS_OPTIONS = ('clean', 'noise', 'hours', 'train_pairs', 'clip_seconds', 'snr_min', 'snr_max',
                      'level_min', 'level_max', 'held_out_fraction', 'seed', 'workers')

_EPILOG = """\
examples:
  # 100 hours of 30 s training pairs plus 20 held-out test pairs, 8 processes
  modelscope-frcrn prepare-dns --clean DNS/clean --noise DNS/noise --out dns_train --hours 100 --workers 8
  # the DNS Challenge synthetic test set as a test-only data set (no audio is copied)
  modelscope-frcrn prepare-dns --from-pairs test_set/synthetic/no_reverb --out dns_test --test-pairs all

then, in Python (the model card's training code):
  hf_ds = datasets.load_dataset('dns_train', 'train', split='train')

Rerunning the same command resumes an interrupted run; the same --seed gives the same
files whatever --workers.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``prepare-dns`` subcommand to an argparse ``subparsers`` object.

    The subcommand sets ``run`` (called with the parsed namespace, returns the
    exit code) as the command line's other subcommands do.
    """
    parser = subparsers.add_parser(
        'prepare-dns', help='make a DNS-Challenge-style noisy/clean training data set',
        description="Make a data set folder of 16 kHz noisy/clean speech pairs that\n"
                    "datasets.load_dataset(OUT, 'train', split='train') loads with the columns\n"
                    "noisy, clean (audio) and duration that the FRCRN model card trains on: either\n"
                    "synthesize pairs from clean speech and noise like the DNS Challenge synthesizer\n"
                    "(--clean, --noise), or index pairs made elsewhere (--from-pairs).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, metavar='DIR', help='the data set folder to write')
    parser.add_argument('--test-pairs', type=_count_or_all, metavar='N',
                        help=f'pairs in the test split (default {DEFAULT_TEST_PAIRS}); with '
                             '--from-pairs, the N highest fileids, or "all" for a test-only set, '
                             '0 for a train-only set')
    parser.add_argument('--layout', choices=LAYOUTS, default='auto',
                        help='audio: rows point at the WAV files, decoded by datasets (soundfile in '
                             'datasets 3.x, torchcodec + FFmpeg in 4.x); arrays: rows hold the '
                             'samples, read by any datasets version without a decoder; auto '
                             '(default): audio where the installed datasets can decode it')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')

    synthesis = parser.add_argument_group(
        'synthesis', 'Test pairs use clean and noise files that train pairs never use.')
    synthesis.add_argument('--clean', metavar='DIR', help='clean speech files (WAV/FLAC/OGG, recursive, '
                                                          'any sample rate)')
    synthesis.add_argument('--noise', metavar='DIR', help='noise files (WAV/FLAC/OGG, recursive)')
    synthesis.add_argument('--hours', type=float, metavar='H',
                           help=f'hours of train pairs (default {DEFAULT_HOURS:g})')
    synthesis.add_argument('--train-pairs', type=int, metavar='N',
                           help='number of train pairs, instead of --hours')
    synthesis.add_argument('--clip-seconds', type=float, metavar='S',
                           help=f'length of every pair (default {DEFAULT_CLIP_SECONDS:g})')
    synthesis.add_argument('--snr-min', type=float, metavar='DB', help=f'default {DEFAULT_SNR[0]:g}')
    synthesis.add_argument('--snr-max', type=float, metavar='DB', help=f'default {DEFAULT_SNR[1]:g}')
    synthesis.add_argument('--level-min', type=float, metavar='DBFS',
                           help=f'RMS level of the mix, default {DEFAULT_LEVEL[0]:g}')
    synthesis.add_argument('--level-max', type=float, metavar='DBFS', help=f'default {DEFAULT_LEVEL[1]:g}')
    synthesis.add_argument('--held-out-fraction', type=float, metavar='F',
                           help='share of clean and of noise files used only by test pairs '
                                f'(default {DEFAULT_HELD_OUT_FRACTION:g}, at least one file each)')
    synthesis.add_argument('--seed', type=int, metavar='S', help=f'default {DEFAULT_SEED}')
    synthesis.add_argument('--workers', type=int, metavar='N',
                           help='processes (default: the number of CPUs); the output does not depend on it')

    existing = parser.add_argument_group('indexing existing pairs')
    existing.add_argument('--from-pairs', metavar='DIR',
                          help='a folder with noisy/ and clean/ files matched by their trailing '
                               'fileid_N (as the DNS test set); the audio is not copied')
    parser.set_defaults(run=run_prepare_dns)
    return parser


def run_prepare_dns(args: argparse.Namespace) -> int:
    """The ``prepare-dns`` subcommand: check the option combination, call the library, report."""
    from .pairs import index_pairs

    given = [name for name in _SYNTHESIS_OPTIONS if getattr(args, name) is not None]
    if args.from_pairs is not None:
        if given:
            raise DataPreparationError(
                f'--from-pairs indexes existing pairs: --{given[0].replace("_", "-")} is an option '
                f'of synthesis (--clean/--noise), leave it out')
        test_pairs = DEFAULT_TEST_PAIRS if args.test_pairs is None else args.test_pairs
        result = index_pairs(args.from_pairs, args.out, test_pairs=test_pairs, layout=args.layout)
    else:
        if args.clean is None or args.noise is None:
            raise DataPreparationError('pass --clean DIR and --noise DIR to synthesize pairs, '
                                       'or --from-pairs DIR to index existing ones')
        if args.hours is not None and args.train_pairs is not None:
            raise DataPreparationError('pass --hours or --train-pairs, not both')
        if args.test_pairs == 'all':
            raise DataPreparationError('--test-pairs all is for --from-pairs; give a number')

        def option(name, default):
            value = getattr(args, name)
            return default if value is None else value

        result = synthesize_dns(
            args.clean, args.noise, args.out, hours=option('hours', DEFAULT_HOURS),
            train_pairs=args.train_pairs, test_pairs=option('test_pairs', DEFAULT_TEST_PAIRS),
            clip_seconds=option('clip_seconds', DEFAULT_CLIP_SECONDS),
            snr_min=option('snr_min', DEFAULT_SNR[0]), snr_max=option('snr_max', DEFAULT_SNR[1]),
            level_min=option('level_min', DEFAULT_LEVEL[0]),
            level_max=option('level_max', DEFAULT_LEVEL[1]),
            held_out_fraction=option('held_out_fraction', DEFAULT_HELD_OUT_FRACTION),
            seed=option('seed', DEFAULT_SEED), workers=option('workers', os.cpu_count() or 1),
            progress=not args.quiet, layout=args.layout)
    print(f'wrote {result.summary()}')
    problem = audio_decoding_problem() if result.layout == 'audio' else None
    if problem:
        print(f'note: {problem}', file=sys.stderr)
    return 0


def _count_or_all(text: str) -> Union[int, str]:
    if text == 'all':
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number of pairs or "all", got {text!r}') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a number >= 0, got {value}')
    return value
