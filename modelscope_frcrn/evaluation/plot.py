"""Box plots of per-file metrics, noisy input vs enhanced output (needs matplotlib)."""
import os
from typing import Dict, List, Sequence

import numpy as np

from ..atomic import write_atomically
from .dependencies import import_optional
from ..errors import EvaluationError

METRIC_LABELS = {
    'pesq_wb': 'WB-PESQ', 'pesq_nb': 'NB-PESQ', 'stoi': 'STOI (%)', 'si_snr': 'SI-SNR (dB)',
    'si_snr_i': 'SI-SNR-i (dB)', 'dnsmos_ovrl': 'DNSMOS OVRL', 'dnsmos_sig': 'DNSMOS SIG',
    'dnsmos_bak': 'DNSMOS BAK', 'dnsmos_p808': 'DNSMOS P.808',
}
PERCENT_METRICS = ('stoi',)


def plot_metrics(rows: Sequence[Dict], metrics: Sequence[str], path) -> None:
    """Write a figure with one box plot per metric (noisy and enhanced side by side,
    per-file values as dots) to ``path``; the format follows its extension (PNG
    when it has none). Written to a temporary file and renamed.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    import_optional('matplotlib', 'plotting')
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # no global backend change
    from matplotlib.figure import Figure

    columns = min(4, len(metrics))
    lines = -(-len(metrics) // columns)
    figure = Figure(figsize=(3.2 * columns, 3.0 * lines), constrained_layout=True)
    FigureCanvasAgg(figure)
    for index, metric in enumerate(metrics):
        axes = figure.add_subplot(lines, columns, index + 1)
        groups: List[str] = []
        values: List[np.ndarray] = []
        for group in ('noisy', 'enhanced'):
            column = _finite([row[group].get(metric, np.nan) for row in rows], metric)
            if column.size:
                groups.append(group)
                values.append(column)
        if values:
            axes.boxplot(values, showmeans=True)
            axes.set_xticks(range(1, len(groups) + 1), groups)
            for position, column in enumerate(values, start=1):
                axes.plot(np.full(column.size, position, dtype=float), column, '.', alpha=0.5)
        else:
            axes.text(0.5, 0.5, 'no values', ha='center', va='center', transform=axes.transAxes)
        axes.set_title(METRIC_LABELS.get(metric, metric))
        axes.grid(axis='y', alpha=0.3)
    figure.suptitle(f'{len(rows)} files')

    extension = os.path.splitext(os.fspath(path))[1].lstrip('.').lower() or 'png'
    write_atomically(path, lambda stream: figure.savefig(stream, format=extension, dpi=100))


def check_plot_path(path) -> None:
    """Raise :class:`EvaluationError` now (before any work) if matplotlib cannot write
    ``path``'s format."""
    import_optional('matplotlib', 'plotting')
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    extension = os.path.splitext(os.fspath(path))[1].lstrip('.').lower() or 'png'
    supported = FigureCanvasAgg.get_supported_filetypes()
    if extension not in supported:
        raise EvaluationError(f'cannot write a plot as .{extension}: use one of '
                              f'{", ".join(sorted(supported))}')


def _finite(values, metric: str) -> np.ndarray:
    column = np.asarray(values, dtype=float)
    column = column[np.isfinite(column)]
    return column * 100 if metric in PERCENT_METRICS else column
