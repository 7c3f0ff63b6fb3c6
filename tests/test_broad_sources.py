"""The broad recipe's source list (recipes/broad_model/build_sources.py): what is read from a
package and how it is checked."""
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / 'recipes' / 'broad_model' / 'build_sources.py'
UFOAI_AMBIENCE = ('city_abnd_ufoai_atm', 'ufo_night_atm', 'thunder1', 'minepump03', 'hum2',
                  'wind_turbine', 'radiomessage', 'tv_newswav', 'jingle', 'droning_short')


@pytest.fixture(scope='module')
def recipe():
    return load_script(SCRIPT)


def wav_bytes(rate: int, seconds: float = 1.0, seed: int = 0) -> bytes:
    noise = 0.1 * np.random.default_rng(seed).standard_normal(int(rate * seconds))
    buffer = io.BytesIO()
    sf.write(buffer, noise, rate, format='WAV', subtype='PCM_16')
    return buffer.getvalue()


@pytest.fixture
def ufoai_root(recipe, tmp_path):
    """A stand-in for the unpacked ufoai-sound package: its sound archive with a few ambience
    loops (8 kHz for the droning, as in the package)."""
    archive = tmp_path / recipe.UFOAI_PK3
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr('sound/ambience/', b'')
        for seed, name in enumerate(UFOAI_AMBIENCE):
            rate = 8000 if name.startswith('droning') else 22050
            zf.writestr(f'sound/ambience/{name}.ogg', wav_bytes(rate, seed=seed))
        zf.writestr('sound/soldiers/hurt1.ogg', wav_bytes(22050))
    return tmp_path


def test_no_source_reads_a_package_reserved_for_evaluation(recipe):
    packages = {source.package for source in recipe.SOURCES}
    assert not [package for package in packages if package.startswith(recipe.RESERVED)]


def test_ufoai_ambience_is_split_into_machines_and_ambience_without_speech_or_music(
        recipe, ufoai_root):
    items = recipe.ufoai_noise_items(ufoai_root)

    groups = {Path(item.member).stem: item.group for item in items}
    assert groups == {'city_abnd_ufoai_atm': 'ambient', 'ufo_night_atm': 'ambient',
                      'thunder1': 'ambient', 'droning_short': 'ambient', 'minepump03': 'machine',
                      'hum2': 'machine', 'wind_turbine': 'machine'}
    assert {item.package for item in items} == {'ufoai-sound'}


def test_ufoai_members_are_decoded_from_the_archive_and_rate_checked(recipe, ufoai_root):
    items = {Path(item.member).stem: item for item in recipe.ufoai_noise_items(ufoai_root)}

    kept = recipe.process(items['minepump03'])
    dropped = recipe.process(items['droning_short'])

    assert kept['rate'] == 22050 and abs(kept['seconds'] - 1.0) < 0.01
    decoded, rate = sf.read(io.BytesIO(kept['flac']))
    assert rate == 16000 and np.max(np.abs(decoded)) == pytest.approx(10 ** (-1 / 20), abs=1e-3)
    assert dropped['drop'] == 'rate below 16 kHz'
