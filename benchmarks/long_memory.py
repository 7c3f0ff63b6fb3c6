"""Peak memory of file-to-file denoising versus recording length.

For each duration, a noisy speech recording is written block by block (the
example file repeated, 16 kHz mono PCM_16 unless told otherwise), then denoised
by ``Denoiser.denoise_file`` in a fresh Python process that reports its own peak
RSS (``ru_maxrss``) and wall time. Memory should stay flat as length grows.

    python benchmarks/long_memory.py                       # 10 s, 5 min, 30 min
    python benchmarks/long_memory.py --random-width 128 --durations 10 300 \
        --json benchmarks/long_memory_width128.json        # the official model's size

Prints a markdown table and writes ``benchmarks/long_memory.json``.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from modelscope_frcrn.inference.chunking import DEFAULT_CHUNK_SECONDS

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / 'examples' / 'speech_with_noise.wav'

CHILD = '''
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
from modelscope_frcrn.inference import build_enhancer
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.inference.loading import load_model
start = time.perf_counter()
denoiser = Denoiser(build_enhancer(load_model({model!r})), chunk_seconds={chunk})
loaded = time.perf_counter()
denoiser.denoise_file(sys.argv[1], sys.argv[2])
done = time.perf_counter()
print(json.dumps({{'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  'load_s': loaded - start, 'denoise_s': done - loaded}}))
'''


def write_recording(path: Path, seconds: float, sample_rate: int, channels: int) -> None:
    """The example, repeated (and resampled/duplicated) to ``seconds``, written in blocks."""
    import soxr

    example, rate = sf.read(str(EXAMPLE), dtype='float32')
    example = soxr.resample(example, rate, sample_rate) if rate != sample_rate else example
    block = np.repeat(example[:, None], channels, axis=1)
    remaining = int(seconds * sample_rate)
    with sf.SoundFile(str(path), 'w', sample_rate, channels, 'PCM_16') as output:
        while remaining > 0:
            output.write(block[:remaining])
            remaining -= len(block)


def random_model_dir(directory: Path, width: int) -> Path:
    """The repository's configuration at ``width`` with random weights (speed and memory
    do not depend on the weights' values)."""
    import torch

    from modelscope_frcrn.models import FRCRN

    from training_bench import model_dir

    model_dir(directory, width=width)
    torch.manual_seed(0)
    torch.save(FRCRN(width=width).state_dict(), directory / 'pytorch_model.bin')
    return directory


def measure(seconds: float, args, workdir: Path) -> dict:
    source = workdir / f'noisy_{seconds:g}s.wav'
    write_recording(source, seconds, args.sample_rate, args.channels)
    script = CHILD.format(threads=args.threads, model=args.model, chunk=args.chunk_seconds)
    completed = subprocess.run([sys.executable, '-c', script, str(source),
                                str(workdir / 'enhanced.wav')],
                               capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert sf.info(str(workdir / 'enhanced.wav')).frames == sf.info(str(source)).frames
    source.unlink()
    return {'seconds': seconds, 'input_mb': seconds * args.sample_rate * args.channels * 2 / 2**20,
            **result, 'rtf': result['denoise_s'] / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--durations', type=float, nargs='+', default=[10, 300, 1800])
    parser.add_argument('--model', default=None, help='model dir (default: the shipped model)')
    parser.add_argument('--random-width', type=int, metavar='W',
                        help='instead, random weights at this width (128: the official size)')
    parser.add_argument('--chunk-seconds', type=float, default=DEFAULT_CHUNK_SECONDS)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--sample-rate', type=int, default=16000)
    parser.add_argument('--channels', type=int, default=1)
    parser.add_argument('--json', default=str(HERE / 'long_memory.json'))
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        if args.random_width:
            args.model = str(random_model_dir(Path(workdir) / 'model', args.random_width))
        for seconds in args.durations:
            rows.append(measure(seconds, args, Path(workdir)))
            print(f'{seconds:g} s done: {rows[-1]}', file=sys.stderr, flush=True)
    print('| duration | input WAV | peak RSS | RTF |')
    print('|---|---|---|---|')
    for row in rows:
        print(f"| {row['seconds'] / 60:.1f} min | {row['input_mb']:.1f} MB | "
              f"{row['peak_rss_mb']:.0f} MB | {row['rtf']:.3f} |")
    settings = {key: value for key, value in vars(args).items() if key != 'json'}
    report = {'machine': {'cpu': platform.processor() or platform.machine(),
                          'cores': os.cpu_count(), 'python': platform.python_version()},
              'settings': settings, 'rows': rows}
    Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
