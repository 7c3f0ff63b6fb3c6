"""Reading FRCRN checkpoints in every layout that is found in the wild.

- the released hub weights: a bare ``state_dict`` of the network;
- a ModelScope trainer checkpoint: ``{'state_dict': {'model.<key>': ...}, ...}``;
- the built-in trainer's ``output/pytorch_model.bin``: a bare dict whose keys
  carry the ``model.`` prefix (the built-in silently ignores these on reload);
- checkpoints that hold only one spelling of the aliased sub-modules
  (``unet.encoder0.*`` or ``unet.encoders.0.*``);
- half-precision storage, restored to float32.
"""
import os
import re
from typing import Dict, Optional

import torch
from torch import nn

from ..errors import CheckpointMismatchError

WEIGHTS_FILE = 'pytorch_model.bin'
_WRAPPER_PREFIX = 'model.'
_ALIASES = {'encoder': 'encoders', 'decoder': 'decoders', 'fsmn_enc': 'fsmn_enc',
            'fsmn_dec': 'fsmn_dec', 'se_layer_enc': 'se_layers_enc',
            'se_layer_dec': 'se_layers_dec'}
_NUMBERED = re.compile(r'(^|\.)(' + '|'.join(_ALIASES) + r')(\d+)\.')
_LISTED = re.compile(r'(^|\.)(' + '|'.join(set(_ALIASES.values())) + r')\.(\d+)\.')
_LIST_TO_NUMBERED = {listed: numbered for numbered, listed in _ALIASES.items()}


def alias_of(key: str) -> Optional[str]:
    """The other spelling of a key under an aliased sub-module, or None.

    >>> alias_of('unet.encoder3.conv.conv_re.weight')
    'unet.encoders.3.conv.conv_re.weight'
    """
    numbered = _NUMBERED.search(key)
    if numbered:
        lead, name, index = numbered.groups()
        return _NUMBERED.sub(f'{lead}{_ALIASES[name]}.{index}.', key, count=1)
    listed = _LISTED.search(key)
    if listed:
        lead, name, index = listed.groups()
        return _LISTED.sub(f'{lead}{_LIST_TO_NUMBERED[name]}{index}.', key, count=1)
    return None


def read_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Load a weights file safely (``weights_only=True``) and return the network's state dict."""
    if not os.path.isfile(path):
        raise CheckpointMismatchError(f'weights file not found: {path}')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise CheckpointMismatchError(
            f'cannot read weights file {path}: {error}') from error
    return network_state(checkpoint, source=path)


def network_state(checkpoint, source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Unwrap a checkpoint of any supported layout into the network's float32 state dict."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise CheckpointMismatchError(f'{source} holds no state_dict')
    if all(key.startswith(_WRAPPER_PREFIX) for key in checkpoint):
        checkpoint = {key[len(_WRAPPER_PREFIX):]: value for key, value in checkpoint.items()}
    return {key: value.float() if torch.is_floating_point(value) else value
            for key, value in checkpoint.items()}


def load_network_state(network: nn.Module, state: Dict[str, torch.Tensor],
                       source: str = 'checkpoint') -> None:
    """Load ``state`` into ``network`` strictly, filling in missing alias spellings.

    Raises:
        CheckpointMismatchError: keys missing or unexpected, or shapes differ.
    """
    state = dict(state)
    for key in network.state_dict():
        twin = alias_of(key)
        if key not in state and twin in state:
            state[key] = state[twin]
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointMismatchError(
            f'{source} does not fit this FRCRN configuration '
            f'(check width/win_len/fft_len in configuration.json): {_shorten(error)}') from error


def _shorten(error: Exception, limit: int = 600) -> str:
    text = ' '.join(str(error).split())
    return text if len(text) <= limit else text[:limit] + ' ...'

