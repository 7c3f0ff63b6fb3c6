"""Lazy imports of the optional packages of the ``eval`` extra.

The base install stays light: ``pesq``, ``pystoi``, ``speechmos`` (+
``onnxruntime``) and ``matplotlib`` are imported only when a metric or a plot
needs them, and a missing one raises :class:`MissingDependencyError` naming
``pip install 'modelscope_frcrn[eval]'``.
"""
import importlib
from types import ModuleType
from typing import Dict, Iterable

from ..errors import MissingDependencyError

EVAL_EXTRA_HINT = "pip install 'modelscope_frcrn[eval]'"

#: what each feature needs: module names to import
FEATURE_MODULES: Dict[str, tuple] = {
    'PESQ': ('pesq',),
    'STOI': ('pystoi',),
    'DNSMOS': ('onnxruntime', 'speechmos.dnsmos'),
    'plotting': ('matplotlib',),
}


def import_optional(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature`` or raise :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f'{feature} needs the Python package {module.split(".")[0]!r}, which cannot be '
            f'imported ({error}); install the evaluation extra: {EVAL_EXTRA_HINT}') from error


def require(features: Iterable[str]) -> None:
    """Import everything ``features`` need now, to fail before any work is done."""
    for feature in features:
        for module in FEATURE_MODULES[feature]:
            import_optional(module, feature)
