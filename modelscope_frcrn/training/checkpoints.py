"""Checkpoint saving that leaves a reloadable model in ``work_dir/output`` and resumable state.

- ModelScope hard-links each ``epoch_N.pth`` (the wrapper's state, keys prefixed
  ``model.``) as ``output/pytorch_model.bin``. The built-in FRCRN loads such a
  file with ``strict=False``, i.e. not at all, so a trained model silently
  reverts to its initial weights. We keep ``epoch_N.pth`` as ModelScope writes
  it (resuming reads it back) and write ``output/pytorch_model.bin`` in the
  layout of the hub release: the bare network ``state_dict``, which every
  loader reads.
- ModelScope saves NumPy's random state as an ndarray in
  ``epoch_N_trainer_state.pth`` and then reads that file back with
  ``weights_only=True``, which refuses ndarrays: resuming fails. We store the
  state's key array as a list of ints, which ``np.random.set_state`` accepts.
"""
import os

import numpy as np
import torch
from modelscope.trainers.hooks.checkpoint.checkpoint_processor import CheckpointProcessor
from modelscope.utils.constant import ModelFile

from ..atomic import write_atomically


class ReleaseLayoutCheckpointProcessor(CheckpointProcessor):
    """A :class:`CheckpointProcessor` whose output folder holds release-layout weights."""

    def link(self, model, src_file, output_dir):
        save_network_weights(model, os.path.join(output_dir, ModelFile.TORCH_MODEL_BIN_FILE))

    def save_trainer_state(self, trainer, model, train_state_file, meta, save_optimizers):
        numpy_state = (meta or {}).get('rng_state', {}).get('numpy')
        if numpy_state is not None:
            name, keys, position, has_gauss, cached_gaussian = numpy_state
            meta['rng_state']['numpy'] = (name, np.asarray(keys).tolist(), int(position),
                                          int(has_gauss), float(cached_gaussian))
        super().save_trainer_state(trainer, model, train_state_file, meta, save_optimizers)


def save_network_weights(model, path: str) -> None:
    """Save ``model.model``'s (the FRCRN network's) state_dict to ``path`` atomically."""
    state = {key: value.detach().cpu() for key, value in model.model.state_dict().items()}
    write_atomically(path, lambda stream: torch.save(state, stream))
