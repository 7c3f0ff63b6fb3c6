"""Shared by the training benchmarks: random segments, a model directory, timing train steps."""
import json
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from modelscope.msdatasets import MsDataset

REPO_ROOT = Path(__file__).resolve().parent.parent


def segments(count: int) -> MsDataset:
    """``count`` noisy/clean one-second pairs of white noise, as ``to_segment`` lays them out."""
    rng = np.random.default_rng(0)
    clean = 0.1 * rng.standard_normal((count, 16000)).astype(np.float32)
    noisy = clean + 0.05 * rng.standard_normal((count, 16000)).astype(np.float32)
    return MsDataset.from_hf_dataset(datasets.Dataset.from_dict(
        {'noisy': noisy.tolist(), 'clean': clean.tolist()}))


def model_dir(root: Path, **model_overrides) -> Path:
    """A model directory: the repository's configuration.json with ``model_overrides`` applied."""
    config = json.loads((REPO_ROOT / 'configuration.json').read_text())
    config['model'].update(model_overrides)
    root.mkdir(parents=True, exist_ok=True)
    (root / 'configuration.json').write_text(json.dumps(config))
    return root


def time_train_steps(trainer, warmup: int) -> list:
    """Run ``trainer.train()`` and return the durations (s) of its train steps after ``warmup``."""
    durations = []
    step = trainer.train_step

    def timed(*args):
        _synchronize()
        started = time.perf_counter()
        step(*args)
        _synchronize()
        durations.append(time.perf_counter() - started)

    trainer.train_step = timed
    trainer.train()
    return durations[warmup:]


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
