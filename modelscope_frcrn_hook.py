"""Start-up hook that activates modelscope_frcrn inside ModelScope with no import line.

``modelscope_frcrn_hook.pth`` (installed into site-packages with the package,
removed by ``pip uninstall``) calls :func:`install` at interpreter start-up.
That costs nothing measurable: at start-up this module imports nothing (``sys``
is built in) and puts a finder on ``sys.meta_path`` that watches four
ModelScope modules. When one of them is loaded, its entry point
(``build_from_cfg``, ``pipeline``, ``Model.from_pretrained``, ``build_trainer``) is wrapped in a
trampoline. The first call through a trampoline imports ``modelscope_frcrn``,
which registers our classes with ModelScope's registries, and hands the call
to ``modelscope_frcrn.integration``.

Whatever goes wrong (the plugin cannot be imported, a ModelScope release
renamed an entry point...), ModelScope must keep working: the hook warns once,
puts back every entry point it wrapped, stops watching, and every trampoline
already handed out calls the original function.
"""
import sys

#: module -> (entry point inside it, handler name in modelscope_frcrn.integration)
ENTRY_POINTS = {
    'modelscope.utils.registry': ('build_from_cfg', 'build_from_cfg'),
    'modelscope.pipelines.builder': ('pipeline', 'pipeline'),
    'modelscope.models.base.base_model': ('Model.from_pretrained', 'from_pretrained'),
    'modelscope.trainers.builder': ('build_trainer', 'build_trainer'),
}
_WRAPPED = '__modelscope_frcrn_wrapped__'
#: (owner, attribute, original value) of each entry point wrapped, to put back on failure
_wrapped = []
#: the failure that turned the plugin off in this process (at most one)
_failures = []


def install() -> None:
    """Watch ModelScope's entry-point modules and wrap those already loaded. Idempotent;
    does nothing once the hook has been turned off by a failure."""
    if _failures:
        return
    if not any(isinstance(finder, _EntryPointFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _EntryPointFinder())
    for module_name in ENTRY_POINTS:
        if module_name in sys.modules:
            wrap_entry_point(sys.modules[module_name])


def wrap_entry_point(module) -> None:
    """Replace ``module``'s entry point with a trampoline into the plugin; on any failure,
    turn the hook off instead (ModelScope is left as it was)."""
    if _failures:
        return
    try:
        _wrap(module)
    except Exception as error:
        _turn_off(f'cannot wrap the entry point of {module.__name__}', error)


def _wrap(module) -> None:
    import functools

    path, handler_name = ENTRY_POINTS[module.__name__]
    owner_path, _, attribute = path.rpartition('.')
    owner = getattr(module, owner_path) if owner_path else module
    current = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    function = current.__func__ if isinstance(current, classmethod) else current
    if not callable(function):
        raise TypeError(f'{path} is not a function')
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
    _wrapped.append((owner, attribute, current))
    setattr(owner, attribute,
            classmethod(trampoline) if isinstance(current, classmethod) else trampoline)


def _dispatch(handler_name: str, original, args: tuple, kwargs: dict):
    integration = _plugin_integration()
    if integration is None:
        return original(*args, **kwargs)
    return getattr(integration, handler_name)(original, *args, **kwargs)


def _plugin_integration():
    if _failures:
        return None
    try:
        import importlib
        return importlib.import_module('modelscope_frcrn.integration')
    except Exception as error:  # never break ModelScope because the plugin is broken
        _turn_off('the plugin could not be imported', error)
        return None


def _turn_off(reason: str, error: Exception) -> None:
    """Warn (once), put back every wrapped entry point and stop watching."""
    import warnings

    if _failures:
        return
    _failures.append(error)
    for owner, attribute, original in reversed(_wrapped):
        setattr(owner, attribute, original)
    _wrapped.clear()
    sys.meta_path[:] = [finder for finder in sys.meta_path
                        if not isinstance(finder, _EntryPointFinder)]
    warnings.warn(f'modelscope_frcrn could not be activated, ModelScope runs without it '
                  f'({reason}): {type(error).__name__}: {error}', stacklevel=2)


class _EntryPointFinder:
    """A ``sys.meta_path`` finder: finds the watched modules with the other finders and wraps
    their loaders. (Not an ``importlib.abc.MetaPathFinder``: importing that module at every
    interpreter start-up would cost more than everything else here.)"""

    def find_spec(self, fullname, path, target=None):
        if fullname not in ENTRY_POINTS or _failures:
            return None
        try:
            spec = self._find_with_others(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _WrappingLoader(spec.loader)
            return spec
        except Exception as error:  # the import machinery then finds the module on its own
            _turn_off(f'cannot find {fullname}', error)
            return None

    def _find_with_others(self, fullname, path, target):
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


class _WrappingLoader:
    """Delegates to the real loader, then wraps the loaded module's entry point."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)  # ModelScope's own errors go to its importer
        wrap_entry_point(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)
