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

from ..audio.stages import joined, run_stage
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
        self.fade_in = _crossfade_weights(overlap)

    @property
    def step(self) -> int:
        return self.chunk - self.overlap

    def count(self, length: int) -> int:
        """How many chunks a stream of ``length`` samples takes."""
        return max(1, math.ceil((length - self.overlap) / self.step))

    @property
    def lag(self) -> int:
        """The most samples a :class:`ChunkStream` holds back: it has given out at least
        ``n - lag`` samples after taking ``n`` (the first waits for a whole chunk)."""
        return self.chunk - 1

    def stream(self, on_chunk: Optional[Callable[[], None]] = None) -> 'ChunkStream':
        """A fresh push/pull run (a :class:`~modelscope_frcrn.audio.stages.Stage`);
        ``on_chunk`` is called after each chunk is enhanced."""
        return ChunkStream(self, on_chunk)

    def run(self, blocks: Iterable[np.ndarray], on_chunk: Optional[Callable[[], None]] = None
            ) -> Iterator[np.ndarray]:
        """Enhanced blocks, exactly as many samples in total as came in.

        Shape: ``[C, n]`` blocks in -> ``[C, m]`` blocks out.
        """
        return run_stage(self.stream(on_chunk), blocks)


class ChunkStream:
    """One pass of an :class:`OverlapChunker` over a stream, pushed block by block.

    Holds at most one chunk of input and one overlap of output, whatever the length.
    """

    def __init__(self, chunker: OverlapChunker, on_chunk: Optional[Callable[[], None]] = None):
        self.chunker, self.on_chunk = chunker, on_chunk
        self._buffer: Optional[np.ndarray] = None  # input not yet enhanced as a whole chunk
        self._tail: Optional[np.ndarray] = None  # last chunk's output over the coming overlap

    def push(self, block: np.ndarray) -> np.ndarray:
        """Shape: ``[C, n]`` -> ``[C, m]``, the output of the chunks ``block`` completes."""
        chunker = self.chunker
        buffer = block if self._buffer is None else np.concatenate([self._buffer, block], axis=1)
        ready = []
        while buffer.shape[-1] >= chunker.chunk:
            head, self._tail = self._split(self._enhance(buffer[:, :chunker.chunk]))
            ready.append(head)
            buffer = buffer[:, chunker.step:]
        self._buffer = buffer
        return joined(ready, block.shape[0])

    def finish(self) -> np.ndarray:
        """Shape: ``[C, m]``: the rest, so that as many samples came out as went in."""
        buffer, tail = self._buffer, self._tail
        self._buffer = self._tail = None
        if buffer is None:
            return np.zeros((1, 0), np.float32)
        if tail is None or buffer.shape[-1] > self.chunker.overlap:
            return self._join(tail, self._enhance(buffer))
        return tail

    def _enhance(self, chunk: np.ndarray) -> np.ndarray:
        enhanced = self.chunker.enhance(chunk)
        if self.on_chunk is not None:
            self.on_chunk()
        return enhanced

    def _split(self, enhanced: np.ndarray):
        """A full chunk's output: what can be emitted now, and the overlap kept for later."""
        cut = enhanced.shape[-1] - self.chunker.overlap
        return self._join(self._tail, enhanced[:, :cut]), enhanced[:, cut:]

    def _join(self, tail: Optional[np.ndarray], enhanced: np.ndarray) -> np.ndarray:
        """``enhanced`` with its first ``overlap`` samples cross-faded into ``tail``."""
        if tail is None:
            return enhanced
        overlap, weights = self.chunker.overlap, self.chunker.fade_in
        blended = tail * (1.0 - weights) + enhanced[:, :overlap] * weights
        return np.concatenate([blended, enhanced[:, overlap:]], axis=1)


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
