"""``enhance_dataset``: a data set's audio column denoised in a batched map, its feature kept.

The function reads the column's stored bytes with soundfile, so it does not depend on the
installed datasets' decoder; the tests read rows the same way (:func:`stored_rows`), so they
run with datasets 3.6 (the default install) and 4.x with or without torchcodec (.ci/run's
second environment).
"""
import io

import datasets
import numpy as np
import pytest
import soundfile as sf

from modelscope_frcrn import enhance_dataset
from modelscope_frcrn.audio.io import resample
from modelscope_frcrn.errors import AudioTooShortError, UsageError
from modelscope_frcrn.inference.backends import build_enhancer
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.inference.loading import load_model

from conftest import EXAMPLE_WAV

#: Rows are stored as 16-bit PCM (libsndfile scales by 32767 in, 32768 out): two steps.
STORED_TOLERANCE = 2 / 32768
SECONDS = (0.4, 0.7, 0.5, 1.1, 0.45)


@pytest.fixture
def clips(tmp_path):
    speech, rate = sf.read(str(EXAMPLE_WAV), dtype='float32')
    paths = []
    for index, seconds in enumerate(SECONDS):
        path = tmp_path / f'utt{index}.wav'
        sf.write(str(path), speech[5000 * index:5000 * index + int(seconds * rate)], rate)
        paths.append(str(path))
    return paths


def corpus(paths, **audio):
    ds = datasets.Dataset.from_dict({'audio': paths, 'text': [f't{i}' for i in range(len(paths))]})
    return ds.cast_column('audio', datasets.Audio(**audio))


def stored_rows(ds, column='audio'):
    """``(samples float32 [T], rate)`` of each row, decoded here with soundfile."""
    stored = ds.cast_column(column, datasets.Audio(decode=False))
    return [sf.read(io.BytesIO(row[column]['bytes']) if row[column]['bytes'] else row[column]['path'],
                    dtype='float32') for row in stored]


@pytest.fixture(scope='module')
def denoiser(random_model_dir):
    return Denoiser(build_enhancer(load_model(str(random_model_dir))))


def alone(denoiser, path):
    """What enhancing the (16 kHz) file alone gives."""
    samples, rate = sf.read(path, dtype='float32')
    return denoiser.enhance(samples[None], sample_rate=rate)[0]


def test_column_is_enhanced_in_batches_and_keeps_its_feature(clips, random_model_dir, denoiser):
    ds = corpus(clips, sampling_rate=16000)

    enhanced = enhance_dataset(ds, model=str(random_model_dir), batch_size=2)

    assert enhanced.features == ds.features
    assert enhanced['text'] == ds['text']
    for (samples, rate), path in zip(stored_rows(enhanced), clips):
        assert rate == 16000
        assert np.abs(samples - alone(denoiser, path)).max() <= STORED_TOLERANCE


def test_rows_stay_at_the_columns_sampling_rate(clips, random_model_dir):
    ds = corpus(clips[:2], sampling_rate=8000)

    enhanced = enhance_dataset(ds, model=str(random_model_dir))

    for path, (after, rate) in zip(clips, stored_rows(enhanced)):
        before = resample(sf.read(path, dtype='float32')[0], 16000, 8000)
        assert rate == 8000
        assert after.shape == before.shape
        assert not np.allclose(after, before, atol=1e-3)


def test_undecoded_column_stays_undecoded(clips, random_model_dir, denoiser):
    ds = corpus(clips[:2], decode=False)

    enhanced = enhance_dataset(ds, model=str(random_model_dir))

    assert enhanced.features['audio'].decode is False
    row = enhanced[0]['audio']
    assert row['path'] == clips[0]
    samples, rate = sf.read(io.BytesIO(row['bytes']), dtype='float32')
    assert rate == 16000
    assert np.abs(samples - alone(denoiser, clips[0])).max() <= STORED_TOLERANCE


def test_a_row_too_short_is_kept_with_a_warning_or_raises_naming_it(clips, tmp_path,
                                                                    random_model_dir):
    short = tmp_path / 'click.wav'
    sf.write(str(short), np.full(200, 0.1, np.float32), 16000)
    ds = corpus(clips[:2] + [str(short)])

    with pytest.warns(UserWarning, match=r'row 2 \(.*click.wav\).*too short'):
        enhanced = enhance_dataset(ds, model=str(random_model_dir))
    np.testing.assert_array_equal(stored_rows(enhanced)[2][0], sf.read(str(short), dtype='float32')[0])

    with pytest.raises(AudioTooShortError, match=r'row 0 \(.*click.wav\)'):
        enhance_dataset(corpus([str(short)]), model=str(random_model_dir), on_error='raise')


def can_decode_audio() -> bool:
    """Whether the installed datasets decodes Audio columns (3.x; 4.x only with torchcodec)."""
    return datasets.__version__.startswith('3.') or datasets.config.TORCHCODEC_AVAILABLE


@pytest.mark.parametrize('decode', [
    pytest.param(True, marks=pytest.mark.skipif(
        not can_decode_audio(), reason='datasets 4.x without torchcodec decodes no Audio column')),
    False])
def test_iterable_dataset_is_enhanced_as_it_is_read(clips, random_model_dir, denoiser, decode):
    ds = corpus(clips[:3], decode=decode).to_iterable_dataset()

    enhanced = enhance_dataset(ds, model=str(random_model_dir), batch_size=2)

    assert isinstance(enhanced, datasets.IterableDataset)
    assert enhanced.features == ds.features
    rows = list(enhanced)
    assert [row['text'] for row in rows] == ['t0', 't1', 't2']
    stored_form = isinstance(rows[0]['audio'], dict) and set(rows[0]['audio']) == {'bytes', 'path'}
    assert stored_form != decode
    samples, _ = stored_rows(enhanced)[1]
    assert np.abs(samples - alone(denoiser, clips[1])).max() <= STORED_TOLERANCE
    with pytest.raises(UsageError, match='num_proc'):
        enhance_dataset(ds, num_proc=2)


@pytest.mark.parametrize('make, message', [
    (lambda paths: datasets.Dataset.from_dict({'audio': paths}), 'not Audio.*cast_column'),
    (lambda paths: corpus(paths).rename_column('audio', 'speech'), "no column 'audio'"),
    (lambda paths: datasets.DatasetDict({'train': corpus(paths)}), 'each split'),
])
def test_unusable_input_is_refused_before_any_work(clips, make, message):
    with pytest.raises(UsageError, match=message):
        enhance_dataset(make(clips[:1]))


@pytest.mark.parametrize('option, message', [
    ({'bandwidth': 'wide'}, 'bandwidth'), ({'atten_limit_db': -3}, 'attenuation limit'),
    ({'batch_size': 0}, 'batch_size'), ({'on_error': 'skip'}, 'on_error')])
def test_bad_options_are_refused_before_any_row(clips, option, message):
    with pytest.raises(UsageError, match=message):
        enhance_dataset(corpus(clips[:1]), **option)


@pytest.mark.slow
def test_num_proc_gives_the_same_rows(clips, random_model_dir):
    ds = corpus(clips, sampling_rate=16000)

    one, two = (enhance_dataset(ds, model=str(random_model_dir), num_proc=count)
                for count in (None, 2))

    for (row_one, _), (row_two, _) in zip(stored_rows(one), stored_rows(two)):
        np.testing.assert_allclose(row_one, row_two, atol=STORED_TOLERANCE)
