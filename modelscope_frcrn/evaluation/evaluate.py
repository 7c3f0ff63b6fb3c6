"""Scoring a folder of noisy recordings against clean references, before and after
enhancement: :func:`evaluate_folders` (library) and the ``evaluate`` subcommand
(:func:`add_parser`).

The enhanced signals come either from a model, run in memory on every noisy
file (the real-time factor is measured too), or from a folder of files that
were enhanced before. The noisy input is scored against the clean reference as
well, as the baseline.
"""
import argparse
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..audio import read_mono
from ..atomic import write_atomically
from .dependencies import require
from ..errors import EvaluationError, MetricWarning
from .metrics import (DNSMOS_METRICS, IMPROVEMENT_METRICS, INTRUSIVE_METRICS, NB_PESQ_RATE,
                      SAMPLE_RATE, score_pair)
from .pairing import pair_folders
from .plot import METRIC_LABELS, PERCENT_METRICS, check_plot_path, plot_metrics

GROUPS = ('noisy', 'enhanced')
TRACKED_PACKAGES = ('modelscope_frcrn', 'pesq', 'pystoi', 'speechmos', 'onnxruntime')


@dataclass
class EvaluationResult:
    """What :func:`evaluate_folders` measured.

    Attributes:
        rows: one dict per noisy file: ``name``, ``noisy_path``, ``clean_path``,
            ``enhanced_path`` (None when a model enhanced in memory), ``seconds``
            (noisy duration), ``compared_samples`` (the common length of clean,
            noisy and enhanced, over which everything is scored),
            ``processing_seconds`` and ``rtf`` (model route only, else None),
            and the metric dicts ``noisy`` and ``enhanced`` (see
            :mod:`~modelscope_frcrn.evaluation.metrics`; ``enhanced`` also has
            ``si_snr_i``). NaN marks a metric that could not be computed.
        means: ``{'noisy': {metric: mean}, 'enhanced': {...}}`` over the files
            where the metric is finite (NaN when it is nowhere).
        counts: ``{'noisy': {metric: number of finite values}, 'enhanced': ...}``.
        changes: ``{metric: mean of enhanced - noisy}`` over the files where both are
            finite (so a file scored on one side only does not skew it; NaN when none).
        rtf: total processing seconds / total audio seconds over all files
            (model route only, model loading excluded), else None.
        metrics: the metric keys measured, in display order.
        settings: folders, model, options and package versions.
    """
    rows: List[Dict[str, Any]]
    means: Dict[str, Dict[str, float]]
    counts: Dict[str, Dict[str, int]]
    rtf: Optional[float]
    metrics: List[str]
    settings: Dict[str, Any] = field(default_factory=dict)
    changes: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready copy (NaN becomes None)."""
        return jsonable({'settings': self.settings, 'metrics': self.metrics,
                          'files': len(self.rows), 'rtf': self.rtf, 'means': self.means,
                          'counts': self.counts, 'changes': self.changes, 'rows': self.rows})


def evaluate_folders(noisy_dir, clean_dir, enhanced_dir=None, model: Optional[str] = None,
                     device: str = 'cpu', with_dnsmos: bool = True,
                     nb_pesq_rate: int = NB_PESQ_RATE, json_path=None, plot_path=None,
                     progress: bool = True) -> EvaluationResult:
    """Score the noisy and the enhanced version of every file of ``noisy_dir`` against
    its clean reference.

    Files are paired by identical name or DNS ``fileid_N`` (see
    :mod:`~modelscope_frcrn.evaluation.pairing`). Every file is read as 16 kHz
    mono (resampled with soxr, channels averaged), and clean, noisy and
    enhanced are compared over their common length (a :class:`MetricWarning`
    says so when the lengths differ).

    Args:
        noisy_dir: folder of noisy recordings.
        clean_dir: folder of clean references.
        enhanced_dir: folder of already enhanced files (same name as the noisy
            file, ``<noisy stem>_enhanced.<ext>`` or the same ``fileid_N``).
        model: a model directory or ModelScope id as
            :func:`modelscope_frcrn.inference.load_pipeline` takes; used when
            ``enhanced_dir`` is None (None: the model shipped with the
            package). Each noisy file goes through the pipeline in memory (file
            path in, ``OutputKeys.OUTPUT_PCM`` int16 out) and is timed.
        device: the model's device.
        with_dnsmos: also compute the non-intrusive DNSMOS (the slowest metric).
        nb_pesq_rate: 16000 or 8000, see :func:`~modelscope_frcrn.evaluation.metrics.pesq_nb`.
        json_path: also write :meth:`EvaluationResult.to_dict` there (atomically).
        plot_path: also write box plots of the metrics there (needs matplotlib).
        progress: show a tqdm progress bar on stderr.

    Raises:
        EvaluationError: both ``enhanced_dir`` and ``model`` given, or a bad
            plot file name.
        FolderNotFoundError, PairingError: missing folders, no files,
            unmatched or ambiguous files.
        MissingDependencyError: a package of the ``eval`` extra is missing.
        AudioInputError: a file cannot be read.
        FRCRNError: the model cannot be loaded.
    """
    if enhanced_dir is not None and model is not None:
        raise EvaluationError('give either a model to enhance with or a folder of enhanced '
                              'files, not both')
    require(['PESQ', 'STOI'] + (['DNSMOS'] if with_dnsmos else [])
            + (['plotting'] if plot_path else []))
    if plot_path:
        check_plot_path(plot_path)
    pairs = pair_folders(noisy_dir, clean_dir, enhanced_dir)
    pipeline = None
    if enhanced_dir is None:
        from ..inference import load_pipeline

        pipeline = load_pipeline(model, device)

    rows = [_score_file(noisy, clean, enhanced, pipeline, with_dnsmos, nb_pesq_rate)
            for noisy, clean, enhanced in _progress(pairs, progress)]

    metrics = list(INTRUSIVE_METRICS + IMPROVEMENT_METRICS
                   + (DNSMOS_METRICS if with_dnsmos else ()))
    result = EvaluationResult(
        rows=rows, means=_summary(rows, metrics, _mean), counts=_summary(rows, metrics, _count),
        changes=_paired_changes(rows, metrics),
        rtf=_total_rtf(rows) if pipeline is not None else None, metrics=metrics,
        settings={
            'noisy_dir': str(noisy_dir), 'clean_dir': str(clean_dir),
            'enhanced_dir': None if enhanced_dir is None else str(enhanced_dir),
            'model': None if enhanced_dir is not None else (model or 'default'),
            'device': device if enhanced_dir is None else None,
            'sample_rate': SAMPLE_RATE, 'dnsmos': with_dnsmos, 'nb_pesq_rate': nb_pesq_rate,
            'si_snr': 'zero-mean', 'stoi': 'classic (extended=False)',
            'versions': package_versions(),
        })
    if json_path:
        text = json.dumps(result.to_dict(), indent=2, allow_nan=False) + '\n'
        write_atomically(json_path, lambda stream: stream.write(text.encode('utf-8')))
    if plot_path:
        plot_metrics(rows, metrics, plot_path)
    return result


def format_table(result: EvaluationResult) -> str:
    """The means as a table: one line per metric, noisy vs enhanced and the change (over the
    files where both are known)."""
    lines = [f'{"metric":<15}{"noisy":>10}{"enhanced":>10}{"change":>10}']
    for metric in result.metrics:
        noisy = result.means['noisy'].get(metric)
        enhanced = result.means['enhanced'].get(metric)
        scale = 100.0 if metric in PERCENT_METRICS else 1.0
        change = result.changes.get(metric)
        change = None if change is None else change * scale
        lines.append(f'{METRIC_LABELS.get(metric, metric):<15}'
                     f'{_number(noisy, scale):>10}{_number(enhanced, scale):>10}'
                     f'{_number(change, 1.0, signed=True):>10}')
    total = len(result.rows)
    missing = [f'{METRIC_LABELS.get(metric, metric)} {group} {total - count}/{total}'
               for group in GROUPS for metric, count in result.counts[group].items()
               if count < total]
    footer = f'{total} file{"s" if total != 1 else ""}'
    if result.rtf is not None:
        footer += (f'; real-time factor {result.rtf:.3f} '
                   f'(processing time / audio duration, model loading excluded)')
    lines.append(footer)
    if missing:
        lines.append('not computable (NaN, left out of the means): ' + ', '.join(missing))
    return '\n'.join(lines)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to ``subparsers`` (``ArgumentParser.add_subparsers()``).

    The command stores ``run=run_evaluate``: call ``args.run(args)``, which
    returns the exit code and raises :class:`~modelscope_frcrn.errors.FRCRNError`
    for bad input.
    """
    parser = subparsers.add_parser(
        'evaluate', help='score enhancement against clean references (PESQ, STOI, SI-SNR, DNSMOS)',
        description='Score noisy and enhanced speech against clean references: WB/NB-PESQ, '
                    'STOI, SI-SNR (and its improvement), DNSMOS. Files are paired by '
                    'identical name or by the DNS Challenge fileid_N. Needs the eval extra: '
                    "pip install 'modelscope_frcrn[eval]'.")
    parser.add_argument('--noisy', required=True, metavar='DIR', help='folder of noisy recordings')
    parser.add_argument('--clean', required=True, metavar='DIR', help='folder of clean references')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--model', metavar='M',
                        help='enhance the noisy files with this model directory or ModelScope '
                             'model id (default: the model shipped with this package)')
    source.add_argument('--enhanced', metavar='DIR',
                        help='score these already enhanced files instead of running a model')
    parser.add_argument('--device', default='cpu', help='cpu or cuda (default: cpu)')
    parser.add_argument('--json', metavar='FILE', help='write every per-file value and the means')
    parser.add_argument('--plot', metavar='FILE',
                        help='write box plots of the metrics (PNG, SVG or PDF; needs matplotlib)')
    parser.add_argument('--no-dnsmos', action='store_true',
                        help='skip DNSMOS (the slowest metric)')
    parser.set_defaults(run=run_evaluate)
    return parser


def run_evaluate(args: argparse.Namespace) -> int:
    """The ``evaluate`` subcommand: evaluate, print the table of means, return 0."""
    if args.enhanced is None:  # the model runs in this process, which is ours
        from ..inference.backends import tune_malloc

        tune_malloc()
    result = evaluate_folders(args.noisy, args.clean, enhanced_dir=args.enhanced,
                              model=args.model, device=args.device,
                              with_dnsmos=not args.no_dnsmos, json_path=args.json,
                              plot_path=args.plot)
    print(format_table(result))
    for label, path in (('results', args.json), ('plot', args.plot)):
        if path:
            print(f'wrote {label} to {path}')
    return 0


def load_signal(path) -> np.ndarray:
    """A file as 16 kHz mono float64 ``[T]`` (channels averaged, resampled)."""
    return read_mono(str(path), SAMPLE_RATE).astype(np.float64)


def _score_file(noisy_path: Path, clean_path: Path, enhanced_path: Optional[Path], pipeline,
                with_dnsmos: bool, nb_pesq_rate: int) -> Dict[str, Any]:
    noisy = load_signal(noisy_path)
    clean = load_signal(clean_path)
    processing = None
    if pipeline is None:
        enhanced = load_signal(enhanced_path)
    else:
        from modelscope.outputs import OutputKeys

        start = time.perf_counter()
        output = pipeline(str(noisy_path))
        processing = time.perf_counter() - start
        enhanced = np.frombuffer(output[OutputKeys.OUTPUT_PCM], dtype='<i2') / 32768.0

    lengths = {'clean': clean.size, 'noisy': noisy.size, 'enhanced': enhanced.size}
    length = min(lengths.values())
    if len(set(lengths.values())) > 1:
        warnings.warn(f'{noisy_path.name}: lengths differ ('
                      + ', '.join(f'{role} {size}' for role, size in lengths.items())
                      + f' samples at 16 kHz); scoring the first {length} samples',
                      MetricWarning, stacklevel=3)
    clean, noisy, enhanced = clean[:length], noisy[:length], enhanced[:length]
    scores = {group: _scored(noisy_path.name, group, clean, signal, with_dnsmos, nb_pesq_rate)
              for group, signal in (('noisy', noisy), ('enhanced', enhanced))}
    scores['enhanced']['si_snr_i'] = scores['enhanced']['si_snr'] - scores['noisy']['si_snr']
    seconds = lengths['noisy'] / SAMPLE_RATE
    return {
        'name': noisy_path.name, 'noisy_path': str(noisy_path), 'clean_path': str(clean_path),
        'enhanced_path': None if enhanced_path is None else str(enhanced_path),
        'seconds': seconds, 'compared_samples': length,
        'processing_seconds': processing,
        'rtf': None if processing is None else processing / seconds,
        **scores,
    }


def _scored(name: str, group: str, clean: np.ndarray, signal: np.ndarray, with_dnsmos: bool,
            nb_pesq_rate: int) -> Dict[str, float]:
    """score_pair with its warnings re-issued under the file's name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        scores = score_pair(clean, signal, with_dnsmos=with_dnsmos, nb_pesq_rate=nb_pesq_rate)
    for warning in caught:
        if issubclass(warning.category, MetricWarning):
            warnings.warn(f'{name} ({group}): {warning.message}', MetricWarning, stacklevel=4)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return scores


def _progress(pairs: Sequence, enabled: bool):
    from tqdm import tqdm

    return tqdm(pairs, desc='evaluating', unit='file', disable=not enabled)


def _summary(rows, metrics, reduce) -> Dict[str, Dict[str, Any]]:
    summary = {}
    for group in GROUPS:
        present = [metric for metric in metrics if rows and metric in rows[0][group]]
        summary[group] = {metric: reduce([row[group][metric] for row in rows])
                          for metric in present}
    return summary


def _paired_changes(rows, metrics) -> Dict[str, float]:
    """metric -> mean of ``enhanced - noisy`` over the rows where both are finite."""
    changes = {}
    for metric in metrics:
        if not rows or metric not in rows[0]['noisy'] or metric not in rows[0]['enhanced']:
            continue
        changes[metric] = _mean([row['enhanced'][metric] - row['noisy'][metric] for row in rows])
    return changes


def _mean(values) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return float(np.mean(finite)) if finite else float('nan')


def _count(values) -> int:
    return sum(1 for value in values if math.isfinite(value))


def _total_rtf(rows) -> Optional[float]:
    seconds = sum(row['seconds'] for row in rows)
    return sum(row['processing_seconds'] for row in rows) / seconds if seconds else None


def _number(value: Optional[float], scale: float, signed: bool = False) -> str:
    if value is None:
        return '-'
    if not math.isfinite(value):
        return 'nan'
    return f'{value * scale:+.3f}' if signed else f'{value * scale:.3f}'


def package_versions(packages=TRACKED_PACKAGES) -> Dict[str, Optional[str]]:
    """Installed version of each package (None where it is missing), for result files."""
    from importlib import metadata

    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def jsonable(value):
    """``value`` with NumPy scalars as Python ones and NaN/inf as None, ready for strict JSON."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value
