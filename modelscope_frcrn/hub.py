"""Resolving model ids to local directories without waiting on the network.

ModelScope asks the hub about a model id before it looks at its cache, so with
no network ``pipeline(..., model='damo/speech_frcrn_ans_cirm_16k')`` fails after
about 32 s even when the model is cached. We look in the cache first (both
cache layouts, through ModelScope's own ``snapshot_download(local_files_only=True)``)
and hand ModelScope the local directory. For the published FRCRN ids that are
not cached, we check in a few seconds whether the hub can be reached at all and
otherwise fail with instructions.
"""
import json
import os
import socket
import urllib.parse
import warnings
from pathlib import Path
from typing import Any, Optional

from .errors import ModelNotAvailableError, WeightsNotFoundError
from .metainfo import FRCRN_HUB_IDS, Models
from .models.checkpoint import WEIGHTS_FILE

HUB_PROBE_TIMEOUT_S = 3.0
CONFIGURATION_FILE = 'configuration.json'
DEFAULT_MODEL_DIR = Path(__file__).parent / 'default_model'


def resolve_model(model: Any, revision: Optional[str] = None, strict: bool = False) -> Any:
    """Return a local directory for a cached FRCRN model id; anything else unchanged.

    Args:
        model: a model directory, a model id, or anything ModelScope accepts.
        revision: the hub revision asked for, if any.
        strict: also fail (instead of leaving the decision to ModelScope) for a
            path that does not exist and for any uncached id while the hub is
            unreachable. Our own CLI and scripts use it; the hooks into
            ModelScope's entry points do not, to leave other models alone.

    Raises:
        ModelNotAvailableError: ``model`` is a published FRCRN id (any id when
            ``strict``) that is not cached and the hub cannot be reached; or,
            when ``strict``, a path that does not exist.
    """
    if not isinstance(model, str):
        return model
    if os.path.exists(model):
        # ModelScope treats a relative 'owner/name' path as a hub id too.
        return os.path.abspath(model)
    if not _looks_like_hub_id(model):
        if strict:
            raise ModelNotAvailableError(f'model directory not found: {model}')
        return model
    cached = cached_model_dir(model, revision)
    if cached is not None and (strict or is_frcrn_model_dir(cached)):
        return cached
    if cached is None and (strict or model in FRCRN_HUB_IDS) and not hub_reachable():
        raise ModelNotAvailableError(_offline_message(model))
    return model


def cached_model_dir(model_id: str, revision: Optional[str] = None) -> Optional[str]:
    """The cached snapshot directory of ``model_id`` (new or legacy layout), or None.

    When ``revision`` is not cached but another revision is, that one is used with a
    :class:`UserWarning` naming it (the legacy layout holds one revision, whichever was asked).
    """
    from modelscope.hub.snapshot_download import snapshot_download

    for candidate in dict.fromkeys([revision, None]):
        try:
            path = snapshot_download(model_id, revision=candidate, local_files_only=True)
        except Exception:  # modelscope-hub raises its own CacheNotFound/ValueError types
            continue
        used = cached_revision(path)
        if revision is not None and used != revision:
            warnings.warn(f'revision {revision!r} of {model_id} is not in the ModelScope cache; '
                          f'using the cached revision {used} at {path}', stacklevel=2)
        return path
    return None


def cached_revision(path: str) -> str:
    """The revision of a cached model folder: its ``snapshots/REVISION`` name (new cache
    layout) or the one recorded in its ``.mv`` file (legacy layout), else ``'unknown'``."""
    from modelscope.hub.utils.caching import FileSystemCache

    folder = Path(path)
    if folder.parent.name == 'snapshots':
        return folder.name
    try:
        recorded = (folder / FileSystemCache.MODEL_VERSION_FILE_NAME).read_text('utf-8').strip()
    except OSError:
        return 'unknown'
    # 'Revision:v1.0.2,CreatedAt:...' or just the revision
    return recorded.split(',')[0].removeprefix('Revision:') or 'unknown'


def is_frcrn_model_dir(path: str) -> bool:
    """Whether ``path`` holds a configuration of an FRCRN model."""
    try:
        with open(os.path.join(path, CONFIGURATION_FILE), encoding='utf-8') as stream:
            model_section = json.load(stream).get('model', {})
    except (OSError, ValueError):
        return False
    model_type = model_section.get('type', model_section.get('model_type'))
    return model_type == Models.speech_frcrn_ans_cirm_16k


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the ModelScope hub opens within ``timeout`` seconds."""
    from modelscope.hub.utils.utils import get_endpoint

    endpoint = urllib.parse.urlparse(get_endpoint())
    port = endpoint.port or (443 if endpoint.scheme == 'https' else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _looks_like_hub_id(text: str) -> bool:
    owner, _, name = text.partition('/')
    return bool(owner and name) and '/' not in name and not os.path.isabs(text)


def _offline_message(model_id: str) -> str:
    from modelscope.utils.file_utils import get_model_cache_root

    return (
        f'model {model_id!r} is not in the ModelScope cache ({get_model_cache_root()}) and the '
        f'hub cannot be reached. Either download it where there is network '
        f'(`modelscope download --model {model_id}`) and copy the cache folder here or point '
        f'MODELSCOPE_CACHE to it, or pass a local model directory holding configuration.json '
        f'and pytorch_model.bin as model=...')


def default_model_dir() -> str:
    """The model directory shipped inside this package.

    Raises:
        WeightsNotFoundError: this version ships no trained weights.
    """
    weights = DEFAULT_MODEL_DIR / WEIGHTS_FILE
    if not weights.is_file():
        raise WeightsNotFoundError(
            f'this version of modelscope_frcrn ships no default model weights ({weights} is '
            f'missing). Pass --model with a directory holding configuration.json and '
            f'pytorch_model.bin (for example the official speech_frcrn_ans_cirm_16k checkpoint), '
            f'or a model id that is in your ModelScope cache.')
    return str(DEFAULT_MODEL_DIR)
