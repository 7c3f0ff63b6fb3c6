"""Enhancing streams of any length in overlapping chunks, cross-faded at the seams.

Chunk ``k`` covers input samples ``[k * step, k * step + chunk)`` with
``step = chunk - overlap``. In each overlap the two neighbouring outputs are
blended: the earlier chunk alone for the first quarter, a raised-cosine
cross-fade over the middle half, the later chunk alone for the last quarter, so
neither chunk's padded edge reaches the output. Every input sample yields exactly
one output sample, and memory holds at most one chunk whatever the length.
"""
import math
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from .backends import Enhancer

#: Chunk length in seconds; see ``benchmarks/speed.py`` for the measured speed per length.
DEFAULT_CHUNK_SECONDS = 6.0
DEFAULT_OVERLAP_SECONDS = 1.0


class OverlapChunker:
    """Runs ``enhance`` chunk by chunk over a stream of ``[C, n]`` blocks.

    Args:
        enhance: the network, ``[C, T] -> [C, T]``.
        chunk: chunk length in samples.
        overlap: samples shared by neighbouring chunks (less than half a chunk).
        hop: the network's STFT hop; chunk starts are kept on multiples of it so
            every chunk sees the same frame grid as a one-pass run.
    """

    def __init__(self, enhance: Enhancer, chunk: int, overlap: int, hop: int = 1):
        overlap = _round_up(overlap, hop)
        chunk = max(_round_up(chunk, hop), 2 * overlap + hop)
        self.enhance = enhance
        self.chunk, self.overlap = chunk, overlap
        self._fade_in = _crossfade_weights(overlap)

    @property
    def step(self) -> int:
        return self.chunk - self.overlap

    def count(self, length: int) -> int:
        """How many chunks a stream of ``length`` samples takes."""
        return max(1, math.ceil((length - self.overlap) / self.step))

    def run(self, blocks: Iterable[np.ndarray], on_chunk: Optional[Callable[[], None]] = None
            ) -> Iterator[np.ndarray]:
        """Enhanced blocks, exactly as many samples in total as came in.

        Shape: ``[C, n]`` blocks in -> ``[C, m]`` blocks out.
        """
        buffer: Optional[np.ndarray] = None
        tail: Optional[np.ndarray] = None  # previous chunk's output over the coming overlap
        for block in blocks:
            buffer = block if buffer is None else np.concatenate([buffer, block], axis=1)
            while buffer.shape[-1] >= self.chunk:
                head, tail = self._split(self._enhance(buffer[:, :self.chunk], on_chunk), tail)
                yield head
                buffer = buffer[:, self.step:]
        if buffer is None:
            return
        if tail is None or buffer.shape[-1] > self.overlap:
            yield self._join(tail, self._enhance(buffer, on_chunk))
        else:
            yield tail

    def _enhance(self, chunk: np.ndarray, on_chunk) -> np.ndarray:
        enhanced = self.enhance(chunk)
        if on_chunk is not None:
            on_chunk()
        return enhanced

    def _split(self, enhanced: np.ndarray, tail: Optional[np.ndarray]):
        """A full chunk's output: what can be emitted now, and the overlap kept for later."""
        cut = enhanced.shape[-1] - self.overlap
        return self._join(tail, enhanced[:, :cut]), enhanced[:, cut:]

    def _join(self, tail: Optional[np.ndarray], enhanced: np.ndarray) -> np.ndarray:
        """``enhanced`` with its first ``overlap`` samples cross-faded into ``tail``."""
        if tail is None:
            return enhanced
        weights = self._fade_in
        blended = tail * (1.0 - weights) + enhanced[:, :self.overlap] * weights
        return np.concatenate([blended, enhanced[:, self.overlap:]], axis=1)


def _crossfade_weights(overlap: int) -> np.ndarray:
    """Weight of the later chunk over an overlap: 0 for a quarter, raised cosine, 1 for a quarter.

    Shape: ``[overlap]`` float32.
    """
    quarter = overlap // 4
    fade = overlap - 2 * quarter
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
    return np.concatenate([np.zeros(quarter), ramp, np.ones(quarter)]).astype(np.float32)


def _round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple
