"""Which files of a data set folder this tool wrote, so that it never overwrites anyone else's.

``--from-pairs`` may index into the pairs folder itself, where the user's own
README.md (or ``train/metadata.jsonl``) can sit exactly where the data set card
(or a split file) goes.
"""
import json
from pathlib import Path

from ..errors import DataPreparationError
from .dataset_folder import CARD, COLUMNS, METADATA, PAIRS, SPLITS


def refuse_foreign_files(out_dir) -> None:
    """Raise :class:`DataPreparationError` if ``out_dir`` holds, where the card and the split
    files go, a file this tool did not write."""
    out_dir = Path(out_dir)
    paths = [out_dir / CARD] + [out_dir / split / name for split in SPLITS
                                for name in (METADATA, PAIRS)]
    foreign = [str(path) for path in paths if path.exists() and not written_by_us(path)]
    if foreign:
        raise DataPreparationError(
            f'{", ".join(foreign)}: not written by prepare-dns, and indexing would overwrite '
            f'{"it" if len(foreign) == 1 else "them"}; choose another --out folder')


def written_by_us(path: Path) -> bool:
    """Whether ``path`` reads as this tool's card, ``metadata.jsonl`` or ``pairs.jsonl``."""
    try:
        text = Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError):
        return False
    if path.name == CARD:
        return text.startswith('---\nconfigs:\n') and '`modelscope-frcrn prepare-dns' in text
    required = set(COLUMNS) if path.name == METADATA else {'fileid', 'noisy', 'clean'}
    try:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return False
    return all(isinstance(row, dict) and required <= set(row) for row in rows)
