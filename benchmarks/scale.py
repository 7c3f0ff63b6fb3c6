"""Throughput at scale (issue 16): audio hours denoised per wall hour, batching off and on.

Two folders are made from ``examples/speech_with_noise.wav`` (9.2 s, tiled where a file
is longer): many short files of 2-10 s (random lengths and start points, as an ASR or TTS
corpus) and a few long files. Each folder goes through the ``denoise`` command's
:func:`~modelscope_frcrn.inference.batch.run_jobs` with ``--batch-size 1`` and with
``--batch-size N``, side by side in one process with the model loaded once (after a warm-up
on one batch's worth of files), alternated ``--repeats`` times, the fastest pass of each
counted, outputs overwritten each time. Only files no longer than one chunk (6 s) are batched;
the share of such files is reported. Ray rows (issue 16 item 1) come when that engine exists.

    python benchmarks/scale.py --json benchmarks/scale.json               # 200 short, 3 x 60 s
    python benchmarks/scale.py --short-files 40 --long-files 2 --long-seconds 30 --threads 2
    python benchmarks/scale.py --device cuda --batch-size 32
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import soundfile as sf
import torch

from modelscope_frcrn.inference.backends import build_enhancer
from modelscope_frcrn.inference.batch import plan_jobs, run_jobs
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
            'walls_s': {mode: [run['wall_s'] for run in runs] for mode, runs in passes.items()},
            'ray': None}


def table(rows: Dict[str, Dict], batch_size: int) -> str:
    lines = [f'| input | audio | files batched | batch 1 (h/h) | batch {batch_size} (h/h) '
             '| ratio |', '|---|---|---|---|---|---|']
    for name, row in rows.items():
        lines.append(f"| {name} | {row['audio_seconds'] / 60:.1f} min | "
                     f"{100 * row['share_batched']:.0f} % | "
                     f"{row['off']['audio_hours_per_wall_hour']:.1f} | "
                     f"{row['on']['audio_hours_per_wall_hour']:.1f} | {row['speedup']:.2f}x |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--short-files', type=int, default=200)
    parser.add_argument('--long-files', type=int, default=3)
    parser.add_argument('--long-seconds', type=float, default=60.0)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3, help='alternated passes per mode')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, help='CPU threads (default: PyTorch\'s choice)')
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
    with tempfile.TemporaryDirectory(prefix='frcrn-scale-') as folder:
        work = Path(folder)
        rows = {
            f'{args.short_files} files of 2-10 s': measure(
                'short', work / 'short', work / 'short_out', denoiser, args.batch_size,
                write_folder(work / 'short', short_seconds, speech, rng),
                float(np.mean(np.array(short_seconds) <= chunk_seconds)), args.repeats),
            f'{args.long_files} files of {args.long_seconds:g} s': measure(
                'long', work / 'long', work / 'long_out', denoiser, args.batch_size,
                write_folder(work / 'long', [args.long_seconds] * args.long_files, speech, rng),
                0.0, args.repeats),
        }
    print(table(rows, args.batch_size))
    if args.json:
        args.json.write_text(json.dumps({
            'command': 'python benchmarks/scale.py ' + ' '.join(argv or sys.argv[1:]),
            'device': args.device, 'threads': torch.get_num_threads(),
            'batch_size': args.batch_size,
            'note': 'ray: issue 16 item 1, not built yet', 'rows': rows}, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
