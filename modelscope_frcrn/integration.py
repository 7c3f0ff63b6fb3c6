"""What our start-up hook runs in place of ModelScope's entry points.

``modelscope_frcrn_hook`` wraps ``build_from_cfg``, ``pipeline``,
``Model.from_pretrained`` and ``build_trainer`` when ModelScope loads them; the first call imports
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


def build_trainer(original: Callable, *args, **kwargs) -> Any:
    """``modelscope.trainers.build_trainer`` with offline resolution of a cached FRCRN id given
    as ``default_args['model']`` (ModelScope asks the hub about any id before building)."""
    bound = inspect.signature(original).bind_partial(*args, **kwargs)
    default_args = bound.arguments.get('default_args')
    if isinstance(default_args, dict) and 'model' in default_args:
        bound.arguments['default_args'] = {
            **default_args,
            'model': resolve_model(default_args['model'], default_args.get('model_revision'))}
    return original(*bound.args, **bound.kwargs)


def _call_with_resolved_model(original: Callable, model_arg: str, revision_arg: str,
                              args: tuple, kwargs: dict) -> Any:
    bound = inspect.signature(original).bind_partial(*args, **kwargs)
    if model_arg in bound.arguments:
        bound.arguments[model_arg] = resolve_model(bound.arguments[model_arg],
                                                   bound.arguments.get(revision_arg))
    return original(*bound.args, **bound.kwargs)
