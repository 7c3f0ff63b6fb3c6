"""modelscope_frcrn.data.ownership: indexing pairs never overwrites a file the tool did not write."""
from pathlib import Path

import numpy as np
import pytest

from conftest import write_wav
from modelscope_frcrn.data import index_pairs
from modelscope_frcrn.errors import DataPreparationError

USER_README = '# My recordings\n\nNotes I keep.\n'


def pairs_folder(folder: Path, count: int = 2) -> Path:
    for kind in ('noisy', 'clean'):
        (folder / kind).mkdir(parents=True)
        for fileid in range(count):
            tone = 0.1 * np.sin(np.arange(16000) * (fileid + 1) / 20).astype(np.float32)
            write_wav(folder / kind / f'{kind}_fileid_{fileid}.wav', tone)
    return folder


def test_the_users_readme_in_the_pairs_folder_is_never_overwritten(tmp_path):
    folder = pairs_folder(tmp_path / 'set')
    (folder / 'README.md').write_text(USER_README)

    with pytest.raises(DataPreparationError, match='README.md: not written by prepare-dns'):
        index_pairs(folder, folder, test_pairs='all')  # --out equal to the pairs folder
    assert (folder / 'README.md').read_text() == USER_README
    assert not (folder / 'test').exists()  # refused before writing anything


def test_an_earlier_index_is_replaced_but_a_users_split_file_is_not(tmp_path):
    folder = pairs_folder(tmp_path / 'set')
    index_pairs(folder, folder, test_pairs='all')
    assert index_pairs(folder, folder, test_pairs=1).pairs == {'train': 1, 'test': 1}

    user_rows = '{"id": 1, "speaker": "me"}\n'
    (folder / 'test' / 'metadata.jsonl').write_text(user_rows)
    with pytest.raises(DataPreparationError, match='metadata.jsonl'):
        index_pairs(folder, folder, test_pairs=1)
    assert (folder / 'test' / 'metadata.jsonl').read_text() == user_rows
