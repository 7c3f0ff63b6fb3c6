"""Registering our classes under ModelScope's own names, whatever the import order.

ModelScope's ``build_from_cfg`` imports the built-in module of a name (from its
AST index) before every lookup. The built-in module registers the same name
without ``force``, which raises ``KeyError: ... is already registered`` once our
class holds the name — and keeps raising on every later build, since the failed
module is not cached. So besides registering with ``force=True`` (which wins when
the built-in was imported first), we make a registry ignore a later *non-forced*
registration of a name we own (which wins when it is imported after us). A
third party that registers with ``force=True`` still replaces us, as the
registry's contract says.
"""
import inspect
from typing import Callable, Dict, Tuple, Type

from modelscope.utils.ast_utils import INDEX_KEY
from modelscope.utils.import_utils import LazyImportModule
from modelscope.utils.logger import get_logger
from modelscope.utils.registry import Registry

logger = get_logger()

_OWNED: Dict[Tuple[str, str, str], type] = {}


def register(registry: Registry, group_key: str, module_name: str) -> Callable[[Type], Type]:
    """Class decorator: register in ``registry[group_key][module_name]``, overriding the built-in."""

    def decorator(cls: Type) -> Type:
        _install_guard()
        registry.register_module(group_key, module_name, module_cls=cls, force=True)
        _OWNED[(registry.name, group_key, module_name)] = cls
        _index_for_lazy_import(registry, group_key, module_name, cls)
        return cls

    return decorator


def owned_names() -> Dict[Tuple[str, str, str], type]:
    """``(registry, group, name) -> our class`` for every name this plugin holds."""
    return dict(_OWNED)


def _index_for_lazy_import(registry: Registry, group_key: str, module_name: str,
                           cls: Type) -> None:
    """Add a name ModelScope's AST index lacks (our preprocessor), pointing at our module.

    ``build_from_cfg`` looks every name up in that index first and only logs a
    warning for unknown ones; indexed, ours is found like a built-in.
    """
    index = LazyImportModule.get_ast_index()[INDEX_KEY]
    index.setdefault((registry.name.upper(), group_key, module_name),
                     {'filepath': inspect.getfile(cls), 'imports': [], 'module': cls.__module__})


def _install_guard() -> None:
    if getattr(Registry._register_module, '_frcrn_guard', False):
        return
    original = Registry._register_module

    def register_module_keeping_ours(self, group_key='default', module_name=None,
                                     module_cls=None, force=False):
        name = module_name if module_name is not None else getattr(module_cls, '__name__', None)
        ours = _OWNED.get((self.name, group_key, name))
        if ours is not None and not force and module_cls is not ours:
            logger.debug(f'modelscope_frcrn keeps {self.name}[{group_key}][{name}]; '
                         f'ignoring {module_cls!r}')
            return
        original(self, group_key, module_name, module_cls, force)

    register_module_keeping_ours._frcrn_guard = True
    Registry._register_module = register_module_keeping_ours
