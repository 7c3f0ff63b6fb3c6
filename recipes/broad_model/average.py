"""Average the weights of several epochs of one run into a model directory (stochastic weight
averaging: Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization",
UAI 2018; the tail of a run's epochs stands in for SWA's cyclic snapshots).

    python recipes/broad_model/average.py --out DIR CHECKPOINT... [--configuration FILE]

A CHECKPOINT is a trainer's ``epoch_<n>.pth`` (``train.py --keep-epochs N`` keeps the last N) or
a model directory; the trainer's ``*_trainer_state.pth`` files (optimizer state) are skipped, so
``WORK/train/epoch_*.pth`` averages every kept epoch. Floating-point tensors are averaged
(batch-norm statistics included, as the cheap stand-in for SWA's recomputed statistics); integer
buffers come from the last checkpoint.
The configuration is the first model directory's, else ``WORK/train/output``'s next to the
first epoch file. Score the result with ``validation_scores.py``; pick what to average on the
validation mixtures only.
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, List

import torch

from modelscope_frcrn.errors import CheckpointMismatchError
from modelscope_frcrn.models.checkpoint import WEIGHTS_FILE, read_checkpoint
from train import write_model_dir

TRAINER_STATE_SUFFIX = '_trainer_state.pth'


def average_weights(states: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The mean of each floating-point tensor over ``states``; other tensors from the last."""
    if not states:
        raise ValueError('nothing to average')
    shapes = {key: value.shape for key, value in states[0].items()}
    for state in states[1:]:
        if {key: value.shape for key, value in state.items()} != shapes:
            raise ValueError('the checkpoints hold tensors of different names or sizes: '
                             'not one architecture')
    return {key: torch.stack([state[key].float() for state in states]).mean(0)
            if value.is_floating_point() else value for key, value in states[-1].items()}


def weights_path(checkpoint: Path) -> Path:
    return checkpoint / WEIGHTS_FILE if checkpoint.is_dir() else checkpoint


def configuration_for(checkpoint: Path) -> Path:
    """A model directory's own configuration, or that of the run an epoch file belongs to."""
    if checkpoint.is_dir():
        return checkpoint / 'configuration.json'
    return checkpoint.parent / 'output' / 'configuration.json'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoints', type=Path, nargs='+')
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--configuration', type=Path,
                        help="configuration.json to ship with the average (default: the first "
                             "checkpoint's run)")
    args = parser.parse_args(argv)
    checkpoints = [path for path in args.checkpoints if not path.name.endswith(TRAINER_STATE_SUFFIX)]
    if not checkpoints:
        parser.error('only trainer-state files given: pass the epoch_<n>.pth weight files')
    configuration = args.configuration or configuration_for(checkpoints[0])
    if not configuration.is_file():
        parser.error(f'no configuration found at {configuration}: pass --configuration')
    try:
        averaged = average_weights([read_checkpoint(str(weights_path(checkpoint)))
                                    for checkpoint in checkpoints])
    except (CheckpointMismatchError, ValueError) as error:
        parser.error(str(error))
    write_model_dir(averaged, configuration, args.out, half=True)
    print(f'averaged {len(checkpoints)} checkpoints into {args.out}')


if __name__ == '__main__':
    sys.exit(main())
