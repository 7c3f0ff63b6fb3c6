"""The command line: ``modelscope-frcrn denoise`` on single files in-process through
``main(argv)``, and ``python -m modelscope_frcrn`` once in a subprocess. Folders, globs and
batch behaviour: tests/inference/test_batch.py."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO_ROOT, write_wav

from modelscope_frcrn.cli import main

ERROR_PREFIX = 'modelscope-frcrn: error:'


@pytest.fixture
def noisy(tmp_path):
    rng = np.random.default_rng(0)
    return write_wav(tmp_path / 'noisy.wav', (0.1 * rng.standard_normal(8000)).astype(np.float32))


def error_lines(err: str):
    assert 'Traceback' not in err
    return [line for line in err.splitlines() if line.startswith(ERROR_PREFIX)]


def assert_one_line_error(err: str, *words):
    lines = error_lines(err)
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def assert_enhanced_copy_of(output, source):
    """The identity model's output: a 16 kHz mono PCM_16 copy of the input."""
    info = sf.info(str(output))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, 'PCM_16')
    written, _ = sf.read(str(output), dtype='int16')
    original, _ = sf.read(str(source), dtype='int16')
    assert written.shape == original.shape
    assert np.abs(written.astype(np.int32) - original).max() <= 2


def test_denoise_writes_the_output(noisy, tmp_path, identity_model_dir, capsys):
    output = tmp_path / 'out' / 'clean.wav'

    code = main(['denoise', str(noisy), '-o', str(output), '--model', str(identity_model_dir)])

    assert code == 0
    assert_enhanced_copy_of(output, noisy)
    out, err = capsys.readouterr()
    assert str(output) in out
    assert error_lines(err) == []


def test_default_output_name(noisy, identity_model_dir, capsys):
    code = main(['denoise', str(noisy), '--model', str(identity_model_dir)])

    assert code == 0
    expected = noisy.with_name('noisy_enhanced.wav')
    assert_enhanced_copy_of(expected, noisy)
    assert str(expected) in capsys.readouterr().out


def stereo_44k(tmp_path):
    t = np.arange(22050) / 44100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 440 * t)],
                      axis=1).astype(np.float32)
    return write_wav(tmp_path / 'stereo44k.wav', stereo, 44100, subtype='FLOAT')


def test_stereo_44k_input_keeps_its_format(tmp_path, identity_model_dir):
    source = stereo_44k(tmp_path)
    output = tmp_path / 'enhanced.wav'

    code = main(['denoise', str(source), '-o', str(output), '--model', str(identity_model_dir)])

    assert code == 0
    info = sf.info(str(output))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 22050, 'FLOAT')
    written, _ = sf.read(str(output), dtype='float64')
    middle = written[1000:-1000]
    assert np.abs(middle).max(axis=0) == pytest.approx([0.3, 0.1], rel=0.01)


def test_stereo_44k_input_to_16k_mono(tmp_path, identity_model_dir):
    source = stereo_44k(tmp_path)
    output = tmp_path / 'mono16k.wav'

    code = main(['denoise', str(source), '-o', str(output), '--model', str(identity_model_dir),
                 '--sample-rate', '16000', '--mono'])

    assert code == 0
    info = sf.info(str(output))
    assert (info.samplerate, info.channels) == (16000, 1)
    assert info.frames == round(22050 * 16000 / 44100)
    written, _ = sf.read(str(output), dtype='float64')
    # the identity model's output is the channel mean, 0.2 * sine, at the input level
    middle = written[1000:-1000]
    assert np.abs(middle).max() == pytest.approx(0.2, rel=0.01)


def test_existing_output_is_skipped_without_overwrite(noisy, tmp_path, identity_model_dir,
                                                      capsys):
    # A complete earlier output (full length, decodable) but not what this run would write.
    output = tmp_path / 'taken.wav'
    samples, rate = sf.read(noisy)
    sf.write(output, 0.5 * samples, rate)
    earlier = output.read_bytes()

    code = main(['denoise', str(noisy), '-o', str(output), '--model', str(identity_model_dir)])

    assert code == 0
    out, err = capsys.readouterr()
    assert '1 skipped' in out and '--overwrite' in out
    assert error_lines(err) == []
    assert output.read_bytes() == earlier


def test_existing_output_is_replaced_with_overwrite(noisy, tmp_path, identity_model_dir):
    output = tmp_path / 'taken.wav'
    output.write_bytes(b'replace me')

    code = main(['denoise', str(noisy), '-o', str(output), '--model', str(identity_model_dir),
                 '--overwrite'])

    assert code == 0
    assert_enhanced_copy_of(output, noisy)


@pytest.mark.parametrize('overwrite', [[], ['--overwrite']])
def test_output_onto_input_is_refused(noisy, tmp_path, identity_model_dir, capsys, overwrite):
    before = noisy.read_bytes()
    # the same file, spelled differently
    same = tmp_path / 'sub' / '..' / noisy.name
    (tmp_path / 'sub').mkdir()

    code = main(['denoise', str(noisy), '-o', str(same), '--model', str(identity_model_dir)]
                + overwrite)

    assert code == 1
    assert_one_line_error(capsys.readouterr().err, 'input')
    assert noisy.read_bytes() == before


def test_missing_input(tmp_path, identity_model_dir, capsys):
    missing = tmp_path / 'nowhere.wav'
    output = tmp_path / 'out.wav'

    code = main(['denoise', str(missing), '-o', str(output), '--model', str(identity_model_dir)])

    assert code == 1
    assert_one_line_error(capsys.readouterr().err, str(missing), 'no such file')
    assert not output.exists()


def test_unreadable_input(tmp_path, identity_model_dir, capsys):
    text = tmp_path / 'text.wav'
    text.write_text('not audio\n' * 20)

    code = main(['denoise', str(text), '-o', str(tmp_path / 'out.wav'),
                 '--model', str(identity_model_dir)])

    assert code == 1
    assert_one_line_error(capsys.readouterr().err, str(text), 'decode')
    assert not (tmp_path / 'out.wav').exists()


def test_without_a_shipped_model_says_weights_are_missing(noisy, tmp_path, capsys, monkeypatch):
    from modelscope_frcrn import hub

    monkeypatch.setattr(hub, 'DEFAULT_MODEL_DIR', tmp_path / 'no_default_model')
    output = tmp_path / 'out.wav'

    code = main(['denoise', str(noisy), '-o', str(output)])

    assert code == 1
    line = assert_one_line_error(capsys.readouterr().err, '--model', 'pytorch_model.bin')
    assert 'weights' in line
    assert not output.exists()


def test_model_directory_without_weights(noisy, tmp_path, weightless_model_dir, capsys):
    code = main(['denoise', str(noisy), '-o', str(tmp_path / 'out.wav'),
                 '--model', str(weightless_model_dir)])

    assert code == 1
    assert_one_line_error(capsys.readouterr().err, 'pytorch_model.bin')


def test_nonexistent_model_directory(noisy, tmp_path, capsys):
    missing_model = tmp_path / 'no_such_model'

    code = main(['denoise', str(noisy), '-o', str(tmp_path / 'out.wav'),
                 '--model', str(missing_model)])

    assert code == 1
    assert_one_line_error(capsys.readouterr().err, str(missing_model))


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert 'usage' in capsys.readouterr().err


def test_module_help_in_a_subprocess():
    completed = subprocess.run([sys.executable, '-m', 'modelscope_frcrn', '--help'],
                               capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                               check=False)

    assert completed.returncode == 0, completed.stderr
    assert 'usage: modelscope-frcrn' in completed.stdout
    assert 'denoise' in completed.stdout
    assert 'Traceback' not in completed.stderr
