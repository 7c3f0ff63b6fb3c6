"""Inference speed: our pipeline vs ModelScope's built-in FRCRN pipeline, same weights, same inputs.

One run measures, each case in a fresh subprocess (so peak RSS is the case's own)
with the same number of threads (default 2), warm-up excluded, median of repeats:

1. ``pipelines``: end to end on the bytes of a 16 kHz PCM_16 WAV held in memory
   (decode -> level -> network -> int16 PCM), ours (``load_pipeline``, chunked
   by the lead's :class:`Denoiser`, default backend) vs the built-in
   ``ANSPipeline(FRCRNDecorator)`` built from their classes (our plugin registers
   over their names), at 1 s, 10 s, 60 s and, for ours, 10 min: wall time,
   real-time factor (RTF = time / audio duration), peak RSS, ours/built-in.
2. ``variants``: our pipeline on the 60 s input with other enhancers: the
   trainable network as is (no fusion), the fused network in NCHW layout, fused
   channels-last without and with (the default) the malloc tuning, bf16, and
   onnxruntime — what each step buys.
3. ``chunks``: the RTF of our fp32 pipeline on the 60 s input for several chunk
   lengths (1 s overlap included), and of one enhancer call per input length
   (no chunking) — to choose the default chunk length.
4. ``machine``: fp32 GEMM peak of this CPU with the same threads (best of
   4096^3 ``torch.mm``, i.e. MKL, and of the same-size GEMM through oneDNN, which
   the convolutions use), the network's GFLOP per second of audio
   (``torch.utils.flop_counter``), hence the compute-bound RTF floor; our RTF as
   a multiple of that floor; and the fp32 parity of the two models on 10 s.

The model directory is the official configuration (width 128) with random
weights and randomised batch-norm statistics (``win_type: hann``, which the
built-in can build with current SciPy); the audio is the example recording
repeated to length. Speed does not depend on the weights' values.

    nohup python benchmarks/speed.py --json benchmarks/speed.json > /tmp/speed.log 2>&1 &

Takes about 15 minutes with the defaults on 2 threads. Other processes on the
machine distort every number: before each case it waits (``--max-wait``) for
the CPU pressure (Linux PSI) to drop, and records it with the load average.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

RATE = 16000
PIPELINE_SECONDS = (1, 10, 60)
OURS_ONLY_SECONDS = (600,)
VARIANT_SECONDS = 60
VARIANTS = ('trainable', 'fused_nchw', 'fused_untuned', 'fused', 'bf16', 'onnx')
UNTUNED_VARIANTS = ('trainable', 'fused_nchw', 'fused_untuned')  # glibc malloc left at its defaults
CHUNK_SECONDS = (2, 3, 4, 6, 8, 12, 16)
ENHANCER_SECONDS = (1, 2, 4, 8, 16)


# ---------------------------------------------------------------- set-up (parent)

def make_model_dir(root: Path) -> Path:
    """Official configuration with random weights and randomised BatchNorm statistics."""
    import torch
    from training_bench import model_dir

    from modelscope_frcrn.models import FRCRN

    model_dir(root, win_type='hann', width=128)
    torch.manual_seed(0)
    network = FRCRN(win_type='hann')
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in network.state_dict().items():
            if name.endswith('running_mean'):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
            elif name.endswith('running_var'):
                tensor.copy_(0.5 + 1.5 * torch.rand(tensor.shape, generator=generator))
    torch.save(network.state_dict(), root / 'pytorch_model.bin')
    return root


def make_inputs(root: Path, seconds) -> dict:
    """WAV files (16 kHz PCM_16) of the example recording repeated to each length."""
    import numpy as np
    import soundfile as sf

    example, rate = sf.read(str(REPO_ROOT / 'examples' / 'speech_with_noise.wav'), dtype='float32')
    assert rate == RATE
    paths = {}
    for length in seconds:
        samples = np.resize(example, int(length * RATE))
        paths[length] = str(root / f'input_{length}s.wav')
        sf.write(paths[length], samples, RATE, subtype='PCM_16')
    return paths


# ---------------------------------------------------------------- workers (subprocess)

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(call, repeats: int, warmup=None):
    (warmup or call)()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def _builtin_pipeline(model_dir: str):
    from modelscope.models.audio.ans.frcrn import FRCRNDecorator
    from modelscope.pipelines.audio.ans_pipeline import ANSPipeline

    config = json.loads(Path(model_dir, 'configuration.json').read_text())
    kwargs = {key: value for key, value in config['model'].items() if key not in ('type', 'width')}
    model = FRCRNDecorator(model_dir, **kwargs)
    pipe = ANSPipeline(model=model, device='cpu')
    quiet = io.StringIO()  # the built-in prints debug lines per call

    def run(data: bytes):
        with contextlib.redirect_stdout(quiet):
            return pipe(data)
    return run


def _our_enhancer(model, variant: str):
    from modelscope_frcrn.inference.backends import TorchEnhancer, build_enhancer
    from modelscope_frcrn.models.inference_network import fuse_for_inference

    if variant == 'trainable':
        return TorchEnhancer(model, optimize=False, malloc_tuning=False)
    if variant == 'fused_nchw':
        enhancer = TorchEnhancer(model, malloc_tuning=False)
        enhancer.network = fuse_for_inference(model.model, channels_last=False)
        return enhancer
    if variant == 'fused_untuned':
        return build_enhancer(model, malloc_tuning=False)
    if variant == 'bf16':
        return build_enhancer(model, precision='bf16')
    if variant == 'onnx':
        return build_enhancer(model, backend='onnx')
    return build_enhancer(model)


def _our_pipeline(model_dir: str, chunk: float, variant: str = 'fused'):
    from modelscope_frcrn.inference import backends, load_pipeline
    from modelscope_frcrn.inference.denoiser import Denoiser

    if variant not in UNTUNED_VARIANTS:  # as the CLI and the server do
        backends.tune_malloc()
    pipe = load_pipeline(model_dir, chunk_seconds=chunk)
    if variant != 'fused':
        pipe.denoiser = Denoiser(_our_enhancer(pipe.model, variant), chunk_seconds=chunk)
    return pipe


def worker(case: dict) -> dict:
    import torch

    torch.set_num_threads(case['threads'])
    kind = case['kind']
    result = {'load_average_before': os.getloadavg()[0]}
    if kind in ('builtin', 'ours'):
        data = Path(case['input']).read_bytes()
        warm = Path(case['warmup_input']).read_bytes()
        if kind == 'builtin':
            run = _builtin_pipeline(case['model_dir'])
        else:
            pipe = _our_pipeline(case['model_dir'], case['chunk'], case.get('variant', 'fused'))
            run = pipe
        times = _timed(lambda: run(data), case['repeats'], lambda: run(warm))
        median = statistics.median(times)
        result.update(times_s=times, median_s=median, rtf=median / case['seconds'],
                      peak_rss_mb=_peak_rss_mb())
    elif kind == 'enhancer_lengths':
        import numpy as np

        from modelscope_frcrn.inference.loading import load_model

        enhancer = _our_enhancer(load_model(case['model_dir']), 'fused')
        rng = np.random.default_rng(0)
        rows = []
        for seconds in case['lengths']:
            noisy = (0.05 * rng.standard_normal((1, int(seconds * RATE)))).astype(np.float32)
            times = _timed(lambda: enhancer(noisy), case['repeats'])
            rows.append({'seconds': seconds, 'median_s': statistics.median(times),
                         'rtf': statistics.median(times) / seconds})
        result['rows'] = rows
    elif kind == 'machine':
        result.update(_machine(case))
    result['load_average_after'] = os.getloadavg()[0]
    return result


def _machine(case: dict) -> dict:
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from modelscope_frcrn.inference.loading import load_model
    from modelscope_frcrn.models.inference_network import fuse_for_inference

    size = 4096
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = _timed(lambda: torch.mm(a, b), 10)
    sgemm_gflops = 2 * size ** 3 / min(times) / 1e9
    # the same GEMM through oneDNN (a 1x1 convolution, channels-last), which our convolutions use;
    # MKL's sgemm may not use AVX-512 on non-Intel CPUs while oneDNN does
    pixels, channels = 4096, 1024
    image = torch.randn(1, channels, 64, pixels // 64).contiguous(memory_format=torch.channels_last)
    kernel = torch.randn(channels, channels, 1, 1)
    with torch.inference_mode():
        times = _timed(lambda: torch.nn.functional.conv2d(image, kernel), 10)
    onednn_gflops = 2 * pixels * channels * channels / min(times) / 1e9
    peak = max(sgemm_gflops, onednn_gflops)
    model = load_model(case['model_dir'])
    fused = fuse_for_inference(model.model)
    noisy = torch.from_numpy((0.05 * np.random.default_rng(0).standard_normal((1, 10 * RATE)))
                             .astype(np.float32))
    flops = {}
    for name, network in (('trainable', model.model), ('fused', fused)):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network.enhance(noisy)
        flops[name] = counter.get_total_flops() / 10 / 1e9
    # parity on 10 s: built-in network vs our fused copy, same padded input
    from modelscope.models.audio.ans.frcrn import FRCRNDecorator

    config = json.loads(Path(case['model_dir'], 'configuration.json').read_text())
    kwargs = {key: value for key, value in config['model'].items() if key not in ('type', 'width')}
    builtin = FRCRNDecorator(case['model_dir'], **kwargs).eval()
    padded, margin = fused.pad(noisy)
    with torch.no_grad():
        reference = builtin.model(padded)[4]
        ours = fused(padded)
    return {'sgemm_gflops': sgemm_gflops, 'sgemm_size': size, 'onednn_gemm_gflops': onednn_gflops,
            'peak_gflops': peak, 'gflop_per_audio_second': flops,
            'rtf_floor_fp32_sgemm': flops['fused'] / sgemm_gflops,
            'rtf_floor_fp32': flops['fused'] / peak,
            'parity_max_abs_diff_10s': float((reference - ours).abs().max()),
            'cpu': _cpu_name(), 'torch': torch.__version__,
            'threads': torch.get_num_threads()}


def _cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ---------------------------------------------------------------- orchestration

def cpu_pressure() -> float:
    """Share of the last 10 s in which runnable tasks waited for a CPU (Linux PSI), or -1."""
    try:
        return float(Path('/proc/pressure/cpu').read_text().split()[1].split('=')[1])
    except (OSError, IndexError, ValueError):
        return -1.0


def wait_for_quiet(max_wait_s: float, threshold: float = 10.0) -> float:
    """Wait (up to ``max_wait_s``) until other processes leave the CPUs alone; seconds waited."""
    started = time.monotonic()
    while cpu_pressure() > threshold and time.monotonic() - started < max_wait_s:
        time.sleep(5)
    return time.monotonic() - started


def run_case(case: dict, max_wait_s: float = 0) -> dict:
    label = ' '.join(f'{key}={value}' for key, value in case.items()
                     if key in ('kind', 'seconds', 'chunk', 'variant'))
    waited = wait_for_quiet(max_wait_s)
    pressure = cpu_pressure()
    print(f'[{time.strftime("%H:%M:%S")}] {label} (waited {waited:.0f} s for a quiet CPU; '
          f'pressure {pressure:.0f} %)', flush=True)
    completed = subprocess.run([sys.executable, __file__, '--worker', json.dumps(case)],
                               capture_output=True, text=True)
    lines = [line for line in completed.stdout.splitlines() if line.startswith('RESULT ')]
    if completed.returncode != 0 or not lines:
        print(completed.stdout[-2000:], completed.stderr[-4000:], file=sys.stderr)
        return {'error': (completed.stderr.strip().splitlines() or ['failed'])[-1]}
    result = json.loads(lines[-1][len('RESULT '):])
    result.update(cpu_pressure_before=pressure, waited_for_quiet_s=waited)
    print(f'    {json.dumps({k: v for k, v in result.items() if k != "rows"})[:300]}', flush=True)
    return result


def repeats_for(seconds: float, base: int) -> int:
    return base if seconds <= 10 else max(1, base - 1) if seconds <= 60 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', default=str(REPO_ROOT / 'benchmarks' / 'speed.json'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed calls per case up to 10 s (one fewer at 60 s, one beyond)')
    parser.add_argument('--chunk', type=float, default=None,
                        help='chunk length of our pipeline (default: the package default)')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['pipelines', 'variants', 'chunks', 'machine', 'long'])
    parser.add_argument('--seconds', type=float, nargs='+', default=list(PIPELINE_SECONDS),
                        help='input lengths compared with the built-in (plus 600 s for ours)')
    parser.add_argument('--variant-seconds', type=float, default=VARIANT_SECONDS,
                        help='input length of the variant and chunk-length runs')
    parser.add_argument('--chunk-lengths', type=float, nargs='+', default=list(CHUNK_SECONDS))
    parser.add_argument('--max-wait', type=float, default=120,
                        help='before each case, wait up to this many seconds until the CPU '
                             'pressure from other processes is below 10 %% (Linux PSI)')
    parser.add_argument('--update', action='store_true',
                        help='keep the sections of an existing --json file that this run skips')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print('RESULT ' + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0

    from modelscope_frcrn.inference.chunking import DEFAULT_CHUNK_SECONDS

    chunk = args.chunk or DEFAULT_CHUNK_SECONDS
    work = Path(tempfile.mkdtemp(prefix='frcrn-speed-'))
    model_dir = str(make_model_dir(work / 'model'))
    pipeline_seconds = tuple(args.seconds) + (() if 'long' in args.skip else OURS_ONLY_SECONDS)
    seconds_all = sorted(set(pipeline_seconds + (args.variant_seconds,)))
    inputs = make_inputs(work, seconds_all)
    base = dict(model_dir=model_dir, threads=args.threads)
    report = {'threads': args.threads, 'chunk_seconds': chunk, 'repeats': args.repeats,
              'variant_seconds': args.variant_seconds,
              'started': time.strftime('%Y-%m-%d %H:%M:%S'), 'python': platform.python_version()}

    def case(**fields) -> dict:
        return run_case({**base, **fields}, args.max_wait)

    def on_input(seconds, **fields) -> dict:
        return case(kind='ours', seconds=seconds, input=inputs[seconds], **fields)

    if 'machine' not in args.skip:
        report['machine'] = case(kind='machine')
    if 'pipelines' not in args.skip:
        rows = []
        for seconds in pipeline_seconds:
            warm = inputs[min(seconds, args.variant_seconds)]
            row = {'seconds': seconds}
            for kind in ('ours', 'builtin'):
                if kind == 'builtin' and seconds in OURS_ONLY_SECONDS:
                    continue
                row[kind] = case(kind=kind, seconds=seconds, chunk=chunk, input=inputs[seconds],
                                 warmup_input=warm, repeats=repeats_for(seconds, args.repeats))
            rows.append(row)
        report['pipelines'] = rows
    variant_input = inputs[args.variant_seconds]
    if 'variants' not in args.skip:
        report['variants'] = [
            {'variant': variant, **on_input(args.variant_seconds, variant=variant, chunk=chunk,
                                            warmup_input=variant_input, repeats=1)}
            for variant in VARIANTS]
    if 'chunks' not in args.skip:
        report['chunks'] = [
            {'chunk_seconds': length, **on_input(args.variant_seconds, chunk=length,
                                                 warmup_input=variant_input, repeats=1)}
            for length in args.chunk_lengths]
        report['enhancer_lengths'] = case(kind='enhancer_lengths', lengths=ENHANCER_SECONDS,
                                          repeats=2)
    report['finished'] = time.strftime('%Y-%m-%d %H:%M:%S')
    if args.update and Path(args.json).is_file():
        previous = json.loads(Path(args.json).read_text())
        if 'pipelines' not in report:  # keep the settings the kept pipeline rows were measured with
            report.update({key: previous[key] for key in ('chunk_seconds', 'repeats')
                           if key in previous})
        report = {**previous, **report,
                  'runs': previous.get('runs', []) + [{key: report[key] for key in ('started', 'finished')}
                                                      | {'skipped': args.skip}]}
    Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
    print(format_tables(report))
    print(f'wrote {args.json}')
    return 0


def format_tables(report: dict) -> str:
    machine = report.get('machine', {})
    floor = machine.get('rtf_floor_fp32')
    lines = []
    if machine and 'error' not in machine:
        lines += [f"CPU: {machine['cpu']}, {report['threads']} threads, torch {machine['torch']}; "
                  f"fp32 GEMM peak: torch.mm (MKL) {machine['sgemm_gflops']:.0f} GFLOPS, oneDNN "
                  f"{machine['onednn_gemm_gflops']:.0f} GFLOPS; network "
                  f"{machine['gflop_per_audio_second']['fused']:.1f} GFLOP per audio second "
                  f"-> fp32 RTF floor {floor:.3f} (at the MKL sgemm peak: "
                  f"{machine['rtf_floor_fp32_sgemm']:.3f}); built-in vs ours (fp32, 10 s) max abs "
                  f"difference {machine['parity_max_abs_diff_10s']:.1e}", '']
    if report.get('pipelines'):
        lines += [f"Pipelines, end to end on WAV bytes (ours: chunks of {report['chunk_seconds']:g} s)",
                  '', '| audio | built-in s | built-in RTF | built-in peak RSS MB | ours s | ours RTF '
                  '| ours peak RSS MB | ours / built-in | ours RTF / floor |',
                  '|---|---|---|---|---|---|---|---|---|']
        for row in report['pipelines']:
            ours, builtin = row.get('ours', {}), row.get('builtin')
            cells = [_duration(row['seconds'])]
            cells += _cells(builtin) if builtin else ['-', '-', '-']
            cells += _cells(ours)
            ratio = (ours['median_s'] / builtin['median_s']
                     if builtin and 'median_s' in builtin and 'median_s' in ours else None)
            cells.append(f'{ratio:.2f}' if ratio else '-')
            cells.append(f"{ours['rtf'] / floor:.2f}" if floor and 'rtf' in ours else '-')
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    if report.get('variants'):
        lines += _timing_table(f"Our pipeline on {report['variant_seconds']:g} s with each enhancer",
                               'enhancer', [(row['variant'], row) for row in report['variants']])
    if report.get('chunks'):
        lines += _timing_table(
            f"Chunk length (our fp32 pipeline on {report['variant_seconds']:g} s, 1 s overlap)",
            'chunk s', [(f"{row['chunk_seconds']:g}", row) for row in report['chunks']])
        lengths = report.get('enhancer_lengths', {})
        if 'rows' in lengths:
            lines += ['One enhancer call (fp32, no chunking) per input length', '',
                      '| input s | s | RTF |', '|---|---|---|']
            for row in lengths['rows']:
                lines.append(f"| {row['seconds']:g} | {row['median_s']:.2f} | {row['rtf']:.3f} |")
    return '\n'.join(lines)


def _timing_table(title: str, label: str, rows) -> list:
    """Markdown lines: ``title``, then one row per ``(name, result)`` with time, RTF and RSS."""
    lines = [title, '', f'| {label} | s | RTF | peak RSS MB |', '|---|---|---|---|']
    lines += [f'| {name} | ' + ' | '.join(_cells(result)) + ' |' for name, result in rows]
    return lines + ['']


def _cells(result: dict):
    if not result or 'median_s' not in result:
        return [f"error: {result.get('error', '?')}" if result else '-', '-', '-']
    return [f"{result['median_s']:.2f}", f"{result['rtf']:.3f}", f"{result['peak_rss_mb']:.0f}"]


def _duration(seconds: float) -> str:
    return f'{seconds / 60:g} min' if seconds >= 60 else f'{seconds:g} s'


if __name__ == '__main__':
    sys.exit(main())
