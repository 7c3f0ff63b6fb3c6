"""The data set folder that ``datasets.load_dataset(OUT, 'train', split='train')`` reads.

Layout (no loading script, which datasets 5.x refuses)::

    OUT/README.md                 YAML ``configs:`` (train, test) and Audio-typed features
    OUT/{split}/metadata.jsonl    {"noisy": ABS_PATH, "clean": ABS_PATH, "duration": SECONDS}
    OUT/{split}/pairs.jsonl       provenance of every pair (fileid, SNR, level, sources...)

The ``metadata.jsonl`` rows hold exactly the columns of the hub copy of the
DNS data set (``noisy``, ``clean``, ``duration``), because ModelScope's
``to_segment`` is mapped with ``remove_columns=['duration']`` and a batched
map that changes the row count fails on any other column. Audio paths are
absolute: the JSON loader resolves relative paths against the working
directory, not against the folder. Moving the folder therefore needs the
metadata to be rewritten (rerun the same ``prepare-dns`` command there: no
audio is rewritten).
"""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..atomic import write_text_atomically
from ..audio import MODEL_SAMPLE_RATE

SPLITS = ('train', 'test')
CARD = 'README.md'
METADATA = 'metadata.jsonl'
PAIRS = 'pairs.jsonl'
#: Settings of a synthesized folder (makes reruns resume, refuses other settings).
SETTINGS_FILE = 'synthesis.json'
COLUMNS = ('noisy', 'clean', 'duration')

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

    def summary(self) -> str:
        counts = ', '.join(f'{count} {split} pairs' for split, count in self.pairs.items())
        text = f'{self.path}: {counts}'
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


def card(splits: Iterable[str], description: str) -> str:
    """README.md with the YAML that makes ``load_dataset(folder, split_name, split=split_name)`` work.

    ``test`` (if present) is the default configuration, so that
    ``MsDataset.load(folder, split='test')`` of the model card's evaluation code
    finds it without a configuration name.
    """
    lines = ['---', 'configs:']
    splits = list(splits)
    for split in splits:
        lines += [f'- config_name: {split}', '  data_files:', f'  - split: {split}',
                  f'    path: {split}/{METADATA}']
        if split == 'test':
            lines.append('  default: true')
    lines.append('dataset_info:')
    for split in splits:
        lines += [f'- config_name: {split}', '  features:']
        for column in ('noisy', 'clean'):
            lines += [f'  - name: {column}', '    dtype:', '      audio:',
                      f'        sampling_rate: {MODEL_SAMPLE_RATE}']
        lines += ['  - name: duration', '    dtype: float64']
    lines += ['---', '', description.rstrip(), '']
    return '\n'.join(lines)


def write_dataset_folder(out_dir, metadata: Dict[str, List[dict]], description: str) -> None:
    """Write ``{split}/metadata.jsonl`` for every non-empty split, then README.md.

    Args:
        metadata: split name -> rows with absolute ``noisy`` and ``clean`` paths
            and ``duration`` in seconds.
    """
    out_dir = Path(out_dir)
    splits = [split for split in SPLITS if metadata.get(split)]
    for split in splits:
        rows = [{column: row[column] for column in COLUMNS} for row in metadata[split]]
        write_text_atomically(out_dir / split / METADATA, jsonl(rows))
    write_text_atomically(out_dir / CARD, card(splits, description))
