"""Streaming (issue 15): latency against quality and cost, with the shipped model.

Each noisy file of the quality benchmark's in-domain held-out set
(``benchmarks/quality.py``: ``/tmp/heldout/test``, pairs by ``fileid_N``) is
pushed through :class:`~modelscope_frcrn.StreamDenoiser` in 20 ms blocks, as a
microphone callback would give them, with the running level normaliser (no
knowledge of the whole file). The output is taken ``latency`` samples late, as
the stream's convention states, and scored:

- against the clean reference: WB-PESQ and SI-SNR;
- against the offline output (``Denoiser.enhance`` of the whole file in one
  chunk, level from the whole file): WB-PESQ and SI-SNR, i.e. how far streaming
  moves the output away from what the file path gives.

RTF = processing time / audio time at 1 and 2 PyTorch threads, timed on the
first ``--rtf-pairs`` pairs, and the process's CPU time per audio second on 1
thread: what a core of its own would need, which other jobs on a shared
machine inflate far less than the wall time. A latency runs in real time
on 1 thread (the model card's inference spec is 1 CPU) when that figure is
below 1: every chunk is enhanced before the next one is due.

    python benchmarks/streaming.py --heldout /tmp/heldout/test --pairs 12 \\
        --json benchmarks/streaming.json
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from modelscope_frcrn import StreamDenoiser  # noqa: E402
from modelscope_frcrn.audio import MODEL_SAMPLE_RATE, read_mono  # noqa: E402
from modelscope_frcrn.evaluation import pair_folders, pesq_wb, si_snr  # noqa: E402
from modelscope_frcrn.inference.denoiser import Denoiser  # noqa: E402
from modelscope_frcrn.inference.loading import load_enhancer  # noqa: E402

LATENCIES = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0)
THREADS = (1, 2)
BLOCK_SECONDS = 0.02
PAIRS = 12
RTF_PAIRS = 4


def load_pairs(heldout: Path, count: int) -> List[Dict[str, np.ndarray]]:
    """The first ``count`` (noisy, clean) pairs by file id, 16 kHz mono float32 ``[T]``."""
    pairs = pair_folders(heldout / 'noisy', heldout / 'clean')[:count]
    return [{'noisy': read_mono(str(noisy)), 'clean': read_mono(str(clean))}
            for noisy, clean, _ in pairs]


def stream(denoiser: StreamDenoiser, noisy: np.ndarray) -> np.ndarray:
    """``noisy`` pushed in 20 ms blocks; the output realigned by the stated latency.

    Shape: ``[T]`` -> ``[T]``.
    """
    block = round(BLOCK_SECONDS * MODEL_SAMPLE_RATE)
    pieces = [denoiser.process(noisy[start:start + block])
              for start in range(0, noisy.size, block)]
    pieces.append(denoiser.flush())
    return np.concatenate(pieces)[denoiser.latency:denoiser.latency + noisy.size]


def offline_outputs(enhance, pairs) -> List[np.ndarray]:
    """The file path's output of each noisy file, enhanced in one chunk."""
    longest = max(pair['noisy'].size for pair in pairs) / MODEL_SAMPLE_RATE
    denoiser = Denoiser(enhance, chunk_seconds=longest + 1.0)
    return [denoiser.enhance(pair['noisy'][None])[0] for pair in pairs]


def latency_row(enhance, pairs, offline: Sequence[np.ndarray], latency: float,
                threads: Sequence[int], rtf_pairs: int) -> Dict:
    """Quality on every pair (one pass at the most threads) and RTF per thread count on the
    first ``rtf_pairs`` pairs."""
    row: Dict = {'latency_s': latency}
    timed = pairs[:rtf_pairs]
    audio_seconds = sum(pair['noisy'].size for pair in timed) / MODEL_SAMPLE_RATE
    for count in threads:
        torch.set_num_threads(count)
        denoiser = StreamDenoiser(enhance, latency_seconds=latency)
        started, cpu_started = time.perf_counter(), time.process_time()
        for pair in timed:
            stream(denoiser, pair['noisy'])
        row[f'rtf_{count}_threads'] = (time.perf_counter() - started) / audio_seconds
        row[f'cpu_per_audio_second_{count}_threads'] = (time.process_time() - cpu_started) / audio_seconds
    torch.set_num_threads(max(threads))
    denoiser = StreamDenoiser(enhance, latency_seconds=latency)
    outputs = [stream(denoiser, pair['noisy']) for pair in pairs]
    row.update(stated_latency_ms=1000 * denoiser.latency / MODEL_SAMPLE_RATE,
               chunk_ms=1000 * denoiser.chunk_seconds,
               overlap_ms=1000 * denoiser.overlap_seconds)
    row['pesq_wb'] = _mean(pesq_wb(pair['clean'], output) for pair, output in zip(pairs, outputs))
    row['si_snr'] = _mean(si_snr(output, pair['clean']) for pair, output in zip(pairs, outputs))
    row['pesq_wb_vs_offline'] = _mean(pesq_wb(reference, output)
                                      for output, reference in zip(outputs, offline))
    row['si_snr_vs_offline'] = _mean(si_snr(output, reference)
                                     for output, reference in zip(outputs, offline))
    return row


def offline_row(pairs, offline: Sequence[np.ndarray]) -> Dict:
    return {'latency_s': None,
            'pesq_wb': _mean(pesq_wb(pair['clean'], out) for pair, out in zip(pairs, offline)),
            'si_snr': _mean(si_snr(out, pair['clean']) for pair, out in zip(pairs, offline))}


def _mean(values) -> float:
    return float(np.mean(list(values)))


def table(rows: List[Dict], offline: Dict, threads: Sequence[int]) -> str:
    realtime = [row['latency_s'] for row in rows
                if row.get('cpu_per_audio_second_1_threads', 2.0) < 1.0]
    smallest = min(realtime) if realtime else None
    rtf_heads = ' CPU s per audio s, 1 thr |' + ''.join(f' RTF {count} thr |' for count in threads)
    lines = [f'| latency asked (s) | stated (ms) | chunk / overlap (ms) | WB-PESQ | SI-SNR dB | '
             f'WB-PESQ vs offline | SI-SNR vs offline dB |{rtf_heads}',
             '|---|---|---|---|---|---|---|---|' + '---|' * len(threads)]
    for row in rows:
        mark = ' (smallest real-time on 1 thread)' if row['latency_s'] == smallest else ''
        rtfs = f' {row["cpu_per_audio_second_1_threads"]:.2f} |' + ''.join(
            f' {row[f"rtf_{count}_threads"]:.2f} |' for count in threads)
        lines.append(f'| {row["latency_s"]:g}{mark} | {row["stated_latency_ms"]:.1f} | '
                     f'{row["chunk_ms"]:.0f} / {row["overlap_ms"]:.0f} | {row["pesq_wb"]:.3f} | '
                     f'{row["si_snr"]:.2f} | {row["pesq_wb_vs_offline"]:.2f} | '
                     f'{row["si_snr_vs_offline"]:.1f} |{rtfs}')
    lines.append(f'| offline (whole file) | - | - | {offline["pesq_wb"]:.3f} | '
                 f'{offline["si_snr"]:.2f} | - | - | - |' + ' - |' * len(threads))
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--heldout', type=Path, default=Path('/tmp/heldout/test'))
    parser.add_argument('--pairs', type=int, default=PAIRS)
    parser.add_argument('--latencies', type=float, nargs='+', default=list(LATENCIES))
    parser.add_argument('--threads', type=int, nargs='+', default=list(THREADS))
    parser.add_argument('--rtf-pairs', type=int, default=RTF_PAIRS,
                        help='RTF is timed on this many of the pairs (quality uses all of them)')
    parser.add_argument('--model', help='model directory or id (default: the shipped model)')
    parser.add_argument('--json', type=Path)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    pairs = load_pairs(args.heldout, args.pairs)
    enhance = load_enhancer(args.model)
    torch.set_num_threads(max(args.threads))
    offline = offline_outputs(enhance, pairs)
    rows = [latency_row(enhance, pairs, offline, latency, args.threads, args.rtf_pairs)
            for latency in args.latencies]
    reference = offline_row(pairs, offline)
    print(table(rows, reference, args.threads))
    if args.json:
        args.json.write_text(json.dumps({
            'set': str(args.heldout), 'pairs': len(pairs), 'rtf_pairs': min(args.rtf_pairs, len(pairs)),
            'block_seconds': BLOCK_SECONDS,
            'model': args.model or 'shipped default model', 'machine': platform.processor() or
            platform.machine(), 'cpus': torch.get_num_threads(), 'rows': rows,
            'offline': reference, 'load_average_before_after': [load_before, os.getloadavg()]},
            indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
