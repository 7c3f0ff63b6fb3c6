"""Push/pull processing stages: the one implementation behind file denoising and streams.

A stage takes ``[C, n]`` blocks one at a time (:meth:`Stage.push`) and returns
what it can give so far (``[C', m]``, possibly ``m = 0``); :meth:`Stage.finish`
returns the rest once the input has ended. A file is a loop over its blocks
(:func:`run_stage`); a stream calls ``push`` whenever audio arrives. Because both
go through the same stage objects, their outputs are the same sample for sample.
"""
import collections
from typing import Callable, Deque, Iterable, Iterator, List, Protocol, Sequence

import numpy as np


class Stage(Protocol):
    def push(self, block: np.ndarray) -> np.ndarray:
        """Shape: ``[C, n]`` -> ``[C', m]``: the output that ``block`` completes."""

    def finish(self) -> np.ndarray:
        """Shape: ``[C', m]``: the output still held once the input has ended."""


def joined(blocks: Sequence[np.ndarray], channels: int) -> np.ndarray:
    """``blocks`` end to end; ``[channels, 0]`` when there are none with samples.

    Shape: ``[C, n_i]`` blocks -> ``[C, sum n_i]``.
    """
    filled = [block for block in blocks if block.shape[-1]]
    if len(filled) == 1:
        return filled[0]
    if filled:
        return np.concatenate(filled, axis=1)
    return np.zeros((channels, 0), np.float32)


class Map:
    """A stage applying ``function`` to each block as it comes (it holds nothing back)."""

    def __init__(self, function: Callable[[np.ndarray], np.ndarray]):
        self.function = function
        self._channels = 1

    def push(self, block: np.ndarray) -> np.ndarray:
        output = self.function(block)
        self._channels = output.shape[0]
        return output

    def finish(self) -> np.ndarray:
        return np.zeros((self._channels, 0), np.float32)


class Chain:
    """Stages one after the other: each one's output is the next one's input."""

    def __init__(self, stages: Sequence[Stage]):
        self.stages: List[Stage] = list(stages)

    def push(self, block: np.ndarray) -> np.ndarray:
        for stage in self.stages:
            if not block.shape[-1]:
                break
            block = stage.push(block)
        return block

    def finish(self) -> np.ndarray:
        held = None
        for stage in self.stages:
            pushed = [stage.push(held)] if held is not None and held.shape[-1] else []
            finished = stage.finish()
            held = joined(pushed + [finished], finished.shape[0])
        return held


def run_stage(stage: Stage, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """``stage`` over a whole stream: its non-empty outputs as ``[C, m]`` blocks."""
    for block in blocks:
        output = stage.push(block)
        if output.shape[-1]:
            yield output
    rest = stage.finish()
    if rest.shape[-1]:
        yield rest


class SampleQueue:
    """Samples waiting to be taken, first in first out, kept as the blocks they came in."""

    def __init__(self, channels: int = 1):
        self.channels = channels
        self._blocks: Deque[np.ndarray] = collections.deque()
        self.size = 0

    def put(self, block: np.ndarray) -> None:
        """Shape: ``[C, n]``."""
        if block.shape[-1]:
            self.channels = block.shape[0]
            self._blocks.append(block)
            self.size += block.shape[-1]

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` samples, zero-padded past what is held. Shape: ``[C, count]``."""
        pieces, needed = [], count
        while needed > 0 and self._blocks:
            block = self._blocks.popleft()
            if block.shape[-1] > needed:
                self._blocks.appendleft(block[:, needed:])
                block = block[:, :needed]
            pieces.append(block)
            needed -= block.shape[-1]
        self.size -= count - needed
        if needed > 0:
            pieces.append(np.zeros((self.channels, needed), np.float32))
        return joined(pieces, self.channels)

    def rest(self) -> np.ndarray:
        """Everything held. Shape: ``[C, size]``."""
        return self.take(self.size)
