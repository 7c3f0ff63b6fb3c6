"""The broad recipe's generated alert tones (recipes/broad_model/add_generated_noise.py)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / 'recipes' / 'broad_model' / 'add_generated_noise.py'
SAMPLE_RATE = 16000


@pytest.fixture(scope='module')
def recipe():
    return load_script(SCRIPT)


def frame_levels_db(x: np.ndarray, frame: int = 800) -> np.ndarray:
    frames = x[:x.size // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


@pytest.mark.parametrize('seed', range(4))
def test_tones_are_intermittent_tonal_and_below_nyquist(recipe, seed):
    n = 10 * SAMPLE_RATE
    x = recipe.tones(n, np.random.default_rng(seed))
    assert x.shape == (n,) and np.all(np.isfinite(x))
    levels = frame_levels_db(x)
    quiet = np.mean(levels < levels.max() - 30)
    assert 0.02 < quiet < 0.9, f'alerts come and go with pauses; quiet share {quiet:.2f}'
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    assert power[freqs > recipe.TOP_HZ].sum() < 1e-4 * power.sum()
    # tonal: a few spectral lines hold most of the energy, unlike noise
    top_share = np.sort(power)[::-1][:n // 100].sum() / power.sum()
    assert top_share > 0.5


def test_tones_depend_only_on_the_seed(recipe):
    first, again, other = (recipe.tones(SAMPLE_RATE * 3, np.random.default_rng(seed)) for seed in (5, 5, 6))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_script_writes_only_the_asked_categories(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), '--sources', str(tmp_path), '--categories', 'tones',
                    '--clips', '2', '--seconds', '3'], check=True, capture_output=True)
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob('*.flac'))
    assert written == [f'noise/{split}/tones/generated_tones_{index:03d}.flac'
                       for split, count in (('train', 2), ('valid', 2)) for index in range(count)]
    audio, rate = sf.read(tmp_path / written[0])
    assert rate == SAMPLE_RATE and audio.size == 3 * SAMPLE_RATE


def test_script_names_an_unknown_category(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), '--sources', str(tmp_path),
                             '--categories', 'tones,sirens'], capture_output=True, text=True)
    assert result.returncode != 0 and "unknown categories ['sirens']" in result.stderr
