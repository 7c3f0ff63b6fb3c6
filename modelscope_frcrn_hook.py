"""Start-up hook that activates modelscope_frcrn inside ModelScope with no import line.

``modelscope_frcrn_hook.pth`` (installed into site-packages with the package,
removed by ``pip uninstall``) calls :func:`install` at interpreter start-up.
That costs nothing measurable: this module imports only the standard library
and puts a finder on ``sys.meta_path`` that watches three ModelScope modules.
When one of them is loaded, its entry point (``build_from_cfg``, ``pipeline``,
``Model.from_pretrained``) is wrapped in a trampoline. The first call through a
trampoline imports ``modelscope_frcrn``, which registers our classes with
ModelScope's registries, and hands the call to
``modelscope_frcrn.integration``. If the plugin cannot be imported, the
original ModelScope function runs, after one warning.
"""
import functools
import importlib
import importlib.abc
import sys
import warnings

#: module -> (entry point inside it, handler name in modelscope_frcrn.integration)
ENTRY_POINTS = {
    'modelscope.utils.registry': ('build_from_cfg', 'build_from_cfg'),
    'modelscope.pipelines.builder': ('pipeline', 'pipeline'),
    'modelscope.models.base.base_model': ('Model.from_pretrained', 'from_pretrained'),
}
_WRAPPED = '__modelscope_frcrn_wrapped__'
_failed_import = []


def install() -> None:
    """Watch ModelScope's entry-point modules and wrap those already loaded. Idempotent."""
    if not any(isinstance(finder, _EntryPointFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _EntryPointFinder())
    for module_name in ENTRY_POINTS:
        if module_name in sys.modules:
            wrap_entry_point(sys.modules[module_name])


def wrap_entry_point(module) -> None:
    """Replace ``module``'s entry point with a trampoline into the plugin."""
    path, handler_name = ENTRY_POINTS[module.__name__]
    owner_path, _, attribute = path.rpartition('.')
    owner = getattr(module, owner_path) if owner_path else module
    current = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    function = current.__func__ if isinstance(current, classmethod) else current
    if getattr(function, _WRAPPED, False):
        return

    if isinstance(current, classmethod):
        def trampoline(cls, *args, **kwargs):
            return _dispatch(handler_name, functools.partial(function, cls), args, kwargs)
    else:
        def trampoline(*args, **kwargs):
            return _dispatch(handler_name, function, args, kwargs)
    functools.update_wrapper(trampoline, function)
    setattr(trampoline, _WRAPPED, True)
    setattr(owner, attribute,
            classmethod(trampoline) if isinstance(current, classmethod) else trampoline)


def _dispatch(handler_name: str, original, args: tuple, kwargs: dict):
    integration = _plugin_integration()
    if integration is None:
        return original(*args, **kwargs)
    return getattr(integration, handler_name)(original, *args, **kwargs)


def _plugin_integration():
    if _failed_import:
        return None
    try:
        return importlib.import_module('modelscope_frcrn.integration')
    except Exception as error:  # never break ModelScope because the plugin is broken
        _failed_import.append(error)
        warnings.warn(f'modelscope_frcrn could not be activated, ModelScope runs without it: '
                      f'{type(error).__name__}: {error}')
        return None


class _EntryPointFinder(importlib.abc.MetaPathFinder):
    """Finds the watched modules with the other finders and wraps their loaders."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in ENTRY_POINTS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _WrappingLoader(spec.loader)
                return spec
        return None


class _WrappingLoader(importlib.abc.Loader):
    """Delegates to the real loader, then wraps the loaded module's entry point."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        wrap_entry_point(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)
