"""Indexing noisy/clean pairs made elsewhere (such as the DNS Challenge test set) without copying them.

``PAIRS_DIR/noisy/*_fileid_N.wav`` is matched with ``PAIRS_DIR/clean/*_fileid_N.wav``
by N (the layout of ``test_set/synthetic/no_reverb/{clean,noisy}``). The split:
the ``test_pairs`` pairs with the highest fileids form the test split, the others
the train split; ``test_pairs='all'`` makes a test-only set (the usual case for
the DNS test set) and ``0`` a train-only set. These splits are not held out by
source: nothing tells which speech or noise files the pairs were made from.
"""
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Union

import soundfile as sf

from ..atomic import write_text_atomically
from ..errors import DataPreparationError
from .dataset_folder import (PAIRS, SETTINGS_FILE, SPLITS, PreparedDataset, fileid_of, jsonl,
                             refuse_foreign_parquet, resolve_layout, write_dataset_folder)
from .ownership import refuse_foreign_files
from .sources import AUDIO_EXTENSIONS

#: How many offending file names an error message lists.
LISTED = 5

_SNR = re.compile(r'(?:^|_)snr(-?\d+(?:\.\d+)?)(?:_|$)')
_LEVEL = re.compile(r'(?:^|_)tl(-?\d+(?:\.\d+)?)(?:_|$)')


def index_pairs(pairs_dir, out_dir, *, test_pairs: Union[int, str] = 20,
                layout: str = 'auto') -> PreparedDataset:
    """Make ``out_dir`` a data set folder whose splits point at the pairs in ``pairs_dir``.

    Args:
        pairs_dir: a folder with ``noisy/`` and ``clean/`` audio files named ``..._fileid_N``.
        out_dir: the data set folder to write (README.md, ``{split}/metadata.jsonl``,
            ``{split}/pairs.jsonl``); it may be ``pairs_dir`` itself. Those files are
            replaced only where an earlier index wrote them.
        test_pairs: how many pairs (the highest fileids) form the test split, or ``'all'``.
        layout: ``audio`` (nothing copied), ``arrays`` (the samples decoded into
            ``{split}/data.parquet``) or ``auto`` (see ``dataset_folder.py``).

    Raises:
        DataPreparationError: missing folders, no audio, names without a fileid,
        duplicate fileids, a file without its partner, unreadable files, or more
        test pairs than pairs, or a README.md (or split file) in ``out_dir`` that
        this tool did not write.
    """
    root = Path(pairs_dir)
    if not root.is_dir():
        raise DataPreparationError(f'--from-pairs folder not found: {root}')
    noisy = _files_by_fileid(root / 'noisy', 'noisy')
    clean = _files_by_fileid(root / 'clean', 'clean')
    _check_matched(noisy, clean, root)

    fileids = sorted(noisy)
    if test_pairs == 'all':
        test_pairs = len(fileids)
    if not isinstance(test_pairs, int) or not 0 <= test_pairs <= len(fileids):
        raise DataPreparationError(f'--test-pairs must be between 0 and the {len(fileids)} pairs of '
                                   f'{root}, or "all"; got {test_pairs!r}')
    split_ids = {'train': fileids[:len(fileids) - test_pairs],
                 'test': fileids[len(fileids) - test_pairs:]}

    layout = resolve_layout(layout)
    out_dir = Path(os.path.abspath(out_dir))
    if (out_dir / SETTINGS_FILE).exists():
        raise DataPreparationError(f'{out_dir} holds a synthesized data set ({SETTINGS_FILE}): '
                                   f'index the pairs into another --out folder')
    refuse_foreign_files(out_dir)
    refuse_foreign_parquet(out_dir)
    metadata = {}
    for split in SPLITS:
        records = [_record(fileid, noisy[fileid], clean[fileid]) for fileid in split_ids[split]]
        metadata[split] = records
        if records:
            write_text_atomically(out_dir / split / PAIRS, jsonl(records))
        elif (out_dir / split / PAIRS).is_file():  # an earlier index of this folder had this split
            (out_dir / split / PAIRS).unlink()
    counts = {split: len(ids) for split, ids in split_ids.items()}
    write_dataset_folder(out_dir, metadata, _description(root, counts, layout), layout)
    return PreparedDataset(path=out_dir, pairs={s: n for s, n in counts.items() if n}, layout=layout)


def _files_by_fileid(folder: Path, kind: str) -> Dict[int, Path]:
    if not folder.is_dir():
        raise DataPreparationError(f'expected a {kind}/ folder in {folder.parent} (pairs are read from '
                                   f'noisy/ and clean/), but {folder} does not exist')
    files = sorted(path for path in folder.iterdir()
                   if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
                   and not path.name.startswith('.'))
    if not files:
        raise DataPreparationError(f'{folder} has no audio files ({", ".join(AUDIO_EXTENSIONS)})')
    by_id: Dict[int, Path] = {}
    unnamed: List[str] = []
    duplicates: List[str] = []
    for path in files:
        fileid = fileid_of(path)
        if fileid is None:
            unnamed.append(path.name)
        elif fileid in by_id:
            duplicates.append(f'{by_id[fileid].name} and {path.name}')
        else:
            by_id[fileid] = path
    if unnamed:
        raise DataPreparationError(f'{len(unnamed)} {kind} files have no trailing fileid_N in their '
                                   f'name, so they cannot be paired: {_listing(unnamed)}')
    if duplicates:
        raise DataPreparationError(f'{len(duplicates)} fileids occur twice in {folder}: '
                                   f'{_listing(duplicates)}')
    return by_id


def _check_matched(noisy: Dict[int, Path], clean: Dict[int, Path], root: Path) -> None:
    problems = []
    for kind, files, other_kind, other in (('noisy', noisy, 'clean', clean),
                                           ('clean', clean, 'noisy', noisy)):
        lonely = [files[fileid].name for fileid in sorted(set(files) - set(other))]
        if lonely:
            problems.append(f'{len(lonely)} {kind} files have no {other_kind} file with the same '
                            f'fileid: {_listing(lonely)}')
    if problems:
        raise DataPreparationError(f'unmatched pairs in {root}: ' + '; '.join(problems))


def _listing(names: List[str]) -> str:
    shown = ', '.join(names[:LISTED])
    return shown + (f', ... ({len(names) - LISTED} more)' if len(names) > LISTED else '')


def _duration(path: Path) -> float:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise DataPreparationError(f'cannot read {path} as audio: {error}') from error
    if info.frames == 0:
        raise DataPreparationError(f'{path} has no samples')
    return info.frames / info.samplerate


def _record(fileid: int, noisy: Path, clean: Path) -> dict:
    record = {'fileid': fileid, 'noisy': os.path.abspath(noisy), 'clean': os.path.abspath(clean),
              # to_segment cuts over the shorter of the two
              'duration': min(_duration(noisy), _duration(clean))}
    for key, pattern in (('snr', _SNR), ('level', _LEVEL)):
        value = _parsed(pattern, noisy.stem)
        if value is not None:
            record[key] = value
    return record


def _parsed(pattern, stem: str) -> Optional[float]:
    match = pattern.search(stem)
    return float(match.group(1)) if match else None


def _description(root: Path, counts: Dict[str, int], layout: str) -> str:
    where = ('the audio stays where it is (absolute paths in `*/metadata.jsonl`)' if layout == 'audio'
             else 'the samples are copied into `*/data.parquet`')
    return (
        '# Noisy/clean speech pairs (indexed)\n\n'
        f'Indexed by `modelscope-frcrn prepare-dns --from-pairs {os.path.abspath(root)}`: '
        f'{counts["train"]} train and {counts["test"]} test pairs, matched by fileid; {where}. '
        'The test split is the pairs with the highest fileids.\n')
