"""Tiny in-memory training data for the trainer tests (also used by the torchrun script)."""
import datasets
import numpy as np
from modelscope.msdatasets import MsDataset

SEGMENT = 16000


def segments(count: int, seed: int) -> MsDataset:
    """``count`` one-second noisy/clean pairs as plain float lists, like ``to_segment`` makes."""
    rng = np.random.default_rng(seed)
    t = np.arange(SEGMENT) / 16000
    clean = [0.1 * np.sin(2 * np.pi * (120 + 40 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t))
             for i in range(count)]
    noisy = [c + 0.05 * rng.standard_normal(SEGMENT) for c in clean]
    table = {'noisy': [n.astype(np.float32).tolist() for n in noisy],
             'clean': [c.astype(np.float32).tolist() for c in clean]}
    return MsDataset.from_hf_dataset(datasets.Dataset.from_dict(table))


def small_batches(cfg):
    cfg.train.dataloader.batch_size_per_gpu = 2
    cfg.evaluation.dataloader.batch_size_per_gpu = 2
    cfg.train.logging.interval = 1
    return cfg
