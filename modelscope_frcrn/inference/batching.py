"""Enhancing many short recordings together: their network passes stacked into one batch.

A recording no longer than one chunk takes a single network pass. Such recordings
are sorted by length and taken ``batch_size`` at a time; each group runs its
ordinary per-recording work (:class:`~.denoiser.Denoiser`: reading, level,
resampling, full band, attenuation limit, writing) in one thread per recording,
and their network calls meet in a :class:`GatheringEnhancer`, which pads the rows
to the longest and runs them as one batch once every recording of the group has
called it or finished. Longer recordings go the chunked path one at a time, as
without batching.

Equality: zero padding alone would change a shorter row's output (the network's
squeeze-excitation takes means over all frames, and its encoders see one frame
past the end), so the fused torch network is told each row's length and keeps the
padded frames out of both (:class:`~modelscope_frcrn.models.inference_network.FusedUNet`);
outputs then equal one-at-a-time outputs within float rounding. Enhancers without
that (ONNX, the trainable network) run the rows of a batch one by one: same outputs,
no speed-up.

:class:`BatchDenoiser` holds one loaded denoiser and processes any list of tasks,
so a process pool or a distributed actor can load the model once and reuse it.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from typing import (Callable, Dict, Generic, Iterator, List, Optional, Sequence, Tuple,
                    TypeVar, Union)

import numpy as np
import soundfile as sf

from ..audio import MODEL_SAMPLE_RATE
from ..errors import FRCRNError, UsageError
from .backends import Enhancer, enhance_row_by_row
from .bandsplit import FULL
from .denoiser import KEEP, Denoiser, SampleRate

#: Errors that fail one recording and let the others go on (as in the ``denoise`` command).
RECORDING_ERRORS = (FRCRNError, OSError)

Result = TypeVar('Result')
#: One recording's work, given the denoiser to run it with.
Task = Callable[[Denoiser], Result]


@dataclass
class Outcome(Generic[Result]):
    """What became of ``tasks[index]``: its result, or the error that failed it."""
    index: int
    result: Optional[Result] = None
    error: Optional[Exception] = None


class BatchDenoiser:
    """Runs recordings' tasks with short recordings' network passes batched.

    Args:
        denoiser: the loaded model with its settings.
        batch_size: recordings per batch (1: one at a time, no threads).
    """

    def __init__(self, denoiser: Denoiser, batch_size: int):
        if batch_size < 1:
            raise UsageError(f'batch size must be 1 or more, got {batch_size}')
        self.denoiser, self.batch_size = denoiser, batch_size

    def run(self, tasks: Sequence[Task], lengths: Sequence[Optional[int]]
            ) -> Iterator[Outcome]:
        """Each task's outcome, batches first, then long (or unknown-length) recordings.

        ``lengths``: each recording's length in samples at 16 kHz (None: unknown, taken as
        long). Errors other than :data:`RECORDING_ERRORS` end the run.
        """
        short = [index for index, length in enumerate(lengths) if self._is_short(length)]
        for group in length_groups(short, lengths, self.batch_size):
            yield from self._run_group(tasks, group)
        for index in sorted(set(range(len(tasks))) - set(short)):
            yield _attempt(index, tasks[index], self.denoiser)

    def denoise_files(self, pairs: Sequence[Tuple[str, str]], sample_rate: SampleRate = KEEP,
                      mono: bool = False, bandwidth: str = FULL,
                      atten_limit_db: Optional[float] = None) -> Iterator[Outcome]:
        """:meth:`Denoiser.denoise_file` for each ``(input, output)`` pair, batched; outcomes
        carry the pair's index."""
        tasks = [partial(_denoise_file, source, target, sample_rate, mono, bandwidth,
                         atten_limit_db) for source, target in pairs]
        return self.run(tasks, [model_rate_length(source) for source, _ in pairs])

    def _is_short(self, length: Optional[int]) -> bool:
        return self.batch_size > 1 and length is not None \
            and self.denoiser.chunker.count(length) == 1

    def _run_group(self, tasks: Sequence[Task], group: List[int]) -> Iterator[Outcome]:
        gatherer = GatheringEnhancer(self.denoiser.enhancer, participants=len(group))
        batched = self.denoiser.with_enhancer(gatherer)

        def work(index: int) -> Outcome:
            try:
                return _attempt(index, tasks[index], batched)
            finally:
                gatherer.leave()

        with ThreadPoolExecutor(max_workers=len(group)) as pool:
            yield from pool.map(work, group)


class GatheringEnhancer:
    """An :data:`~.backends.Enhancer` shared by ``participants`` threads: each call waits until
    every participant still at work has called or left (:meth:`leave`), then all waiting
    calls run as one zero-padded batch (:func:`enhance_stacked`).

    Args:
        enhance: the network, ``[C, T] -> [C, T]``.
        participants: threads that will call, each calling :meth:`leave` when done.
    """

    def __init__(self, enhance: Enhancer, participants: int):
        self.enhance = enhance
        self._active = participants
        self._waiting: Dict[int, np.ndarray] = {}
        self._results: Dict[int, Union[np.ndarray, BaseException]] = {}
        self._tickets = 0
        self._condition = threading.Condition()

    def __call__(self, noisy: np.ndarray) -> np.ndarray:
        """Shape: ``[C, T]`` -> ``[C, T]``."""
        with self._condition:
            ticket, self._tickets = self._tickets, self._tickets + 1
            self._waiting[ticket] = noisy
            self._run_when_all_wait()
            self._condition.wait_for(lambda: ticket in self._results)
            result = self._results.pop(ticket)
        if isinstance(result, BaseException):
            raise result
        return result

    def leave(self) -> None:
        """A participant is done; the others no longer wait for it."""
        with self._condition:
            self._active -= 1
            self._run_when_all_wait()

    def _run_when_all_wait(self) -> None:
        # Holding the lock through the pass is fine: every active participant is waiting.
        if not self._waiting or len(self._waiting) < self._active:
            return
        calls, self._waiting = self._waiting, {}
        try:
            self._results.update(zip(calls, enhance_stacked(self.enhance, list(calls.values()))))
        except Exception as error:  # each waiting participant raises it
            self._results.update((ticket, error) for ticket in calls)
        self._condition.notify_all()


def enhance_stacked(enhance: Enhancer, calls: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Several calls' rows in one zero-padded batch.

    With the enhancer's ``enhance_padded`` (the fused torch network) each row comes out as
    if enhanced alone, within float rounding; without it the rows run one by one.
    Shape: ``[C_i, T_i]`` each -> ``[C_i, T_i]`` each.
    """
    rows = [row for call in calls for row in call]
    lengths = [row.shape[-1] for row in rows]
    batch = np.zeros((len(rows), max(lengths)), np.float32)
    for index, row in enumerate(rows):
        batch[index, :row.shape[-1]] = row
    padded = getattr(enhance, 'enhance_padded', None)
    enhanced = padded(batch, lengths) if padded else enhance_row_by_row(enhance, batch, lengths)
    ends = np.cumsum([call.shape[0] for call in calls])[:-1]
    return [part[:, :call.shape[-1]] for part, call in zip(np.split(enhanced, ends), calls)]


def length_groups(indices: Sequence[int], lengths: Sequence[Optional[int]], size: int
                  ) -> List[List[int]]:
    """``indices`` sorted by their ``lengths`` and cut into groups of up to ``size``."""
    ordered = sorted(indices, key=lambda index: lengths[index])
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]


def model_rate_length(source: Union[str, bytes]) -> Optional[int]:
    """Samples a file (path or bytes) holds once at 16 kHz, from its header; None where
    libsndfile cannot tell (a damaged or FFmpeg-only file: it goes the one-by-one path,
    which reports it)."""
    try:
        info = sf.info(BytesIO(source) if isinstance(source, bytes) else source)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError):
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        return None
    return round(info.frames * MODEL_SAMPLE_RATE / info.samplerate)


def _attempt(index: int, task: Task, denoiser: Denoiser) -> Outcome:
    try:
        return Outcome(index, result=task(denoiser))
    except RECORDING_ERRORS as error:
        return Outcome(index, error=error)


def _denoise_file(source: str, target: str, sample_rate: SampleRate, mono: bool,
                  bandwidth: str, atten_limit_db: Optional[float], denoiser: Denoiser) -> None:
    denoiser.denoise_file(source, target, sample_rate, mono, bandwidth=bandwidth,
                          atten_limit_db=atten_limit_db)
