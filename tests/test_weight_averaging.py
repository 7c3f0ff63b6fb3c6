"""The broad recipe's weight averaging of a run's epochs (recipes/broad_model/average.py)."""
import subprocess
import sys
from pathlib import Path

import torch
from modelscope.models import Model

from conftest import SMALL_WIDTH, write_model_dir
from modelscope_frcrn.models import FRCRN

SCRIPT = Path(__file__).resolve().parents[1] / 'recipes' / 'broad_model' / 'average.py'
REPO_CONFIGURATION = Path(__file__).resolve().parents[1] / 'configuration.json'


def run_average(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def trainer_epoch_file(run_dir: Path, epoch: int, state: dict) -> Path:
    """What the ModelScope trainer writes: the wrapper's keys, ``model.`` prefixed (the run's
    ``output/configuration.json`` is written by the caller)."""
    path = run_dir / f'epoch_{epoch}.pth'
    torch.save({f'model.{key}': value for key, value in state.items()}, path)
    return path


def random_state(seed: int, width: int = SMALL_WIDTH) -> dict:
    torch.manual_seed(seed)
    return FRCRN(width=width).state_dict()


def test_the_average_of_epoch_files_and_a_model_dir_is_the_mean_and_loads(tmp_path):
    """The trainer's optimizer-state files, caught by an ``epoch_*.pth`` glob, are skipped."""
    states = [random_state(seed) for seed in (1, 2, 3)]
    write_model_dir(tmp_path / 'train' / 'output', width=SMALL_WIDTH)
    first = trainer_epoch_file(tmp_path / 'train', 1, states[0])
    second = trainer_epoch_file(tmp_path / 'train', 2, states[1])
    third = write_model_dir(tmp_path / 'model_dir', states[2], width=SMALL_WIDTH)
    optimizer_state = tmp_path / 'train' / 'epoch_2_trainer_state.pth'
    torch.save({'optimizer': {'state': {}, 'param_groups': []}}, optimizer_state)
    result = run_average(first, second, optimizer_state, third, '--out', tmp_path / 'averaged')
    assert result.returncode == 0, result.stderr

    averaged = torch.load(tmp_path / 'averaged' / 'pytorch_model.bin', weights_only=True)
    assert set(averaged) == set(states[0])
    for key, value in averaged.items():
        if value.is_floating_point():
            mean = sum(state[key].float() for state in states) / 3
            assert value.dtype == torch.float16
            torch.testing.assert_close(value.float(), mean, atol=2e-3, rtol=2e-3)
        else:
            assert torch.equal(value, states[2][key])
    network = Model.from_pretrained(str(tmp_path / 'averaged')).model
    for key, value in network.state_dict().items():
        torch.testing.assert_close(value, averaged[key].to(value.dtype))


def test_checkpoints_of_different_architectures_are_refused(tmp_path):
    narrow = write_model_dir(tmp_path / 'narrow', random_state(1), width=SMALL_WIDTH)
    wider = write_model_dir(tmp_path / 'wider', random_state(2, SMALL_WIDTH * 2), width=SMALL_WIDTH * 2)
    result = run_average(narrow, wider, '--out', tmp_path / 'averaged')
    assert result.returncode != 0
    assert 'different names or sizes' in result.stderr
    assert not (tmp_path / 'averaged').exists()


def test_a_missing_checkpoint_is_named(tmp_path):
    result = run_average(tmp_path / 'epoch_7.pth', '--configuration', REPO_CONFIGURATION,
                         '--out', tmp_path / 'averaged')
    assert result.returncode != 0
    assert 'weights file not found' in result.stderr and 'epoch_7.pth' in result.stderr
    assert 'Traceback' not in result.stderr
