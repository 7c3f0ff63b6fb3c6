"""Enhancing the audio column of a Hugging Face ``datasets`` data set, e.g. to clean a speech
corpus before ASR or TTS training.

The column is read in its stored form (``{'bytes', 'path'}``; cast to ``decode=False``
for the map), so the same code runs with datasets 3.x (soundfile) and 4.x (torchcodec,
which need not even be installed), and decoded here with soundfile. Each row is enhanced
at the column's sampling rate (the feature's, else the file's own), rows no longer than
one chunk batched (:mod:`.batching`), and stored back as WAV bytes (16-bit PCM, as
datasets encodes arrays) with the row's original ``path`` (see :func:`enhance_dataset`);
the column keeps its feature (``Audio`` with its sampling rate and decode setting).
"""
import dataclasses
import functools
import os
import warnings
from functools import partial
from io import BytesIO
from typing import Any, Dict, List, Optional

import numpy as np
import soundfile as sf

from ..audio import MODEL_SAMPLE_RATE
from ..audio.io import read_audio, resample
from ..errors import UsageError
from . import bandsplit
from .bandsplit import FULL
from .batching import BatchDenoiser, Outcome, model_rate_length
from .denoiser import Denoiser
from .strength import attenuation_floor

#: ``on_error`` values: keep a row that cannot be enhanced as it is (with a warning), or stop.
KEEP_ROW, RAISE = 'keep', 'raise'
#: Map batches hold this many network batches, so rows are grouped among neighbours in length.
BATCHES_PER_MAP_CALL = 8
#: How enhanced rows are stored.
STORED_SUBTYPE = 'PCM_16'


def enhance_dataset(ds, audio_column: str = 'audio', model: Optional[str] = None,
                    batch_size: int = 8, num_proc: Optional[int] = None, device: str = 'cpu',
                    precision: str = 'fp32', bandwidth: str = FULL,
                    atten_limit_db: Optional[float] = None, on_error: str = KEEP_ROW):
    """``ds`` with ``audio_column`` denoised, by a batched ``map``.

    Args:
        ds: a ``datasets.Dataset`` or ``IterableDataset`` (enhanced lazily, as it is read)
            whose ``audio_column`` is an ``Audio`` feature.
        model: a model directory or ModelScope id (default: the shipped model), loaded once
            per process.
        batch_size: recordings no longer than one chunk (6 s) enhanced together.
        num_proc: processes for ``Dataset.map`` (each loads the model and uses its share of
            the CPU threads); not for an ``IterableDataset``.
        device, precision: as in :func:`~.backends.build_enhancer`.
        bandwidth, atten_limit_db: as in :meth:`~.denoiser.Denoiser.denoise_file`.
        on_error: a row that cannot be enhanced (undecodable, shorter than 40 ms, NaN
            samples) is kept unchanged with a warning naming its index (``'keep'``), or
            stops the map with the error naming it (``'raise'``).

    Returns:
        a data set of the same kind and rows, the column's feature unchanged; enhanced rows
        keep their ``path``, except in an ``IterableDataset`` with a decoded column.

    Raises:
        UsageError: not a data set, no such column, not an ``Audio`` column (paths as
            strings: ``ds.cast_column(column, datasets.Audio())`` first), an
            ``IterableDataset`` of unknown features or with ``num_proc``, a bad option.
        AudioInputError (with ``on_error='raise'``): a row that cannot be enhanced.
    """
    import datasets

    feature = _audio_feature(ds, audio_column)
    _check_options(batch_size, bandwidth, atten_limit_db, on_error)
    iterable = isinstance(ds, datasets.IterableDataset)
    if iterable and num_proc:
        raise UsageError('num_proc works with a Dataset, not an IterableDataset')
    stored = ds.cast_column(audio_column, dataclasses.replace(feature, decode=False))
    # Decoded rows of an IterableDataset are made by a cast that re-encodes them (datasets 3.6
    # leaves one mapped with features= undecoded), and datasets 4.x re-encodes a row whose
    # path names an existing file as that file, dropping the enhanced bytes.
    recast = iterable and feature.decode
    enhance_rows = RowEnhancer(audio_column, feature.sampling_rate, model, batch_size, device,
                               precision, bandwidth, atten_limit_db, on_error, num_proc,
                               keep_paths=not recast)
    options = dict(batched=True, with_indices=True, input_columns=[audio_column],
                   batch_size=batch_size * BATCHES_PER_MAP_CALL)
    if recast:
        return stored.map(enhance_rows, **options).cast(ds.features)
    if iterable:
        return stored.map(enhance_rows, features=stored.features, **options)
    enhanced = stored.map(enhance_rows, features=stored.features, num_proc=num_proc,
                          desc='Denoising', **options)
    return enhanced.cast_column(audio_column, feature)


class RowEnhancer:
    """The ``map`` function: stored audio rows in, enhanced stored rows out. Picklable (for
    ``num_proc`` and datasets' fingerprint) without the model, which each process loads
    on first use."""

    def __init__(self, column: str, sampling_rate: Optional[int], model: Optional[str],
                 batch_size: int, device: str, precision: str, bandwidth: str,
                 atten_limit_db: Optional[float], on_error: str, num_proc: Optional[int],
                 keep_paths: bool = True):
        self.column, self.sampling_rate = column, sampling_rate
        self.model, self.batch_size, self.device, self.precision = model, batch_size, device, precision
        self.bandwidth, self.atten_limit_db = bandwidth, atten_limit_db
        self.on_error, self.num_proc, self.keep_paths = on_error, num_proc, keep_paths
        self._runner: Optional[BatchDenoiser] = None

    def __getstate__(self) -> Dict[str, Any]:
        return {**self.__dict__, '_runner': None}

    def __call__(self, rows: List[Dict[str, Any]], indices: List[int]) -> Dict[str, list]:
        """Shape: stored rows ``{'bytes', 'path'}`` -> the same, enhanced."""
        tasks = [partial(self._enhance_row, row) for row in rows]
        lengths = [model_rate_length(row['bytes'] or row['path']) for row in rows]
        enhanced = list(rows)
        for outcome in self._load().run(tasks, lengths):
            enhanced[outcome.index] = self._result(outcome, rows, indices)
        return {self.column: enhanced}

    def _enhance_row(self, row: Dict[str, Any], denoiser: Denoiser) -> Dict[str, Any]:
        samples, rate = read_audio(row['bytes'] or row['path'])
        if self.sampling_rate:
            samples, rate = resample(samples, rate, self.sampling_rate), self.sampling_rate
        enhanced = denoiser.enhance(samples, sample_rate=rate, bandwidth=self.bandwidth,
                                    atten_limit_db=self.atten_limit_db)
        if not bandsplit.applies(self.bandwidth, rate, rate):  # the model's band, at 16 kHz
            enhanced = _fit(resample(enhanced, MODEL_SAMPLE_RATE, rate), samples.shape[-1])
        return {'bytes': _wav_bytes(enhanced, rate), 'path': row['path'] if self.keep_paths else None}

    def _result(self, outcome: Outcome, rows: List[Dict[str, Any]], indices: List[int]):
        if outcome.error is None:
            return outcome.result
        index = indices[outcome.index]
        message = f'row {index} ({rows[outcome.index]["path"] or "bytes"}): {outcome.error}'
        if self.on_error == RAISE:
            raise type(outcome.error)(message) from outcome.error
        warnings.warn(f'not enhanced, kept as it is: {message}', stacklevel=2)
        return rows[outcome.index]

    def _load(self) -> BatchDenoiser:
        if self._runner is None:
            if self.num_proc and self.num_proc > 1:
                import torch

                torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.num_proc))
            denoiser = _loaded_denoiser(self.model, self.device, self.precision)
            self._runner = BatchDenoiser(denoiser, self.batch_size)
        return self._runner


@functools.lru_cache(maxsize=1)
def _loaded_denoiser(model: Optional[str], device: str, precision: str) -> Denoiser:
    """The model, loaded once per process for successive maps (splits, datasets)."""
    from .backends import build_enhancer
    from .loading import load_model

    return Denoiser(build_enhancer(load_model(model), precision=precision, device=device))


def _audio_feature(ds, column: str):
    """The ``Audio`` feature of ``ds[column]``, or :class:`UsageError` saying what is wrong."""
    import datasets

    if not isinstance(ds, (datasets.Dataset, datasets.IterableDataset)):
        raise UsageError(f'enhance_dataset takes a datasets.Dataset or IterableDataset, got '
                         f'{type(ds).__name__} (for a DatasetDict, enhance each split)')
    if ds.features is None:
        raise UsageError('the IterableDataset does not know its features: cast the audio '
                         'column first, e.g. ds.cast_column(column, datasets.Audio())')
    if column not in ds.features:
        raise UsageError(f'no column {column!r}; the columns are {", ".join(ds.features)}')
    feature = ds.features[column]
    if not isinstance(feature, datasets.Audio):
        raise UsageError(f'column {column!r} is {type(feature).__name__}, not Audio; for file '
                         f'paths use ds.cast_column({column!r}, datasets.Audio())')
    return feature


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    """``[C, T]`` cut or zero-padded to ``[C, length]`` (resampling can miss a sample)."""
    return np.pad(samples[:, :length], ((0, 0), (0, max(0, length - samples.shape[-1]))))


def _check_options(batch_size: int, bandwidth: str, atten_limit_db: Optional[float],
                   on_error: str) -> None:
    """:class:`UsageError` now for options that would otherwise fail every row."""
    if batch_size < 1:
        raise UsageError(f'batch_size must be 1 or more, got {batch_size}')
    bandsplit.applies(bandwidth, MODEL_SAMPLE_RATE, MODEL_SAMPLE_RATE)
    attenuation_floor(atten_limit_db)
    if on_error not in (KEEP_ROW, RAISE):
        raise UsageError(f"on_error must be 'keep' or 'raise', got {on_error!r}")


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """``[C, T]`` samples as a WAV file's bytes."""
    buffer = BytesIO()
    sf.write(buffer, samples.T, sample_rate, subtype=STORED_SUBTYPE, format='WAV')
    return buffer.getvalue()
