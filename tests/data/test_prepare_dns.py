"""DNS-style data preparation: synthesis (levels, determinism, held-out sources, resume),
indexing existing pairs, the folder as ``datasets`` loads it, ModelScope's ``to_segment``
on it, errors, and the ``prepare-dns`` subcommand."""
import argparse
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_wav

from modelscope_frcrn.data import add_parser, index_pairs, synthesize_dns
from modelscope_frcrn.data.dataset_folder import audio_decoding_problem, resolve_layout
from modelscope_frcrn.errors import DataPreparationError, FRCRNError

CLIP_SECONDS = 2.5  # 2 segments of 16000 samples per pair, and a tail that to_segment drops
SMALL = dict(train_pairs=4, test_pairs=2, clip_seconds=CLIP_SECONDS, seed=1, progress=False,
             layout='audio')
NAME = re.compile(r'_snr(-?\d+\.\d)_tl(-?\d+\.\d)_fileid_(\d+)\.wav$')


def speech_like(seconds: float, rate: int, f0: float) -> np.ndarray:
    """Harmonics of ``f0`` under syllable-like envelopes, with pauses."""
    t = np.arange(int(seconds * rate)) / rate
    voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.2 * voiced * np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)).astype(np.float32)


def make_sources(root: Path):
    """Clean speech (WAV/FLAC/OGG, 8-48 kHz, one stereo, nested) and noise folders."""
    rng = np.random.default_rng(0)
    clean, noise = root / 'clean', root / 'noise'
    (clean / 'speaker_b').mkdir(parents=True)
    noise.mkdir()
    for i, (rate, seconds, ext) in enumerate([(16000, 1.5, 'wav'), (22050, 2.5, 'flac'),
                                              (48000, 0.8, 'wav'), (16000, 3.0, 'ogg'),
                                              (8000, 2.0, 'wav'), (16000, 1.0, 'flac'),
                                              (44100, 2.0, 'wav'), (16000, 1.7, 'wav')]):
        samples = speech_like(seconds, rate, 100 + 25 * i)
        if i == 2:
            samples = np.stack([samples, 0.5 * samples], axis=1)
        folder = clean / 'speaker_b' if i % 2 else clean
        subtype = {'wav': 'FLOAT', 'flac': 'PCM_16', 'ogg': 'VORBIS'}[ext]
        write_wav(folder / f'utt{i}.{ext}', samples, rate, subtype=subtype)
    for i in range(5):
        rate = (16000, 32000)[i % 2]
        samples = rng.standard_normal(int(rate * (1.0 + 0.6 * i)))
        if i % 2:
            samples = np.cumsum(samples)  # brown noise
        samples = (0.5 * samples / np.max(np.abs(samples))).astype(np.float32)
        write_wav(noise / f'noise{i}.{("wav", "flac")[i % 2]}', samples, rate)
    (noise / 'notes.txt').write_text('not audio')
    return clean, noise


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp('sources'))


@pytest.fixture(scope='module')
def dataset(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp('made') / 'dns'
    synthesize_dns(*sources, out, workers=1, **SMALL)
    return out


@pytest.fixture(scope='module', params=['audio', 'arrays'])
def loadable(request, dataset, sources, tmp_path_factory):
    """The small data set in each layout, after checking that ``datasets`` here can read it."""
    if request.param == 'audio':
        if audio_decoding_problem():
            pytest.skip(audio_decoding_problem())
        return dataset
    out = tmp_path_factory.mktemp('arrays') / 'dns'
    shutil.copytree(dataset, out)
    synthesize_dns(*sources, out, **dict(SMALL, layout='arrays'))
    return out


def audio_files(folder: Path):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob('*.wav'))


def pairs(folder: Path, split: str):
    return [json.loads(line) for line in (folder / split / 'pairs.jsonl').read_text().splitlines()]


def read(path) -> np.ndarray:
    return sf.read(str(path), dtype='float64')[0]


def db(power_ratio: float) -> float:
    return 10 * np.log10(power_ratio)


# ---------------------------------------------------------------- synthesis


def test_layout_names_and_format(dataset):
    for split, count in (('train', 4), ('test', 2)):
        noisy = sorted((dataset / split / 'noisy').iterdir())
        clean = sorted((dataset / split / 'clean').iterdir())
        assert len(noisy) == len(clean) == count
        assert {p.name for p in clean} == {f'clean_fileid_{n}.wav' for n in range(count)}
        assert sorted(int(NAME.search(p.name).group(3)) for p in noisy) == list(range(count))
        for path in noisy + clean:
            info = sf.info(str(path))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, 'PCM_16')
            assert info.frames == CLIP_SECONDS * 16000


def test_same_seed_same_bytes_whatever_the_workers(sources, dataset, tmp_path):
    synthesize_dns(*sources, tmp_path / 'again', workers=2, **SMALL)
    assert audio_files(tmp_path / 'again') == audio_files(dataset)
    for name in audio_files(dataset) + ['train/pairs.jsonl', 'test/pairs.jsonl']:
        assert (tmp_path / 'again' / name).read_bytes() == (dataset / name).read_bytes(), name


def test_other_seed_other_pairs(sources, dataset, tmp_path):
    synthesize_dns(*sources, tmp_path / 'other', workers=1, **{**SMALL, 'seed': 2})
    first = (dataset / 'train' / 'clean' / 'clean_fileid_0.wav').read_bytes()
    assert (tmp_path / 'other' / 'train' / 'clean' / 'clean_fileid_0.wav').read_bytes() != first
    assert audio_files(tmp_path / 'other') != audio_files(dataset)


def check_pair(split_dir: Path, record: dict):
    """noisy - clean has the SNR of the name; the mix has the name's level unless clipping
    protection lowered it; nothing reaches the clipping guard."""
    snr, level, fileid = NAME.search(record['noisy']).groups()
    assert (float(snr), float(level), int(fileid)) == (record['snr'], record['level'], record['fileid'])
    noisy, clean = read(split_dir / record['noisy']), read(split_dir / record['clean'])
    noise = noisy - clean
    assert db(np.mean(clean ** 2) / np.mean(noise ** 2)) == pytest.approx(float(snr), abs=0.1)
    mix_level = db(np.mean(noisy ** 2))
    if record['clipping_gain'] == 1.0:
        assert mix_level == pytest.approx(float(level), abs=0.1)
    else:
        assert mix_level == pytest.approx(float(level) + 20 * np.log10(record['clipping_gain']), abs=0.1)
        assert mix_level < float(level)
    assert np.max(np.abs(noisy)) <= 0.99
    assert np.max(np.abs(clean)) <= 0.99


def test_snr_and_level_match_the_names(dataset):
    for split in ('train', 'test'):
        records = pairs(dataset, split)
        assert len(records) == (4 if split == 'train' else 2)
        for record in records:
            assert -5 <= record['snr'] <= 20 and -35 <= record['level'] <= -15
            check_pair(dataset / split, record)


def test_loud_mixes_are_scaled_down_together_instead_of_clipping(sources, tmp_path):
    synthesize_dns(*sources, tmp_path / 'loud', train_pairs=3, test_pairs=1, clip_seconds=1.0,
                   level_min=-4, level_max=-2, snr_min=20, snr_max=20, progress=False)
    records = pairs(tmp_path / 'loud', 'train')
    assert all(record['clipping_gain'] < 1 for record in records)
    for record in records:
        check_pair(tmp_path / 'loud' / 'train', record)


def test_test_pairs_use_held_out_source_files(dataset, sources):
    used = {split: {kind: {name for record in pairs(dataset, split) for name in record[f'{kind}_sources']}
                    for kind in ('clean', 'noise')} for split in ('train', 'test')}
    settings = json.loads((dataset / 'synthesis.json').read_text())
    for kind in ('clean', 'noise'):
        assert used['train'][kind] and used['test'][kind]
        assert not used['train'][kind] & used['test'][kind]
        assert used['test'][kind] <= set(settings[f'test_{kind}_files'])
        assert not used['train'][kind] & set(settings[f'test_{kind}_files'])
    assert len(settings['test_clean_files']) == len(settings['test_noise_files']) == 1  # 10 %, at least 1
    assert all((sources[0] / name).is_file() for name in used['train']['clean'] | used['test']['clean'])


def test_resume_rewrites_only_what_is_missing(sources, tmp_path):
    out = tmp_path / 'resume'
    settings = dict(train_pairs=3, test_pairs=1, clip_seconds=1.0, seed=5, progress=False)
    first = synthesize_dns(*sources, out, **settings)
    assert (first.files_written, first.pairs_skipped) == (8, 0)
    files = [out / name for name in audio_files(out)]
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in files}
    victim = next(path for path in files if 'train/noisy' in path.as_posix() and 'fileid_1' in path.name)
    victim.unlink()

    again = synthesize_dns(*sources, out, workers=2, **settings)
    assert (again.files_written, again.pairs_skipped) == (1, 3)
    for path, (mtime, data) in before.items():
        assert path.read_bytes() == data
        if path != victim:
            assert path.stat().st_mtime_ns == mtime, path

    # An interrupted run: files written, but the pair's row never reached pairs.jsonl.
    log = out / 'train' / 'pairs.jsonl'
    log.write_text(''.join(log.read_text().splitlines(keepends=True)[:2]) + '{"fileid": 2, "noi')
    third = synthesize_dns(*sources, out, **settings)
    assert (third.files_written, third.pairs_skipped) == (0, 3)
    assert [record['fileid'] for record in pairs(out, 'train')] == [0, 1, 2]
    assert all(path.read_bytes() == data for path, (_, data) in before.items())


def test_more_hours_extend_the_same_set(sources, tmp_path):
    out = tmp_path / 'grow'
    synthesize_dns(*sources, out, train_pairs=2, test_pairs=1, clip_seconds=1.0, progress=False)
    kept = (out / 'train' / 'clean' / 'clean_fileid_1.wav').read_bytes()
    grown = synthesize_dns(*sources, out, hours=4 / 3600, test_pairs=1, clip_seconds=1.0, progress=False)
    assert grown.pairs == {'train': 4, 'test': 1} and grown.pairs_skipped == 3
    assert (out / 'train' / 'clean' / 'clean_fileid_1.wav').read_bytes() == kept


def test_other_settings_into_the_same_folder_are_refused(sources, dataset):
    with pytest.raises(DataPreparationError, match='other settings.*seed'):
        synthesize_dns(*sources, dataset, **{**SMALL, 'seed': 9})


# ---------------------------------------------------------------- indexing existing pairs


def write_pairs(folder: Path, fileids_and_names):
    (folder / 'noisy').mkdir(parents=True)
    (folder / 'clean').mkdir()
    for fileid, noisy_name in fileids_and_names:
        samples = speech_like(1.0 + 0.25 * fileid, 16000, 120)
        write_wav(folder / 'clean' / f'clean_fileid_{fileid}.wav', samples)
        write_wav(folder / 'noisy' / noisy_name, samples + np.float32(0.01))


def test_from_pairs_matches_by_fileid(tmp_path):
    write_pairs(tmp_path / 'set', [(10, 'a_snr5_tl-20_fileid_10.wav'),
                                   (2, 'zz_book_07_snr-3_tl-30_fileid_2.wav'),
                                   (3, 'fileid_3.wav')])
    (tmp_path / 'set' / 'noisy' / 'README.txt').write_text('ignored')
    result = index_pairs(tmp_path / 'set', tmp_path / 'out', test_pairs=1)
    assert result.pairs == {'train': 2, 'test': 1}
    train, test = pairs(tmp_path / 'out', 'train'), pairs(tmp_path / 'out', 'test')
    assert [r['fileid'] for r in train] == [2, 3] and [r['fileid'] for r in test] == [10]  # numeric order
    for record in train + test:
        assert Path(record['noisy']).name.endswith(f'fileid_{record["fileid"]}.wav')
        assert Path(record['clean']).name == f'clean_fileid_{record["fileid"]}.wav'
        assert record['duration'] == 1.0 + 0.25 * record['fileid']
    assert (train[0]['snr'], train[0]['level']) == (-3.0, -30.0) and 'snr' not in train[1]
    assert not list((tmp_path / 'out').rglob('*.wav'))  # nothing copied

    everything = index_pairs(tmp_path / 'set', tmp_path / 'out', test_pairs='all')
    assert everything.pairs == {'test': 3}
    assert not (tmp_path / 'out' / 'train' / 'metadata.jsonl').exists()
    assert 'config_name: train' not in (tmp_path / 'out' / 'README.md').read_text()


def test_from_pairs_errors(tmp_path):
    write_pairs(tmp_path / 'set', [(0, 'x_fileid_0.wav'), (1, 'x_fileid_1.wav')])
    write_wav(tmp_path / 'set' / 'noisy' / 'lonely_fileid_99.wav', np.zeros(160, np.float32))
    with pytest.raises(DataPreparationError, match='unmatched.*lonely_fileid_99.wav'):
        index_pairs(tmp_path / 'set', tmp_path / 'out')
    os.remove(tmp_path / 'set' / 'noisy' / 'lonely_fileid_99.wav')
    write_wav(tmp_path / 'set' / 'clean' / 'no_id.wav', np.zeros(160, np.float32))
    with pytest.raises(DataPreparationError, match='no trailing fileid_N.*no_id.wav'):
        index_pairs(tmp_path / 'set', tmp_path / 'out')
    os.remove(tmp_path / 'set' / 'clean' / 'no_id.wav')
    with pytest.raises(DataPreparationError, match='between 0 and the 2 pairs'):
        index_pairs(tmp_path / 'set', tmp_path / 'out', test_pairs=3)
    shutil.rmtree(tmp_path / 'set' / 'clean')
    with pytest.raises(DataPreparationError, match='clean/ folder'):
        index_pairs(tmp_path / 'set', tmp_path / 'out')
    with pytest.raises(DataPreparationError, match='not found'):
        index_pairs(tmp_path / 'missing', tmp_path / 'out')


# ---------------------------------------------------------------- the folder in datasets / ModelScope


def test_load_dataset_gives_the_written_audio(loadable, tmp_path):
    from datasets import load_dataset
    from modelscope.msdatasets import MsDataset

    for split, count in (('train', 4), ('test', 2)):
        loaded = load_dataset(str(loadable), split, split=split, cache_dir=str(tmp_path / 'hf'))
        assert loaded.column_names == ['noisy', 'clean', 'duration'] and len(loaded) == count
        for row, record in zip(loaded, pairs(loadable, split)):
            assert row['duration'] == CLIP_SECONDS
            for column in ('noisy', 'clean'):
                assert row[column]['sampling_rate'] == 16000
                written = read(loadable / split / record[column])
                np.testing.assert_array_equal(np.asarray(row[column]['array'], np.float64), written)
    # the model card's evaluation code loads the test split as the default configuration
    test = MsDataset.load(str(loadable), split='test').to_hf_dataset()
    assert len(test) == 2 and test.column_names == ['noisy', 'clean', 'duration']


def test_modelscope_to_segment_cuts_one_second_segments(loadable, tmp_path):
    from datasets import load_dataset
    from modelscope.msdatasets import MsDataset
    from modelscope.utils.audio.audio_utils import to_segment

    loaded = load_dataset(str(loadable), 'train', split='train', cache_dir=str(tmp_path / 'hf'))
    segments = loaded.map(to_segment, remove_columns=['duration'], num_proc=2, batched=True,
                          batch_size=36)
    lengths = [sf.info(str(loadable / 'train' / r['noisy'])).frames for r in pairs(loadable, 'train')]
    assert len(segments) == sum(n // 16000 for n in lengths) == 8
    assert segments.column_names == ['noisy', 'clean']
    first = segments[0]
    assert len(first['noisy']) == len(first['clean']) == 16000
    first_noisy = read(loadable / 'train' / pairs(loadable, 'train')[0]['noisy'])
    np.testing.assert_allclose(first['noisy'], first_noisy[:16000])
    split = MsDataset.from_hf_dataset(segments.train_test_split(test_size=2, seed=0))
    assert len(split['train'][0]['clean']) == 16000


def test_layouts_have_one_data_file_each(loadable):
    layout = 'arrays' if (loadable / 'train' / 'data.parquet').exists() else 'audio'
    card = (loadable / 'README.md').read_text()
    for split in ('train', 'test'):
        assert sorted(p.name for p in (loadable / split).glob('*.*')) == sorted(
            ['pairs.jsonl', {'audio': 'metadata.jsonl', 'arrays': 'data.parquet'}[layout]])
    assert ('audio:' in card) == (layout == 'audio')
    for split in ('train', 'test'):
        assert (f'path: {split}/data.parquet' in card) == (layout == 'arrays')


def test_arrays_layout_never_replaces_a_parquet_it_did_not_write(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_pairs(tmp_path / 'set', [(0, 'x_fileid_0.wav'), (1, 'x_fileid_1.wav')])
    theirs = tmp_path / 'set' / 'test' / 'data.parquet'
    theirs.parent.mkdir()
    pq.write_table(pa.table({'x': [1]}), theirs)
    for layout in ('arrays', 'audio'):
        with pytest.raises(DataPreparationError, match='data.parquet: not written by prepare-dns'):
            index_pairs(tmp_path / 'set', tmp_path / 'set', test_pairs='all', layout=layout)
    assert pq.read_table(theirs).to_pydict() == {'x': [1]}
    assert sorted(p.name for p in theirs.parent.iterdir()) == ['data.parquet']


def test_auto_layout_follows_what_datasets_can_decode(monkeypatch):
    import sys

    import datasets

    assert resolve_layout('arrays') == 'arrays' and resolve_layout('audio') == 'audio'
    assert resolve_layout('auto') == ('arrays' if audio_decoding_problem() else 'audio')
    monkeypatch.setattr(datasets, '__version__', '3.6.0')
    assert audio_decoding_problem() is None and resolve_layout('auto') == 'audio'
    monkeypatch.setattr(datasets, '__version__', '4.8.4')
    for module in ('torchcodec', 'torchcodec.decoders'):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    problem = audio_decoding_problem()
    assert 'datasets 4.8.4 decodes audio with torchcodec' in problem and '--layout arrays' in problem
    assert resolve_layout('auto') == 'arrays'
    with pytest.raises(DataPreparationError, match="unknown layout 'wav'"):
        resolve_layout('wav')


# ---------------------------------------------------------------- errors


def test_missing_and_empty_folders(sources, tmp_path):
    clean, noise = sources
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'text_only').mkdir()
    (tmp_path / 'text_only' / 'a.txt').write_text('x')
    cases = [((tmp_path / 'nope', noise), 'clean folder not found'),
             ((clean, tmp_path / 'empty'), 'noise folder has no audio files'),
             ((tmp_path / 'text_only', noise), 'clean folder has no audio files'),
             ((clean / 'utt0.wav', noise), 'clean folder is not a folder')]
    for (clean_dir, noise_dir), message in cases:
        with pytest.raises(DataPreparationError, match=message):
            synthesize_dns(clean_dir, noise_dir, tmp_path / 'out', **SMALL)
    assert not (tmp_path / 'out').exists()


def test_unusable_sources_and_settings(sources, tmp_path):
    clean, noise = sources
    (tmp_path / 'one').mkdir()
    shutil.copy(clean / 'utt0.wav', tmp_path / 'one')
    with pytest.raises(DataPreparationError, match='only 1 audio file: at least 2'):
        synthesize_dns(tmp_path / 'one', noise, tmp_path / 'out1', **SMALL)

    (tmp_path / 'broken').mkdir()
    (tmp_path / 'broken' / 'bad.wav').write_bytes(b'RIFF not really a wave file')
    with pytest.raises(DataPreparationError, match='cannot use clean file .*bad.wav'):
        synthesize_dns(tmp_path / 'broken', noise, tmp_path / 'out2', train_pairs=1, test_pairs=0,
                       clip_seconds=1.0, progress=False)
    # Fixing the sources and rerunning works: no pair was written with the old file list.
    (tmp_path / 'broken' / 'bad.wav').unlink()
    shutil.copy(clean / 'utt0.wav', tmp_path / 'broken')
    fixed = synthesize_dns(tmp_path / 'broken', noise, tmp_path / 'out2', train_pairs=1,
                           test_pairs=0, clip_seconds=1.0, progress=False)
    assert (fixed.pairs, fixed.files_written, fixed.pairs_skipped) == ({'train': 1}, 2, 0)
    [pair] = pairs(tmp_path / 'out2', 'train')
    assert pair['clean_sources'] == ['utt0.wav']
    assert read(tmp_path / 'out2' / 'train' / pair['clean']).size == 16000

    (tmp_path / 'silent').mkdir()
    write_wav(tmp_path / 'silent' / 'zeros.wav', np.zeros(8000, np.float32))
    with pytest.raises(DataPreparationError, match='noise clips in a row were silent'):
        synthesize_dns(clean, tmp_path / 'silent', tmp_path / 'out3', train_pairs=1, test_pairs=0,
                       clip_seconds=1.0, progress=False, workers=2)

    with pytest.raises(DataPreparationError, match='inside the clean folder'):
        synthesize_dns(clean, noise, clean / 'generated', **SMALL)
    with pytest.raises(DataPreparationError, match='--snr-min 10.0 is above --snr-max 0.0'):
        synthesize_dns(clean, noise, tmp_path / 'out4', snr_min=10.0, snr_max=0.0, **SMALL)
    with pytest.raises(DataPreparationError, match='both the train and test pair counts are 0'):
        synthesize_dns(clean, noise, tmp_path / 'out5', **{**SMALL, 'train_pairs': 0, 'test_pairs': 0})
    (tmp_path / 'busy').mkdir()
    (tmp_path / 'busy' / 'thesis.tex').write_text('keep me')
    with pytest.raises(DataPreparationError, match='not empty'):
        synthesize_dns(clean, noise, tmp_path / 'busy', **SMALL)
    assert issubclass(DataPreparationError, FRCRNError) and issubclass(DataPreparationError, ValueError)


# ---------------------------------------------------------------- the subcommand


def parse(argv):
    parser = argparse.ArgumentParser(prog='modelscope-frcrn')
    add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


def test_cli_synthesizes_and_indexes(sources, tmp_path, capsys):
    clean, noise = sources
    out = tmp_path / 'cli'
    args = parse(['prepare-dns', '--clean', str(clean), '--noise', str(noise), '--out', str(out),
                  '--hours', str(2 / 3600), '--clip-seconds', '1', '--test-pairs', '1', '--seed', '3',
                  '--snr-min', '0', '--snr-max', '10', '--level-min', '-30', '--level-max', '-20',
                  '--workers', '2', '--quiet'])
    assert args.run(args) == 0
    assert '2 train pairs, 1 test pairs' in capsys.readouterr().out
    assert all(0 <= r['snr'] <= 10 and -30 <= r['level'] <= -20 for r in pairs(out, 'train'))

    index = tmp_path / 'indexed'
    args = parse(['prepare-dns', '--from-pairs', str(out / 'train'), '--out', str(index),
                  '--test-pairs', 'all'])
    assert args.run(args) == 0
    assert [r['fileid'] for r in pairs(index, 'test')] == [0, 1]

    args = parse(['prepare-dns', '--from-pairs', str(out / 'train'), '--out', str(index),
                  '--test-pairs', 'all', '--layout', 'arrays'])
    assert args.run(args) == 0
    assert f'{index} (arrays layout): 2 test pairs' in capsys.readouterr().out
    assert (index / 'test' / 'data.parquet').is_file() and not (index / 'test' / 'metadata.jsonl').exists()


def test_cli_option_errors_and_help(sources, tmp_path, capsys):
    clean, noise = sources
    for argv, message in (
            (['--out', str(tmp_path), '--clean', str(clean)], 'pass --clean DIR and --noise DIR'),
            (['--out', str(tmp_path), '--from-pairs', str(tmp_path), '--seed', '1'], '--seed is an option'),
            (['--out', str(tmp_path), '--clean', str(clean), '--noise', str(noise),
              '--test-pairs', 'all'], '--test-pairs all is for --from-pairs')):
        args = parse(['prepare-dns'] + argv)
        with pytest.raises(DataPreparationError, match=message):
            args.run(args)
    with pytest.raises(SystemExit):
        parse(['prepare-dns', '--out', 'x', '--test-pairs', '-1'])
    with pytest.raises(SystemExit):
        parse(['prepare-dns', '--help'])
    text = capsys.readouterr().out
    for option in ('--clean', '--noise', '--out', '--hours', '--clip-seconds', '--snr-min', '--snr-max',
                   '--level-min', '--level-max', '--test-pairs', '--seed', '--workers', '--from-pairs',
                   '--layout'):
        assert option in text


def test_cli_held_out_fraction_sets_the_share_of_test_source_files(sources, tmp_path):
    clean, noise = sources
    out = tmp_path / 'half'
    args = parse(['prepare-dns', '--clean', str(clean), '--noise', str(noise), '--out', str(out),
                  '--train-pairs', '3', '--test-pairs', '2', '--clip-seconds', '1',
                  '--held-out-fraction', '0.5', '--quiet'])
    assert args.run(args) == 0
    settings = json.loads((out / 'synthesis.json').read_text())
    assert settings['held_out_fraction'] == 0.5
    assert len(settings['test_clean_files']) == 4  # of 8 (the default 10 % holds out 1)
    assert len(settings['test_noise_files']) == 2  # of 5, round(2.5)
    used_in_training = {name for record in pairs(out, 'train') for name in record['clean_sources']}
    assert used_in_training and not used_in_training & set(settings['test_clean_files'])
