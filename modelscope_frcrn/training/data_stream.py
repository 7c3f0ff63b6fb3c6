"""The training data as one endless stream of batches that a resumed run continues.

Pass ``p`` over the data visits the samples in an order fixed by ``(seed, p)``
(the order of :class:`DistributedSampler` after ``set_epoch(p)``; with several
processes each takes its share), so batch ``n`` of the stream is the same
whenever it is drawn. A run resumed after ``n`` batches starts at pass
``n // batches_per_pass``, that many batches into it, without reading the
batches before (ModelScope restarts the first pass, and restores the random
state only after drawing the first batch).
"""
import itertools
from typing import Iterator

from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

NO_BATCHES = ('the training data set yields no batches '
              '(is it empty, or smaller than one batch with drop_last?)')


class ResumableSampler(Sampler[int]):
    """Indices of one pass in a ``(seed, pass)``-determined order, from any position.

    Args:
        dataset: the training set (sized).
        rank, world_size: this process and the number of processes sharing each pass.
        shuffle: permute each pass (False: dataset order).
        seed: the run's seed; the same seed gives the same stream.
    """

    def __init__(self, dataset: Dataset, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, seed: int = 0):
        self.order = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                        shuffle=shuffle, seed=seed)
        self.start = 0

    def set_position(self, pass_index: int, start: int = 0) -> None:
        """Iterate pass ``pass_index`` from its ``start``-th index on."""
        self.order.set_epoch(pass_index)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.order), self.start, None)

    def __len__(self) -> int:
        return len(self.order) - self.start


def endless_batches(data_loader: DataLoader, position: int = 0) -> Iterator:
    """Batches of ``data_loader`` from batch ``position`` of the endless stream on, passes
    back to back (each in its own order when the loader's sampler is a
    :class:`ResumableSampler`; other loaders start at pass 0 whatever ``position``)."""
    sampler = data_loader.sampler
    first_pass, skipped = 0, 0
    if isinstance(sampler, ResumableSampler):
        first_pass, skipped = divmod(position, _batches_per_pass(data_loader))
    for pass_index in itertools.count(first_pass):
        if isinstance(sampler, ResumableSampler):
            sampler.set_position(pass_index, skipped * data_loader.batch_size)
            skipped = 0
        elif isinstance(sampler, DistributedSampler):
            sampler.set_epoch(pass_index)
        empty = True
        for batch in data_loader:
            empty = False
            yield batch
        if empty:
            raise ValueError(NO_BATCHES)


def _batches_per_pass(data_loader: DataLoader) -> int:
    samples, size = len(data_loader.sampler.order), data_loader.batch_size
    batches = samples // size if data_loader.drop_last else -(-samples // size)
    if batches == 0:
        raise ValueError(NO_BATCHES)
    return batches
