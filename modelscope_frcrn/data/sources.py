"""Source audio for synthesis: finding files, holding some out for the test split, loading.

Everything here is deterministic: files are listed in sorted order of their
path relative to the folder, whatever order the file system returns, and the
held-out choice depends only on the seed and that list.
"""
import functools
import hashlib
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..audio import MODEL_SAMPLE_RATE, read_mono
from ..errors import AudioInputError, DataPreparationError

#: File types read as sources (what soundfile decodes everywhere).
AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg')
#: Decoded sources kept per process; DNS files are 10-30 s, so this is at most ~100 MB.
CACHED_SOURCES = 32


def find_audio_files(folder, kind: str) -> List[str]:
    """Audio files under ``folder`` (recursive), as sorted POSIX paths relative to it.

    Raises:
        DataPreparationError: the folder is missing, not a folder, or holds no
        WAV/FLAC/OGG file.
    """
    root = Path(folder)
    if not root.exists():
        raise DataPreparationError(f'{kind} folder not found: {root}')
    if not root.is_dir():
        raise DataPreparationError(f'{kind} folder is not a folder: {root}')
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in names:
            if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith('.'):
                found.append((Path(directory) / name).relative_to(root).as_posix())
    if not found:
        raise DataPreparationError(
            f'{kind} folder has no audio files ({", ".join(AUDIO_EXTENSIONS)}, searched '
            f'recursively): {root}')
    return sorted(found)


def list_digest(files: Sequence[str]) -> str:
    """A short fingerprint of a file list, to notice a source folder that changed between runs."""
    return hashlib.sha256('\n'.join(files).encode('utf-8')).hexdigest()[:16]


def split_held_out(files: Sequence[str], fraction: float, seed: int, kind: str,
                   stream: int) -> Tuple[List[str], List[str]]:
    """Split ``files`` into (train, test) lists that share no file.

    ``round(fraction * len(files))`` files, at least one and at most all but
    one, chosen by a permutation drawn from ``(seed, stream)``, go to test.

    Raises:
        DataPreparationError: fewer than two files, so none can be held out.
    """
    if len(files) < 2:
        raise DataPreparationError(
            f'the {kind} folder has only {len(files)} audio file: at least 2 are needed, '
            f'because the test split uses {kind} files that the train split does not')
    n_test = min(len(files) - 1, max(1, int(round(fraction * len(files)))))
    order = np.random.default_rng([seed, 1, stream]).permutation(len(files))
    test = sorted(files[i] for i in order[:n_test])
    train = sorted(files[i] for i in order[n_test:])
    return train, test


@functools.lru_cache(maxsize=CACHED_SOURCES)
def load_source(root: str, relative_path: str, kind: str) -> np.ndarray:
    """One source file as mono float32 ``[T]`` at 16 kHz (channels averaged, soxr resampling).

    The result is cached per process and read-only.

    Raises:
        DataPreparationError: the file cannot be decoded or has no samples.
    """
    path = os.path.join(root, relative_path)
    try:
        audio = read_mono(path)
    except AudioInputError as error:
        raise DataPreparationError(f'cannot use {kind} file {path}: {error}') from error
    if audio.size == 0:
        raise DataPreparationError(f'{kind} file {path} is too short: it has no samples at '
                                   f'{MODEL_SAMPLE_RATE} Hz')
    audio.setflags(write=False)
    return audio


def load_folder(folder, kind: str) -> List[np.ndarray]:
    """Every audio file under ``folder`` (recursive, sorted), decoded as 16 kHz mono float32 ``[T]``."""
    return [load_source(str(folder), name, kind) for name in find_audio_files(folder, kind)]


def load_category_folders(folder, kind: str) -> Dict[str, List[np.ndarray]]:
    """``folder/<name>/...`` as sub-folder name (a speaker, a noise category) -> its recordings
    (16 kHz mono float32 ``[T]``)."""
    root = Path(folder)
    groups = sorted(entry for entry in root.iterdir() if entry.is_dir()) if root.is_dir() else []
    if not groups:
        raise DataPreparationError(f'{kind} folder has no sub-folders: {root}')
    return {group.name: load_folder(group, kind) for group in groups}
