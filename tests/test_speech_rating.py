"""The broad recipe's DNSMOS rating of training speakers (recipes/broad_model/rate_speech.py) and
train.py's use of it (--min-speech-bak)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO_ROOT, load_script

RECIPE = REPO_ROOT / 'recipes' / 'broad_model'
ASSETS = REPO_ROOT / 'tests' / 'assets'


@pytest.fixture(scope='module')
def recipe():
    sys.path.insert(0, str(RECIPE))  # train.py imports rate_speech as its own directory's module
    try:
        yield load_script(RECIPE / 'rate_speech.py'), load_script(RECIPE / 'train.py')
    finally:
        sys.path.remove(str(RECIPE))


def write_speaker(folder: Path, recording: Path, clips: int) -> Path:
    """``clips`` files of 2 s cut from ``recording`` (4 s), in turn: its first and second halves."""
    audio, rate = sf.read(str(recording), dtype='float32')
    folder.mkdir(parents=True)
    for index in range(clips):
        half = audio[(index % 2) * 2 * rate:(index % 2 + 1) * 2 * rate]
        sf.write(str(folder / f'clip{index:02d}.flac'), half, rate)
    return folder


def test_a_folder_is_rated_on_stretches_of_its_joined_clips_in_a_fixed_order(recipe, tmp_path):
    rate_speech, _ = recipe
    folder = write_speaker(tmp_path / 'voice', ASSETS / 'heldout_clean.wav', clips=12)  # 24 s

    first, again = (list(rate_speech.stretches(folder, 4)) for _ in range(2))

    length = int(rate_speech.STRETCH_SECONDS * rate_speech.SAMPLE_RATE)
    assert [s.size for s in first] == [length, length]  # 24 s make two whole stretches
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert [s.size for s in rate_speech.stretches(folder, 1)] == [length]


def test_a_folder_shorter_than_a_stretch_is_rated_on_all_it_has(recipe, tmp_path):
    rate_speech, _ = recipe
    folder = write_speaker(tmp_path / 'few', ASSETS / 'heldout_clean.wav', clips=2)

    assert [s.size for s in rate_speech.stretches(folder, 4)] == [4 * rate_speech.SAMPLE_RATE]


def test_noisy_recordings_rate_lower_and_only_clean_speakers_are_kept(recipe, tmp_path):
    rate_speech, train = recipe
    sources = tmp_path / 'sources'
    write_speaker(sources / 'speech' / 'train' / 'studio', ASSETS / 'heldout_clean.wav', clips=6)
    write_speaker(sources / 'speech' / 'train' / 'music_under', ASSETS / 'heldout_noisy.wav', clips=6)
    write_speaker(sources / 'speech' / 'valid' / 'other', ASSETS / 'heldout_clean.wav', clips=2)

    rate_speech.main(['--sources', str(sources), '--stretches', '1'])

    ratings = rate_speech.load_ratings(sources)
    assert json.loads((sources / rate_speech.RATINGS_FILE).read_text()) == ratings
    assert set(ratings) == {'train', 'valid'} and set(ratings['valid']) == {'other'}
    studio, noisy = ratings['train']['studio'], ratings['train']['music_under']
    assert studio['stretches'] == noisy['stretches'] == 1
    assert noisy['dnsmos_bak'] < studio['dnsmos_bak'] - 0.3
    speech = {'studio': ['s'], 'music_under': ['m']}
    threshold = (studio['dnsmos_bak'] + noisy['dnsmos_bak']) / 2
    assert train.clean_speakers(speech, ratings['train'], threshold) == {'studio': ['s']}


def test_unrated_sources_and_speakers_are_named_with_what_to_run(recipe, tmp_path):
    rate_speech, train = recipe
    with pytest.raises(FileNotFoundError, match='rate_speech.py --sources'):
        rate_speech.load_ratings(tmp_path)
    with pytest.raises(ValueError, match='1 training speakers have no DNSMOS rating.*newcomer'):
        train.clean_speakers({'newcomer': [], 'rated': []}, {'rated': {'dnsmos_bak': 4.0}}, 3.5)
    with pytest.raises(ValueError, match='no training speaker rates a DNSMOS BAK of 4.5.*best: 4.00'):
        train.clean_speakers({'rated': []}, {'rated': {'dnsmos_bak': 4.0}}, 4.5)


def test_training_without_ratings_stops_before_loading_any_audio(recipe, tmp_path):
    _, train = recipe
    sources = tmp_path / 'sources'
    sources.mkdir()  # no speech, noise or ratings: the ratings are the first thing read
    with pytest.raises(FileNotFoundError, match='rate_speech.py --sources'):
        train.main(['--sources', str(sources), '--work', str(tmp_path / 'work'), '--min-speech-bak', '3.5'])
    assert not (tmp_path / 'work' / 'rooms.npz').exists()
