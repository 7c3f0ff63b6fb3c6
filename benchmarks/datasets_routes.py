"""The two data routes of ``prepare-dns`` under the installed ``datasets``: decode throughput and disk.

``audio`` layout: rows point at 16 kHz PCM_16 WAV files that datasets decodes
(soundfile in datasets 3.x, torchcodec + FFmpeg in 4.x). ``arrays`` layout:
the samples are stored decoded (zstd float32 parquet) and read without a
decoder. For each, on ``--pairs`` noisy/clean pairs of ``--seconds`` of speech
(the example recording and the held-out test asset, tiled):

- write: ``index_pairs`` time (arrays: decoding into parquet);
- load: ``load_dataset(DIR, 'train', split='train')``, and its cache;
- segment: the model card's ``map(to_segment, remove_columns=['duration'],
  batched=True, batch_size=36)``, timed in CPU seconds of this process
  (``--num-proc 1``, so the time does not depend on other jobs), and its cache;
- disk: MB per hour of pairs (noisy + clean) of the data files and of each cache.

Run it once per environment; results are merged into the JSON under the
datasets version:

    python benchmarks/datasets_routes.py                       # datasets 3.6
    /tmp/ds4/bin/python benchmarks/datasets_routes.py          # datasets 4.x (+ torchcodec)

Prints a markdown table of every recorded environment and writes
``benchmarks/datasets_routes.json``.
"""
import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import soundfile as sf

from modelscope_frcrn.audio import read_mono
from modelscope_frcrn.data import index_pairs
from modelscope_frcrn.data.dataset_folder import DATA_FILES, audio_decoding_problem

HERE = Path(__file__).resolve().parent
SOURCES = {'noisy': HERE.parent / 'examples' / 'speech_with_noise.wav',
           'clean': HERE.parent / 'tests' / 'assets' / 'heldout_clean.wav'}
RATE = 16000


def write_pairs(folder: Path, pairs: int, seconds: float) -> None:
    """``pairs`` noisy/clean WAV pairs of ``seconds``, DNS-named, each from its own offset."""
    samples = int(seconds * RATE)
    for kind, source in SOURCES.items():
        signal = read_mono(source)
        tiled = np.tile(signal, int(np.ceil((samples + pairs * 997) / signal.size)))
        (folder / kind).mkdir(parents=True)
        for fileid in range(pairs):
            start = fileid * 997  # a different excerpt per pair
            sf.write(str(folder / kind / f'{kind}_fileid_{fileid}.wav'), tiled[start:start + samples],
                     RATE, subtype='PCM_16')


def megabytes(paths) -> float:
    return sum(path.stat().st_size for path in paths if path.is_file()) / 1e6


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(layout: str, pairs_dir: Path, work: Path, hours: float, num_proc: int) -> dict:
    from modelscope.utils.audio.audio_utils import to_segment

    out = work / layout
    started = time.perf_counter()
    index_pairs(pairs_dir, out, test_pairs=0, layout=layout)
    write_s = time.perf_counter() - started
    data_file = out / 'train' / DATA_FILES[layout]

    load_cache, segment_cache = work / f'{layout}_load_cache', work / f'{layout}_segment_cache'
    started = time.perf_counter()
    loaded = datasets.load_dataset(str(out), 'train', split='train', cache_dir=str(load_cache))
    load_s = time.perf_counter() - started
    load_files = set(load_cache.rglob('*'))

    wall, cpu = time.perf_counter(), cpu_seconds()
    segments = loaded.map(to_segment, remove_columns=['duration'], batched=True, batch_size=36,
                          num_proc=num_proc if num_proc > 1 else None,
                          cache_file_name=str(segment_cache / 'segments.arrow'))
    segment_cpu_s, segment_wall_s = cpu_seconds() - cpu, time.perf_counter() - wall
    segment_cache_files = set(segment_cache.rglob('*')) | (set(load_cache.rglob('*')) - load_files)
    audio_seconds = hours * 3600
    per_hour = 1 / hours
    return {
        'segments': len(segments),
        'segment_dtype': str(segments.features['noisy'].feature.dtype),
        'write_s': round(write_s, 2),
        'load_s': round(load_s, 2),
        'segment_wall_s': round(segment_wall_s, 2),
        'segment_cpu_s': round(segment_cpu_s, 2),
        # seconds of pairs (noisy + clean) decoded and segmented per CPU second (num_proc 1)
        'audio_s_per_cpu_s': round(audio_seconds / segment_cpu_s, 1) if num_proc == 1 else None,
        'wav_mb_per_hour': round(megabytes((pairs_dir).rglob('*.wav')) * per_hour),
        'data_file_mb_per_hour': round(megabytes([data_file]) * per_hour, 1),
        'load_cache_mb_per_hour': round(megabytes(load_files) * per_hour),
        'segment_cache_mb_per_hour': round(megabytes(segment_cache_files) * per_hour),
    }


def table(results: dict) -> str:
    lines = ['| datasets | route | decode + segment (s of pairs per CPU s) | segments | '
             'WAV MB/h | parquet MB/h | load cache MB/h | segment cache MB/h |',
             '|---|---|---|---|---|---|---|---|']
    for environment, routes in results.items():
        for layout, row in routes['routes'].items():
            if 'unavailable' in row:
                lines.append(f'| {environment} | {layout} | unavailable: {row["unavailable"][:60]}... '
                             f'| | | | | |')
                continue
            parquet = row['data_file_mb_per_hour'] if layout == 'arrays' else '-'
            lines.append(f'| {environment} | {routes["decoder"][layout]} | {row["audio_s_per_cpu_s"]} | '
                         f'{row["segment_dtype"]} | {row["wav_mb_per_hour"]} | {parquet} | '
                         f'{row["load_cache_mb_per_hour"]} | {row["segment_cache_mb_per_hour"]} |')
    return '\n'.join(lines)


def decoders() -> dict:
    if int(datasets.__version__.split('.')[0]) < 4:
        audio = f'audio (soundfile {sf.__version__})'
    else:
        try:
            from importlib.metadata import version
            audio = f'audio (torchcodec {version("torchcodec")})'
        except Exception:  # not installed: the row says why it is unavailable
            audio = 'audio (torchcodec)'
    return {'audio': audio, 'arrays': 'arrays (no decoder)'}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pairs', type=int, default=100)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--num-proc', type=int, default=1,
                        help='processes for the map (1: CPU time is measured)')
    parser.add_argument('--json', type=Path, default=HERE / 'datasets_routes.json')
    args = parser.parse_args(argv)

    import torch
    hours = args.pairs * args.seconds / 3600
    routes = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        write_pairs(work / 'pairs', args.pairs, args.seconds)
        for layout in ('audio', 'arrays'):
            problem = audio_decoding_problem() if layout == 'audio' else None
            routes[layout] = ({'unavailable': problem} if problem else
                              measure(layout, work / 'pairs', work, hours, args.num_proc))
    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    results[f'datasets {datasets.__version__}'] = {
        'date': time.strftime('%Y-%m-%d %H:%M'), 'pairs': args.pairs, 'seconds': args.seconds,
        'num_proc': args.num_proc, 'torch': torch.__version__, 'python': platform.python_version(),
        'decoder': decoders(), 'routes': routes}
    args.json.write_text(json.dumps(results, indent=2) + '\n')
    print(table(results))


if __name__ == '__main__':
    main()
