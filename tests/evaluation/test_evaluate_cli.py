"""Folder evaluation: pairing (same names, DNS fileid_N), the ``--enhanced`` and ``--model``
routes end to end through the ``evaluate`` subcommand, JSON and plot files, and the
errors raised for bad input."""
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import write_wav
from evaluation_signals import noisy_clean_pairs, white_noise_at_snr, write_pcm16

from modelscope_frcrn.cli import build_parser, main
from modelscope_frcrn.errors import FRCRNError
from modelscope_frcrn.evaluation import evaluate as evaluate_module
from modelscope_frcrn.evaluation import evaluate_folders, fileid, pair_folders
from modelscope_frcrn.errors import (EvaluationError, FolderNotFoundError,
                                                MetricWarning, MissingDependencyError,
                                                PairingError)

HAVE_DNSMOS = all(importlib.util.find_spec(name) is not None
                  for name in ('speechmos', 'onnxruntime'))
NOISY_NAME = 'book_00{0}_chp_0009_reader_06709_{0}_snr10_tl-25_fileid_{0}.wav'
SNR_DB = 10.0
ENHANCED_NOISE_GAIN = 0.3  # the "enhanced" files keep 30 % of the noise: +10.46 dB SI-SNR


def evaluate_command(argv):
    """``modelscope-frcrn evaluate ...`` through the real command line parser, errors raised."""
    args = build_parser().parse_args(['evaluate'] + [str(arg) for arg in argv])
    return args.run(args)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    """3 DNS-style pairs of 3 s (noisy at 10 dB SNR), and an enhanced folder with the
    noisy names where 70 % of the noise is gone."""
    root = tmp_path_factory.mktemp('dns')
    for number, pair in noisy_clean_pairs(3, 3.0, SNR_DB).items():
        name = NOISY_NAME.format(number)
        write_pcm16(root / 'noisy' / name, pair['noisy'])
        write_pcm16(root / 'clean' / f'clean_fileid_{number}.wav', pair['clean'])
        enhanced = pair['clean'] + ENHANCED_NOISE_GAIN * (pair['noisy'] - pair['clean'])
        write_pcm16(root / 'enhanced' / name, enhanced)
    return root


def read_json(path: Path) -> dict:
    def no_nan(constant):
        raise AssertionError(f'invalid JSON constant {constant}')

    return json.loads(path.read_text(), parse_constant=no_nan)


# --- pairing -----------------------------------------------------------------------------

def test_fileid_from_dns_names():
    assert fileid('book_00001_chp_0009_reader_06709_0_snr10_tl-25_fileid_12.wav') == 12
    assert fileid('clean_fileid_012.wav') == 12
    assert fileid('x_fileid_3_enhanced.flac') == 3
    assert fileid('speech.wav') is None


def test_pairs_dns_names_by_fileid(dataset):
    pairs = pair_folders(dataset / 'noisy', dataset / 'clean', dataset / 'enhanced')

    assert [(noisy.name, clean.name, enhanced.name) for noisy, clean, enhanced in pairs] == [
        (NOISY_NAME.format(n), f'clean_fileid_{n}.wav', NOISY_NAME.format(n)) for n in (1, 2, 3)]


def test_pairs_identical_names_and_enhanced_suffix(tmp_path):
    signal = np.zeros(1600, np.float32)
    for folder, names in (('noisy', ['a.wav', 'b.flac']), ('clean', ['a.wav', 'b.flac', 'c.wav']),
                          ('enhanced', ['a.wav', 'b_enhanced.wav'])):
        for name in names:
            (tmp_path / folder).mkdir(exist_ok=True)
            write_wav(tmp_path / folder / name, signal)
    (tmp_path / 'noisy' / 'notes.txt').write_text('not audio')
    (tmp_path / 'noisy' / '.c.wav').write_text('hidden: skipped')

    pairs = pair_folders(tmp_path / 'noisy', tmp_path / 'clean', tmp_path / 'enhanced')

    assert [tuple(path.name for path in pair) for pair in pairs] == [
        ('a.wav', 'a.wav', 'a.wav'), ('b.flac', 'b.flac', 'b_enhanced.wav')]


def test_unmatched_files_are_an_error_listing_them(tmp_path, dataset):
    noisy = tmp_path / 'noisy'
    noisy.mkdir()
    for number in range(1, 10):
        write_wav(noisy / f'x_fileid_{number + 100}.wav', np.zeros(1600, np.float32))

    with pytest.raises(PairingError) as caught:
        evaluate_command(['--noisy', noisy, '--clean', dataset / 'clean',
                          '--enhanced', dataset / 'enhanced'])
    message = str(caught.value)
    assert '9 of 9 noisy files have no clean file' in message
    assert 'x_fileid_101.wav' in message and '(and 4 more)' in message
    assert isinstance(caught.value, FRCRNError)


def test_an_ambiguous_fileid_is_an_error(tmp_path, dataset):
    clean = tmp_path / 'clean'
    clean.mkdir()
    for name in ('clean_fileid_1.wav', 'other_fileid_1.wav'):
        write_wav(clean / name, np.zeros(1600, np.float32))
    with pytest.raises(PairingError, match='matches 2 clean files'):
        pair_folders(dataset / 'noisy', clean)


def test_missing_and_empty_folders_are_errors(tmp_path, dataset):
    with pytest.raises(FolderNotFoundError, match='clean folder not found'):
        evaluate_command(['--noisy', dataset / 'noisy', '--clean', tmp_path / 'missing',
                          '--enhanced', dataset / 'enhanced'])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(PairingError, match='no audio files'):
        evaluate_command(['--noisy', tmp_path / 'empty', '--clean', dataset / 'clean',
                          '--enhanced', dataset / 'enhanced'])
    with pytest.raises(FolderNotFoundError, match='not a folder'):
        pair_folders(dataset / 'noisy' / NOISY_NAME.format(1), dataset / 'clean')


def test_model_and_enhanced_exclude_each_other(dataset, capsys):
    with pytest.raises(SystemExit) as caught:
        evaluate_command(['--noisy', dataset / 'noisy', '--clean', dataset / 'clean',
                          '--enhanced', dataset / 'enhanced', '--model', 'some/model'])
    assert caught.value.code == 2
    assert 'not allowed with' in capsys.readouterr().err
    with pytest.raises(EvaluationError, match='not both'):
        evaluate_folders(dataset / 'noisy', dataset / 'clean', dataset / 'enhanced',
                         model='some/model')


# --- the --enhanced route ----------------------------------------------------------------

def test_enhanced_folder_end_to_end(dataset, tmp_path, capsys):
    json_path, plot_path = tmp_path / 'out' / 'results.json', tmp_path / 'out' / 'metrics.png'

    code = evaluate_command(['--noisy', dataset / 'noisy', '--clean', dataset / 'clean',
                             '--enhanced', dataset / 'enhanced', '--no-dnsmos',
                             '--json', json_path, '--plot', plot_path])

    assert code == 0
    out = capsys.readouterr().out
    for text in ('noisy', 'enhanced', 'WB-PESQ', 'NB-PESQ', 'STOI (%)', 'SI-SNR (dB)',
                 'SI-SNR-i (dB)', '3 files', f'wrote results to {json_path}'):
        assert text in out
    assert 'DNSMOS' not in out

    result = read_json(json_path)
    assert result['files'] == 3 and len(result['rows']) == 3
    assert result['rtf'] is None
    assert result['metrics'] == ['pesq_wb', 'pesq_nb', 'stoi', 'si_snr', 'si_snr_i']
    assert result['settings']['enhanced_dir'] == str(dataset / 'enhanced')
    assert result['settings']['model'] is None and result['settings']['dnsmos'] is False
    noisy_means, enhanced_means = result['means']['noisy'], result['means']['enhanced']
    assert noisy_means['si_snr'] == pytest.approx(SNR_DB, abs=0.5)
    assert enhanced_means['si_snr_i'] == pytest.approx(-20 * np.log10(ENHANCED_NOISE_GAIN),
                                                       abs=0.5)
    for metric in ('pesq_wb', 'pesq_nb', 'stoi', 'si_snr'):
        assert enhanced_means[metric] > noisy_means[metric], metric
    assert result['counts']['enhanced']['pesq_wb'] == 3
    row = result['rows'][0]
    assert row['name'] == NOISY_NAME.format(1)
    assert row['clean_path'] == str(dataset / 'clean' / 'clean_fileid_1.wav')
    assert row['enhanced_path'] == str(dataset / 'enhanced' / NOISY_NAME.format(1))
    assert (row['seconds'], row['compared_samples']) == (3.0, 48000)
    assert row['enhanced']['si_snr_i'] == pytest.approx(
        row['enhanced']['si_snr'] - row['noisy']['si_snr'])
    assert np.mean([r['noisy']['stoi'] for r in result['rows']]) == pytest.approx(
        noisy_means['stoi'])

    assert plot_path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(path.name for path in json_path.parent.iterdir()) == ['metrics.png',
                                                                         'results.json']


def test_different_lengths_and_silent_files_do_not_crash(dataset, tmp_path):
    enhanced = tmp_path / 'enhanced'
    import soundfile as sf

    names = [NOISY_NAME.format(n) for n in (1, 2, 3)]
    first, _ = sf.read(str(dataset / 'enhanced' / names[0]))
    write_pcm16(enhanced / names[0], first[:-1000])  # shorter
    write_pcm16(enhanced / names[1], np.zeros(48000))  # silent: PESQ cannot rate it
    write_pcm16(enhanced / (Path(names[2]).stem + '_enhanced.wav'), first)

    with pytest.warns(MetricWarning) as caught:
        result = evaluate_folders(dataset / 'noisy', dataset / 'clean', enhanced,
                                  with_dnsmos=False, progress=False)

    messages = [str(warning.message) for warning in caught]
    assert any(names[0] in m and 'lengths differ' in m and 'first 47000' in m for m in messages)
    assert any(names[1] in m and 'WB-PESQ recorded as NaN' in m for m in messages)
    assert result.rows[0]['compared_samples'] == 47000
    assert np.isnan(result.rows[1]['enhanced']['pesq_wb'])
    assert result.counts['enhanced']['pesq_wb'] == 2
    assert result.means['enhanced']['pesq_wb'] == pytest.approx(
        np.mean([result.rows[0]['enhanced']['pesq_wb'], result.rows[2]['enhanced']['pesq_wb']]))
    table = evaluate_module.format_table(result)
    assert 'WB-PESQ enhanced 1/3' in table
    assert result.to_dict()['rows'][1]['enhanced']['pesq_wb'] is None  # NaN -> null in JSON
    # the change is taken over the files scored on both sides (1 and 3), not mean minus mean
    paired = np.mean([result.rows[i]['enhanced']['pesq_wb'] - result.rows[i]['noisy']['pesq_wb']
                      for i in (0, 2)])
    unpaired = result.means['enhanced']['pesq_wb'] - result.means['noisy']['pesq_wb']
    assert abs(paired - unpaired) > 1e-3
    assert result.changes['pesq_wb'] == pytest.approx(paired)
    pesq_line = next(line for line in table.splitlines() if line.startswith('WB-PESQ'))
    assert pesq_line.split()[-1] == f'{paired:+.3f}'


@pytest.mark.skipif(not HAVE_DNSMOS, reason="DNSMOS needs speechmos and onnxruntime: "
                                            "pip install 'modelscope_frcrn[eval]'")
def test_dnsmos_columns(dataset, tmp_path, capsys):
    import soundfile as sf

    for folder, name in (('noisy', NOISY_NAME.format(1)), ('clean', 'clean_fileid_1.wav'),
                         ('enhanced', NOISY_NAME.format(1))):  # one pair keeps it quick
        write_pcm16(tmp_path / folder / name, sf.read(str(dataset / folder / name))[0])

    evaluate_command(['--noisy', tmp_path / 'noisy', '--clean', tmp_path / 'clean',
                      '--enhanced', tmp_path / 'enhanced', '--json', tmp_path / 'r.json'])

    assert 'DNSMOS OVRL' in capsys.readouterr().out
    result = read_json(tmp_path / 'r.json')
    for group in ('noisy', 'enhanced'):
        for metric in ('dnsmos_ovrl', 'dnsmos_sig', 'dnsmos_bak', 'dnsmos_p808'):
            assert 1.0 <= result['means'][group][metric] <= 5.0, (group, metric)


# --- the --model route -------------------------------------------------------------------

def test_model_route_with_an_identity_model(dataset, identity_model_dir, tmp_path, capsys):
    json_path = tmp_path / 'results.json'

    code = evaluate_command(['--noisy', dataset / 'noisy', '--clean', dataset / 'clean',
                             '--model', identity_model_dir, '--no-dnsmos', '--json', json_path])

    assert code == 0
    assert 'real-time factor' in capsys.readouterr().out
    result = read_json(json_path)
    assert result['settings']['model'] == str(identity_model_dir)
    assert result['rtf'] > 0
    for row in result['rows']:
        assert row['enhanced_path'] is None and row['processing_seconds'] > 0
        assert row['rtf'] == pytest.approx(row['processing_seconds'] / row['seconds'])
        assert row['compared_samples'] == 48000
    noisy_means, enhanced_means = result['means']['noisy'], result['means']['enhanced']
    # the identity model gives back its input: enhanced scores as noisy
    assert enhanced_means['pesq_wb'] == pytest.approx(noisy_means['pesq_wb'], abs=0.05)
    assert enhanced_means['pesq_nb'] == pytest.approx(noisy_means['pesq_nb'], abs=0.05)
    assert enhanced_means['stoi'] == pytest.approx(noisy_means['stoi'], abs=0.005)
    assert enhanced_means['si_snr_i'] == pytest.approx(0.0, abs=0.1)


def test_no_model_and_no_folder_uses_the_default_model(dataset, monkeypatch):
    """Without --model or --enhanced the shipped model is loaded: load_pipeline(None)."""
    from modelscope.outputs import OutputKeys

    import modelscope_frcrn.inference as inference
    from modelscope_frcrn.evaluation.evaluate import load_signal

    requested = []

    def fake_load_pipeline(model=None, device='cpu'):
        requested.append((model, device))

        def pipeline(path):
            samples = load_signal(path)
            clean = samples - white_noise_at_snr(samples, 40.0)  # something else
            return {OutputKeys.OUTPUT_PCM: (clean * 32767).astype('<i2').tobytes()}
        return pipeline

    monkeypatch.setattr(inference, 'load_pipeline', fake_load_pipeline)

    result = evaluate_folders(dataset / 'noisy', dataset / 'clean', with_dnsmos=False,
                              progress=False)

    assert requested == [(None, 'cpu')]
    assert result.settings['model'] == 'default'
    assert result.rtf > 0 and len(result.rows) == 3


# --- optional dependencies and bad options -----------------------------------------------

def test_plot_without_matplotlib_names_the_extra(dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    with pytest.raises(MissingDependencyError, match=r"modelscope_frcrn\[eval\]"):
        evaluate_command(['--noisy', dataset / 'noisy', '--clean', dataset / 'clean',
                          '--enhanced', dataset / 'enhanced', '--no-dnsmos',
                          '--plot', tmp_path / 'p.png'])
    assert not (tmp_path / 'p.png').exists()


def test_an_unknown_plot_format_fails_before_scoring(dataset, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(EvaluationError, match=r'cannot write a plot as \.xyz'):
            evaluate_folders(dataset / 'noisy', dataset / 'clean', dataset / 'enhanced',
                             with_dnsmos=False, plot_path=tmp_path / 'plot.xyz')


def test_command_line_reports_a_bad_folder_in_one_line(dataset, tmp_path, capsys):
    code = main(['evaluate', '--noisy', str(dataset / 'noisy'), '--clean', str(tmp_path / 'missing'),
                 '--enhanced', str(dataset / 'enhanced'), '--no-dnsmos'])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert error.startswith('modelscope-frcrn: error:') and 'not found' in error
    assert len(error.splitlines()) == 1
