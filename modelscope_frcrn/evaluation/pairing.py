"""Pairing the files of a noisy folder with their clean (and enhanced) counterparts.

A noisy file ``NAME`` pairs with, in this order:

1. a file of the same name (``noisy/a.wav`` <-> ``clean/a.wav``);
2. for enhanced folders only, ``<noisy stem>_enhanced.<ext>``, the default
   name of ``modelscope-frcrn denoise``;
3. the file with the same DNS Challenge ``fileid_N`` in its name
   (``noisy/book_..._snr5_tl-30_fileid_12.wav`` <-> ``clean/clean_fileid_12.wav``;
   ``N`` compared as a number, the last ``fileid_N`` of a name counts).

Only the top level of each folder is read; audio files are those with a
``.wav``, ``.flac`` or ``.ogg`` extension (any case), hidden files are skipped.
"""
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import FolderNotFoundError, PairingError

AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg')
ENHANCED_SUFFIX = '_enhanced'
MAX_LISTED = 5
_FILEID = re.compile(r'fileid_(\d+)(?!\d)')


def list_audio_files(directory, role: str) -> List[Path]:
    """The audio files at the top of ``directory``, sorted by name.

    Raises:
        FolderNotFoundError: ``directory`` is missing or not a folder.
        PairingError: it holds no audio file.
    """
    path = Path(directory)
    if not path.exists():
        raise FolderNotFoundError(f'{role} folder not found: {directory}')
    if not path.is_dir():
        raise FolderNotFoundError(f'{role} folder is not a folder: {directory}')
    files = sorted(entry for entry in path.iterdir()
                   if entry.is_file() and not entry.name.startswith('.')
                   and entry.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise PairingError(f'no audio files ({", ".join(AUDIO_EXTENSIONS)}) in the {role} '
                           f'folder {directory}')
    return files


def fileid(name: str) -> Optional[int]:
    """The DNS Challenge file id of a file name (``..._fileid_12.wav`` -> 12), or None."""
    matches = _FILEID.findall(Path(name).stem)
    return int(matches[-1]) if matches else None


def match_files(noisy_files: Sequence[Path], directory, role: str,
                allow_enhanced_suffix: bool = False) -> List[Path]:
    """The file of ``directory`` that pairs with each of ``noisy_files``, in their order.

    Raises:
        FolderNotFoundError, PairingError: the folder is missing or empty, some
            noisy files have no counterpart (the message lists a few), or a
            file id is ambiguous.
    """
    candidates = list_audio_files(directory, role)
    by_name = {path.name: path for path in candidates}
    by_stem: Dict[str, List[Path]] = {}
    by_id: Dict[int, List[Path]] = {}
    for path in candidates:
        by_stem.setdefault(path.stem, []).append(path)
        number = fileid(path.name)
        if number is not None:
            by_id.setdefault(number, []).append(path)

    matched, unmatched = [], []
    for noisy in noisy_files:
        found = by_name.get(noisy.name)
        if found is None and allow_enhanced_suffix:
            found = _single(by_stem.get(noisy.stem + ENHANCED_SUFFIX, []), noisy, role)
        if found is None and fileid(noisy.name) is not None:
            found = _single(by_id.get(fileid(noisy.name), []), noisy, role)
        if found is None:
            unmatched.append(noisy.name)
        matched.append(found)
    if unmatched:
        rules = 'same name' + (f', <stem>{ENHANCED_SUFFIX}' if allow_enhanced_suffix else '')
        raise PairingError(
            f'{len(unmatched)} of {len(noisy_files)} noisy files have no {role} file in '
            f'{directory} (paired by {rules} or DNS fileid_N): {_listing(unmatched)}')
    return matched


def pair_folders(noisy_dir, clean_dir, enhanced_dir=None
                 ) -> List[Tuple[Path, Path, Optional[Path]]]:
    """``(noisy, clean, enhanced or None)`` for every audio file of ``noisy_dir``.

    Raises:
        FolderNotFoundError, PairingError: see :func:`match_files`.
    """
    noisy_files = list_audio_files(noisy_dir, 'noisy')
    clean_files = match_files(noisy_files, clean_dir, 'clean')
    if enhanced_dir is None:
        enhanced_files = [None] * len(noisy_files)
    else:
        enhanced_files = match_files(noisy_files, enhanced_dir, 'enhanced',
                                     allow_enhanced_suffix=True)
    return list(zip(noisy_files, clean_files, enhanced_files))


def _single(paths: List[Path], noisy: Path, role: str) -> Optional[Path]:
    if len(paths) > 1:
        raise PairingError(f'{noisy.name} matches {len(paths)} {role} files: '
                           f'{_listing([path.name for path in paths])}')
    return paths[0] if paths else None


def _listing(names: Sequence[str]) -> str:
    shown = ', '.join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f' (and {more} more)' if more > 0 else '')
