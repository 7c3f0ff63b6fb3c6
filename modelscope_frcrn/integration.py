"""What our start-up hook runs in place of ModelScope's entry points.

``modelscope_frcrn_hook`` wraps ``build_from_cfg``, ``pipeline`` and
``Model.from_pretrained`` when ModelScope loads them; the first call imports
this package (registering our classes) and then comes here with the original
function. Each handler only rewrites a hub id into a cached local directory
(see :mod:`modelscope_frcrn.hub`) and calls the original.
"""
import inspect
from typing import Any, Callable

from .hub import resolve_model


def build_from_cfg(original: Callable, *args, **kwargs) -> Any:
    """Our classes are registered by now (importing this package did it): build as usual."""
    return original(*args, **kwargs)


def pipeline(original: Callable, *args, **kwargs) -> Any:
    """``modelscope.pipelines.pipeline`` with offline resolution of cached FRCRN ids."""
    return _call_with_resolved_model(original, 'model', 'model_revision', args, kwargs)


def from_pretrained(original: Callable, *args, **kwargs) -> Any:
    """``Model.from_pretrained`` with offline resolution of cached FRCRN ids."""
    return _call_with_resolved_model(original, 'model_name_or_path', 'revision', args, kwargs)


def _call_with_resolved_model(original: Callable, model_arg: str, revision_arg: str,
                              args: tuple, kwargs: dict) -> Any:
    bound = inspect.signature(original).bind_partial(*args, **kwargs)
    if model_arg in bound.arguments:
        bound.arguments[model_arg] = resolve_model(bound.arguments[model_arg],
                                                   bound.arguments.get(revision_arg))
    return original(*bound.args, **bound.kwargs)
