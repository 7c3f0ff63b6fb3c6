"""Throughput at scale (issue 16): audio hours denoised per wall hour, batching off and on.

Two folders are made from ``examples/speech_with_noise.wav`` (9.2 s, tiled where a file
is longer): many short files of 2-10 s (random lengths and start points, as an ASR or TTS
corpus) and a few long files. Each folder goes through the ``denoise`` command's
:func:`~modelscope_frcrn.inference.batch.run_jobs` with ``--batch-size 1`` and with
``--batch-size N``, side by side in one process with the model loaded once (after a warm-up
on one batch's worth of files), alternated ``--repeats`` times, the fastest pass of each
counted, outputs overwritten each time. Only files no longer than one chunk (6 s) are batched;
the share of such files is reported.

With ``--ray-workers N...`` each folder also goes, from cold (process or pool start-up and
model loading counted), through one ``denoise`` process with ``--threads T`` and through
``--engine ray`` with pools of N workers sharing the same T threads (one local Ray session
of T CPUs, its start-up reported apart), alternated ``--repeats`` times, the fastest pass of
each counted; after each Ray pass, a second one where every file is skipped
measures the pool's start-up. Ray's overhead per file is measured apart: one worker over
folders of 50 and 1000 files whose outputs all exist (each file skipped after a header
check), fastest of two passes each, the growth of wall time per file, less the header
check's own time.

    python benchmarks/scale.py --json benchmarks/scale.json               # 200 short, 3 x 60 s
    python benchmarks/scale.py --short-files 40 --long-files 2 --long-seconds 30 --threads 2
    python benchmarks/scale.py --device cuda --batch-size 32
    python benchmarks/scale.py --threads 2 --ray-workers 1 2 --json benchmarks/scale_ray.json
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf
import torch

from modelscope_frcrn.inference.backends import build_enhancer
from modelscope_frcrn.inference.batch import denoise_files, plan_jobs, run_jobs
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.inference.loading import load_model

EXAMPLE = Path(__file__).resolve().parent.parent / 'examples' / 'speech_with_noise.wav'
RATE = 16000


def write_folder(folder: Path, seconds: List[float], speech: np.ndarray,
                 rng: np.random.Generator) -> float:
    """One WAV per length in ``seconds``, cut from ``speech`` tiled; returns the total seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    tiled = np.tile(speech, int(np.ceil(max(seconds) * RATE / speech.size)) + 1)
    for index, length in enumerate(seconds):
        start = int(rng.integers(0, speech.size))
        sf.write(str(folder / f'{index:05d}.wav'), tiled[start:start + int(length * RATE)], RATE)
    return float(sum(seconds))


def throughput(folder: Path, output: Path, denoiser: Denoiser, batch_size: int,
               audio_seconds: float, files: Optional[int] = None) -> Dict[str, float]:
    """Audio hours per wall hour for one pass over ``folder`` (its first ``files`` files)."""
    jobs = plan_jobs([str(folder)], str(output)).jobs[:files]
    start = time.perf_counter()
    summary = run_jobs(jobs, lambda: denoiser, overwrite=True, progress=False,
                       batch_size=batch_size)
    wall = time.perf_counter() - start
    if summary.failed:
        raise RuntimeError(f'{summary.failed} files failed')
    return {'wall_s': wall, 'audio_hours_per_wall_hour': audio_seconds / wall}


def measure(name: str, folder: Path, work: Path, denoiser: Denoiser, batch_size: int,
            audio_seconds: float, short_share: float, repeats: int) -> Dict[str, object]:
    """Batching off and on, alternated ``repeats`` times; the fastest pass of each."""
    throughput(folder, work / 'warmup', denoiser, batch_size, audio_seconds, batch_size)
    passes: Dict[str, List[Dict[str, float]]] = {'off': [], 'on': []}
    for _ in range(repeats):
        for mode, size in (('off', 1), ('on', batch_size)):
            passes[mode].append(throughput(folder, work / mode, denoiser, size, audio_seconds))
            print(f'{name}: batching {mode} {passes[mode][-1]["wall_s"]:.1f} s', file=sys.stderr)
    off, on = (min(passes[mode], key=lambda run: run['wall_s']) for mode in ('off', 'on'))
    return {'audio_seconds': audio_seconds, 'share_batched': short_share, 'off': off, 'on': on,
            'speedup': on['audio_hours_per_wall_hour'] / off['audio_hours_per_wall_hour'],
            'walls_s': {mode: [run['wall_s'] for run in runs] for mode, runs in passes.items()}}


def measure_ray(folder: Path, work: Path, audio_seconds: float, threads: int,
                pools: List[int], repeats: int) -> Dict[str, Dict[str, object]]:
    """One ``denoise`` process, then Ray pools of each size in ``pools`` sharing ``threads``,
    alternated ``repeats`` times; the fastest pass of each, with every pass's wall time."""
    passes: Dict[str, List[Dict[str, float]]] = {}
    for _ in range(repeats):
        passes.setdefault('local_process', []).append(
            local_process(folder, work / 'local', threads, audio_seconds))
        for workers in pools:
            passes.setdefault(f'ray_{workers}', []).append(ray_pool(
                folder, work / f'ray_{workers}', workers, max(1, threads // workers),
                audio_seconds))
    return {name: {**min(runs, key=lambda run: run['wall_s']),
                   'walls_s': [run['wall_s'] for run in runs]} for name, runs in passes.items()}


def local_process(folder: Path, output: Path, threads: int, audio_seconds: float
                  ) -> Dict[str, float]:
    """``modelscope-frcrn denoise FOLDER`` in a fresh process, start-up and model loading
    included."""
    command = [sys.executable, '-m', 'modelscope_frcrn', 'denoise', str(folder), '-o',
               str(output), '--threads', str(threads), '--quiet', '--overwrite']
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    print(f'{folder.name}: one process {wall:.1f} s', file=sys.stderr)
    return {'wall_s': wall, 'audio_hours_per_wall_hour': audio_seconds / wall,
            'load_average': os.getloadavg()[0]}


def ray_pool(folder: Path, output: Path, workers: int, threads: int,
             audio_seconds: float) -> Dict[str, float]:
    """A cold pass of ``--engine ray`` with ``workers`` x ``threads``, then a pass where every
    file is skipped: the pool's start-up. ``work_s``: the workers' time in their files
    (model loading included)."""
    options = dict(engine='ray', workers=workers, threads_per_worker=threads, quiet=True)
    start = time.perf_counter()
    summary = denoise_files([str(folder)], str(output), overwrite=True, **options)
    wall = time.perf_counter() - start
    if summary.failed:
        raise RuntimeError(f'{summary.failed} files failed')
    start = time.perf_counter()
    denoise_files([str(folder)], str(output), **options)
    startup = time.perf_counter() - start
    work = sum(report.seconds for report in summary.files)
    print(f'{folder.name}: ray {workers} x {threads} {wall:.1f} s', file=sys.stderr)
    return {'workers': workers, 'threads_per_worker': threads, 'wall_s': wall,
            'audio_hours_per_wall_hour': audio_seconds / wall, 'startup_s': startup,
            'work_s': work, 'load_average': os.getloadavg()[0]}


def ray_overhead(work: Path, speech: np.ndarray, rng: np.random.Generator,
                 counts: Tuple[int, int] = (50, 1000), repeats: int = 2) -> Dict[str, object]:
    """Ray's time per file beyond the file's own work (see the module's description)."""
    walls: Dict[int, float] = {}
    for count in counts:
        folder, output = work / f'skipped_{count}', work / f'skipped_{count}_out'
        write_folder(folder, [0.1] * count, speech, rng)
        shutil.copytree(folder, output)  # complete outputs: every file is skipped
    for _ in range(repeats):
        for count in counts:
            folder, output = work / f'skipped_{count}', work / f'skipped_{count}_out'
            start = time.perf_counter()
            summary = denoise_files([str(folder)], str(output), engine='ray', workers=1,
                                    quiet=True)
            walls[count] = min(walls.get(count, np.inf), time.perf_counter() - start)
            assert summary.skipped == count
    start = time.perf_counter()
    run_jobs(plan_jobs([str(folder)], str(output)).jobs, lambda: None, progress=False)
    check = (time.perf_counter() - start) / counts[-1]
    slope = (walls[counts[1]] - walls[counts[0]]) / (counts[1] - counts[0])
    print(f'ray overhead {slope - check:.4f} s per file', file=sys.stderr)
    return {'walls_s': walls, 'header_check_s': check, 'overhead_per_file_s': slope - check}


def table(rows: Dict[str, Dict], batch_size: int) -> str:
    lines = [f'| input | audio | files batched | batch 1 (h/h) | batch {batch_size} (h/h) '
             '| ratio |', '|---|---|---|---|---|---|']
    for name, row in rows.items():
        lines.append(f"| {name} | {row['audio_seconds'] / 60:.1f} min | "
                     f"{100 * row['share_batched']:.0f} % | "
                     f"{row['off']['audio_hours_per_wall_hour']:.1f} | "
                     f"{row['on']['audio_hours_per_wall_hour']:.1f} | {row['speedup']:.2f}x |")
    return '\n'.join(lines)


def ray_table(rows: Dict[str, Dict], threads: int) -> str:
    pools = [name for name in next(iter(rows.values()))['ray'] if name.startswith('ray_')]
    lines = [f'| input | one process, {threads} threads (h/h) | '
             + ' | '.join(f'Ray {name[4:]} worker(s) (h/h)' for name in pools)
             + ' | pool start-up |', '|---' * (len(pools) + 3) + '|']
    for name, row in rows.items():
        ray = row['ray']
        lines.append(f"| {name} | {ray['local_process']['audio_hours_per_wall_hour']:.2f} | "
                     + ' | '.join(f"{ray[pool]['audio_hours_per_wall_hour']:.2f}"
                                  for pool in pools)
                     + ' | ' + ' / '.join(f"{ray[pool]['startup_s']:.1f} s" for pool in pools)
                     + ' |')
    return '\n'.join(lines)


def start_ray(cpus: int) -> float:
    """A local Ray session of ``cpus`` CPUs for the Ray passes; seconds it took to start."""
    import ray

    from modelscope_frcrn.inference.ray_engine import LOCAL_OBJECT_STORE_BYTES

    start = time.perf_counter()
    ray.init(address='local', num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    return time.perf_counter() - start


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--short-files', type=int, default=200)
    parser.add_argument('--long-files', type=int, default=3)
    parser.add_argument('--long-seconds', type=float, default=60.0)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3, help='alternated passes per mode')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, help='CPU threads (default: PyTorch\'s choice)')
    parser.add_argument('--ray-workers', type=int, nargs='*', default=[], metavar='N',
                        help='also one denoise process and Ray pools of N workers')
    parser.add_argument('--note', default='', help='what else ran on the machine')
    parser.add_argument('--json', type=Path)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    speech, rate = sf.read(str(EXAMPLE), dtype='float32')
    assert rate == RATE
    rng = np.random.default_rng(16)
    short_seconds = list(rng.uniform(2.0, 10.0, args.short_files))
    denoiser = Denoiser(build_enhancer(load_model(), device=args.device, malloc_tuning=True))
    chunk_seconds = denoiser.chunker.chunk / RATE
    threads = torch.get_num_threads()
    folders = {f'{args.short_files} files of 2-10 s': (
                   'short', short_seconds, float(np.mean(np.array(short_seconds) <= chunk_seconds))),
               f'{args.long_files} files of {args.long_seconds:g} s': (
                   'long', [args.long_seconds] * args.long_files, 0.0)}
    load_start = os.getloadavg()
    ray_init_s = start_ray(threads) if args.ray_workers else None
    rows = {}
    with tempfile.TemporaryDirectory(prefix='frcrn-scale-') as folder:
        work = Path(folder)
        for title, (name, seconds, share) in folders.items():
            audio = write_folder(work / name, seconds, speech, rng)
            rows[title] = measure(name, work / name, work / f'{name}_out', denoiser,
                                  args.batch_size, audio, share, args.repeats)
            rows[title]['ray'] = measure_ray(work / name, work / f'{name}_cold', audio, threads,
                                             args.ray_workers, args.repeats) \
                if args.ray_workers else None
        overhead = ray_overhead(work, speech, rng) if args.ray_workers else None
    print(table(rows, args.batch_size))
    if args.ray_workers:
        print(ray_table(rows, threads))
    if args.json:
        args.json.write_text(json.dumps({
            'command': 'python benchmarks/scale.py ' + ' '.join(argv or sys.argv[1:]),
            'device': args.device, 'threads': threads, 'batch_size': args.batch_size,
            'ray_init_s': ray_init_s, 'ray_overhead': overhead,
            'machine': {'cpus': os.cpu_count(), 'load_average_start': load_start,
                        'load_average_end': os.getloadavg(), 'note': args.note},
            'rows': rows}, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
