"""The data set folder that ``datasets.load_dataset(OUT, 'train', split='train')`` reads.

Layout (no loading script, which datasets 5.x refuses)::

    OUT/README.md                 YAML ``configs:`` (train, test), for ``audio`` Audio-typed features
    OUT/{split}/metadata.jsonl    ``audio``: {"noisy": ABS_PATH, "clean": ABS_PATH, "duration": SECONDS}
    OUT/{split}/data.parquet      ``arrays``: noisy, clean {"array": float32 [T], "sampling_rate": 16000},
                                  duration
    OUT/{split}/pairs.jsonl       provenance of every pair (fileid, SNR, level, sources...)

Both layouts give the columns of the hub copy of the DNS data set (``noisy``,
``clean``, ``duration``), because ModelScope's ``to_segment`` is mapped with
``remove_columns=['duration']`` and a batched map that changes the row count
fails on any other column; ``to_segment`` reads ``row['noisy']['array']``.

- ``audio``: the rows point at the WAV files and datasets decodes them: with
  soundfile in datasets 3.x, with torchcodec (a build matching torch, plus
  FFmpeg's shared libraries) in 4.x. Audio paths are absolute: the JSON loader
  resolves relative paths against the working directory, not against the
  folder, so moving the folder needs the metadata to be rewritten (rerun the
  same ``prepare-dns`` command there: no audio is rewritten).
- ``arrays``: the samples themselves, decoded once here, which any datasets
  version reads without an audio decoder (zstd-compressed float32: about the
  size of the WAV files; ``benchmarks/datasets_routes.py`` compares both).
"""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, List, Optional

from ..atomic import write_atomically, write_text_atomically
from ..audio import MODEL_SAMPLE_RATE, read_mono
from ..errors import DataPreparationError

SPLITS = ('train', 'test')
CARD = 'README.md'
METADATA = 'metadata.jsonl'
PAIRS = 'pairs.jsonl'
#: Settings of a synthesized folder (makes reruns resume, refuses other settings).
SETTINGS_FILE = 'synthesis.json'
COLUMNS = ('noisy', 'clean', 'duration')
#: ``auto`` is ``audio`` where the installed datasets can decode Audio columns, else ``arrays``.
LAYOUTS = ('auto', 'audio', 'arrays')
#: A split's data file, per layout.
DATA_FILES = {'audio': METADATA, 'arrays': 'data.parquet'}
#: Pairs per parquet row group: 8 pairs of 30 s are 31 MB of float32 to hold while writing.
ARRAY_ROWS_PER_GROUP = 8
#: Schema metadata key that marks a data.parquet as written by prepare-dns.
_PARQUET_MARK = b'modelscope_frcrn.prepare_dns'

_FILEID = re.compile(r'fileid_(\d+)$')


@dataclass
class PreparedDataset:
    """What :func:`synthesize_dns` / :func:`index_pairs` made."""

    path: Path
    #: split -> number of pairs in it (only non-empty splits).
    pairs: Dict[str, int]
    #: audio files written by this call (0 for an index).
    files_written: int = 0
    #: pairs found complete from an earlier run and left alone.
    pairs_skipped: int = 0
    #: ``audio`` or ``arrays`` (see the module docstring).
    layout: str = 'audio'

    def summary(self) -> str:
        counts = ', '.join(f'{count} {split} pairs' for split, count in self.pairs.items())
        text = f'{self.path} ({self.layout} layout): {counts}'
        if self.files_written or self.pairs_skipped:
            text += f' ({self.files_written} files written, {self.pairs_skipped} pairs already there)'
        return text


def clean_name(fileid: int) -> str:
    return f'clean_fileid_{fileid}.wav'


def noisy_name(fileid: int, snr_db: float, level_dbfs: float) -> str:
    """DNS-style name: ``noisy_snr{S}_tl{L}_fileid_{N}.wav``, S and L with one decimal."""
    return f'noisy_snr{snr_db:.1f}_tl{level_dbfs:.1f}_fileid_{fileid}.wav'


def fileid_of(path) -> Optional[int]:
    """The N of a trailing ``fileid_N`` in a file name (extension ignored), or None."""
    match = _FILEID.search(Path(path).stem)
    return int(match.group(1)) if match else None


def jsonl(rows: Iterable[dict]) -> str:
    return ''.join(json.dumps(row, ensure_ascii=False) + '\n' for row in rows)


def read_jsonl(path) -> List[dict]:
    """Rows of a JSON-lines file; a missing file is empty, a truncated last line is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding='utf-8').splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
    return rows


def card(splits: Iterable[str], description: str, layout: str = 'audio') -> str:
    """README.md with the YAML that makes ``load_dataset(folder, split_name, split=split_name)`` work.

    ``test`` (if present) is the default configuration, so that
    ``MsDataset.load(folder, split='test')`` of the model card's evaluation code
    finds it without a configuration name. The ``arrays`` layout's types come
    from the parquet schema.
    """
    lines = ['---', 'configs:']
    splits = list(splits)
    for split in splits:
        lines += [f'- config_name: {split}', '  data_files:', f'  - split: {split}',
                  f'    path: {split}/{DATA_FILES[layout]}']
        if split == 'test':
            lines.append('  default: true')
    if layout == 'arrays':
        return '\n'.join(lines + ['---', '', description.rstrip(), ''])
    lines.append('dataset_info:')
    for split in splits:
        lines += [f'- config_name: {split}', '  features:']
        for column in ('noisy', 'clean'):
            lines += [f'  - name: {column}', '    dtype:', '      audio:',
                      f'        sampling_rate: {MODEL_SAMPLE_RATE}']
        lines += ['  - name: duration', '    dtype: float64']
    lines += ['---', '', description.rstrip(), '']
    return '\n'.join(lines)


def write_dataset_folder(out_dir, metadata: Dict[str, List[dict]], description: str,
                         layout: str = 'audio') -> None:
    """Write every non-empty split's data file in ``layout``, then README.md; remove the data
    files of empty splits and of the other layout (left by an earlier run). The caller has made
    sure that a ``metadata.jsonl`` there is ours; a ``data.parquet`` is replaced or removed only
    if it carries our mark.

    Args:
        metadata: split name -> rows with absolute ``noisy`` and ``clean`` paths
            and ``duration`` in seconds.
        layout: ``audio`` or ``arrays`` (see the module docstring).

    Raises:
        DataPreparationError: a ``data.parquet`` that this tool did not write is in the way.
    """
    out_dir = Path(out_dir)
    splits = [split for split in SPLITS if metadata.get(split)]
    refuse_foreign_parquet(out_dir)
    for split in splits:
        rows = [{column: row[column] for column in COLUMNS} for row in metadata[split]]
        if layout == 'audio':
            write_text_atomically(out_dir / split / METADATA, jsonl(rows))
        else:
            write_atomically(out_dir / split / DATA_FILES['arrays'],
                             lambda stream, rows=rows: write_arrays(stream, rows))
    for split in SPLITS:
        for kind, name in DATA_FILES.items():
            stale = out_dir / split / name
            if (split not in splits or kind != layout) and stale.is_file():
                stale.unlink()
    write_text_atomically(out_dir / CARD, card(splits, description, layout))


def write_arrays(stream: BinaryIO, rows: List[dict]) -> None:
    """Write ``rows`` (``noisy`` and ``clean`` audio paths, ``duration``) as parquet whose
    ``noisy`` and ``clean`` are ``{'array': float32 [T] at 16 kHz mono, 'sampling_rate'}``,
    the shape of a decoded Audio value. Holds one row group of audio at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    audio = pa.struct([('array', pa.list_(pa.float32())), ('sampling_rate', pa.int32())])
    schema = pa.schema([('noisy', audio), ('clean', audio), ('duration', pa.float64())],
                       metadata={_PARQUET_MARK: b'1'})
    with pq.ParquetWriter(stream, schema, compression='zstd') as writer:
        for start in range(0, len(rows), ARRAY_ROWS_PER_GROUP):
            group = rows[start:start + ARRAY_ROWS_PER_GROUP]
            table = {column: [{'array': read_mono(row[column]), 'sampling_rate': MODEL_SAMPLE_RATE}
                              for row in group] for column in ('noisy', 'clean')}
            table['duration'] = [row['duration'] for row in group]
            writer.write_table(pa.Table.from_pydict(table, schema=schema))


def refuse_foreign_parquet(out_dir) -> None:
    """Raise :class:`DataPreparationError` if a ``{split}/data.parquet`` in ``out_dir`` lacks our mark."""
    parquets = [Path(out_dir) / split / DATA_FILES['arrays'] for split in SPLITS]
    foreign = [str(path) for path in parquets if path.exists() and not _is_our_parquet(path)]
    if foreign:
        raise DataPreparationError(f'{", ".join(foreign)}: not written by prepare-dns; choose '
                                   f'another --out folder')


def _is_our_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return False
    return _PARQUET_MARK in metadata


def resolve_layout(layout: str) -> str:
    """``audio`` or ``arrays`` for a ``--layout`` value (``auto``: see :data:`LAYOUTS`)."""
    if layout not in LAYOUTS:
        raise DataPreparationError(f'unknown layout {layout!r}: choose one of {", ".join(LAYOUTS)}')
    if layout != 'auto':
        return layout
    return 'audio' if audio_decoding_problem() is None else 'arrays'


def audio_decoding_problem() -> Optional[str]:
    """Why the installed ``datasets`` cannot decode Audio columns here, or None if it can."""
    import datasets

    if int(datasets.__version__.split('.')[0]) < 4:
        return None  # 3.x decodes with soundfile
    try:
        import torchcodec.decoders  # noqa: F401  (loads FFmpeg's libraries and torchcodec's torch ops)
    except Exception as error:  # ImportError, or RuntimeError/OSError for missing FFmpeg or another torch
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (f'datasets {datasets.__version__} decodes audio with torchcodec, which does not load '
                f'here ({reason}): install the torchcodec release built for your torch and FFmpeg\'s '
                f'shared libraries (README, "Installing beside ModelScope\'s extras"), or use '
                f'--layout arrays')
    return None
