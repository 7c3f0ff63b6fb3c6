"""``modelscope-frcrn denoise`` over files, folders and globs: where outputs go, resuming,
one bad file among good ones, progress, help."""
import os

import numpy as np
import pytest
import soundfile as sf

from modelscope_frcrn.cli import main
from modelscope_frcrn.inference.batch import plan_jobs


def touch_audio(path, seconds: float = 0.5, rate: int = 16000, channels: int = 1):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    sf.write(str(path), (0.1 * rng.standard_normal((int(seconds * rate), channels))), rate)
    return path


@pytest.fixture
def recordings(tmp_path):
    """recordings/{a.wav, b.flac, sub/c.wav, notes.txt}"""
    root = tmp_path / 'recordings'
    for name in ('a.wav', 'b.flac', 'sub/c.wav'):
        touch_audio(root / name)
    (root / 'notes.txt').write_text('not audio')
    return root


def pairs(plan, base):
    return sorted((os.path.relpath(job.input, base), os.path.relpath(job.output, base))
                  for job in plan.jobs)


# ----------------------------------------------------------------------------- planning

def test_folder_keeps_its_layout_under_the_output_folder(recordings, tmp_path):
    plan = plan_jobs([str(recordings)], str(tmp_path / 'out'))

    assert pairs(plan, tmp_path) == [('recordings/a.wav', 'out/a.wav'),
                                     ('recordings/b.flac', 'out/b.flac'),
                                     ('recordings/sub/c.wav', 'out/sub/c.wav')]
    assert plan.problems == []


def test_folder_without_output_goes_to_a_sibling_folder(recordings, tmp_path):
    plan = plan_jobs([str(recordings)])

    assert ('recordings/sub/c.wav', 'recordings_enhanced/sub/c.wav') in pairs(plan, tmp_path)


def test_file_without_output_goes_beside_it(recordings, tmp_path):
    plan = plan_jobs([str(recordings / 'b.flac')])

    assert pairs(plan, tmp_path) == [('recordings/b.flac', 'recordings/b_enhanced.flac')]


def test_single_file_output_is_a_file_unless_it_is_a_folder(recordings, tmp_path):
    assert pairs(plan_jobs([str(recordings / 'a.wav')], str(tmp_path / 'x.flac')), tmp_path) == \
        [('recordings/a.wav', 'x.flac')]
    (tmp_path / 'existing').mkdir()
    assert pairs(plan_jobs([str(recordings / 'a.wav')], str(tmp_path / 'existing')), tmp_path) \
        == [('recordings/a.wav', 'existing/a.wav')]


def test_glob_is_relative_to_its_fixed_folder(recordings, tmp_path):
    plan = plan_jobs([str(recordings) + '/**/*.wav'], str(tmp_path / 'out'))

    assert pairs(plan, tmp_path) == [('recordings/a.wav', 'out/a.wav'),
                                     ('recordings/sub/c.wav', 'out/sub/c.wav')]


def test_output_folder_inside_the_input_folder_is_not_read_again(recordings):
    touch_audio(recordings / 'enhanced' / 'a.wav')  # a previous run's output

    plan = plan_jobs([str(recordings)], str(recordings / 'enhanced'))

    assert all('enhanced' not in os.path.relpath(job.input, recordings) for job in plan.jobs)
    assert len(plan.jobs) == 3


def test_outputs_that_would_replace_inputs_are_refused(recordings):
    plan = plan_jobs([str(recordings)], str(recordings))

    assert plan.jobs == []
    assert len(plan.problems) == 3
    assert all('onto an input' in reason for _, reason in plan.problems)


def test_missing_inputs_and_empty_globs_are_problems(tmp_path):
    plan = plan_jobs([str(tmp_path / 'nothing.wav'), str(tmp_path / '*.mp3')], str(tmp_path / 'o'))

    assert plan.jobs == []
    assert [reason for _, reason in plan.problems] == ['no such file or folder',
                                                       'no file matches this pattern']


def test_ffmpeg_only_inputs_get_a_wav_output(tmp_path):
    (tmp_path / 'talk.m4a').write_bytes(b'...')

    plan = plan_jobs([str(tmp_path / 'talk.m4a')])

    assert plan.jobs[0].output == str(tmp_path / 'talk_enhanced.wav')


def test_two_inputs_with_the_same_output_name(tmp_path):
    first, second = touch_audio(tmp_path / 'x' / 'a.wav'), touch_audio(tmp_path / 'y' / 'a.wav')

    plan = plan_jobs([str(first), str(second)], str(tmp_path / 'out'))

    assert len(plan.jobs) == 1
    assert 'same output' in plan.problems[0][1]


# ----------------------------------------------------------------------------- running

def run_cli(capsys, *args):
    code = main(['denoise', *map(str, args)])
    out, err = capsys.readouterr()
    assert 'Traceback' not in err
    return code, out, err


def error_lines(err):
    return [line for line in err.splitlines() if 'modelscope-frcrn: error:' in line]


def test_one_bad_file_is_reported_and_the_rest_processed(recordings, tmp_path, capsys,
                                                         identity_model_dir):
    (recordings / 'sub' / 'broken.wav').write_text('definitely not a wav file\n' * 10)
    out_dir = tmp_path / 'out'

    code, out, err = run_cli(capsys, recordings, '-o', out_dir, '--model', identity_model_dir)

    assert code == 1
    lines = error_lines(err)
    assert len(lines) == 1 and 'broken.wav' in lines[0] and 'decode' in lines[0]
    assert '3 denoised, 0 skipped, 1 failed' in out
    for name in ('a.wav', 'b.flac', 'sub/c.wav'):
        assert sf.info(str(out_dir / name)).frames == sf.info(str(recordings / name)).frames
    assert not (out_dir / 'sub' / 'broken.wav').exists()


def test_rerun_skips_finished_outputs_and_overwrite_redoes_them(recordings, tmp_path, capsys,
                                                                identity_model_dir):
    out_dir = tmp_path / 'out'
    assert run_cli(capsys, recordings, '-o', out_dir, '--model', identity_model_dir)[0] == 0
    (out_dir / 'a.wav').unlink()  # as if the first run was interrupted before a.wav
    finished = ('b.flac', 'sub/c.wav')
    for name in finished:  # silence marks the outputs that a rerun must leave alone
        sf.write(str(out_dir / name), np.zeros(8000), 16000)
    marked = {name: (out_dir / name).read_bytes() for name in finished}

    code, out, _ = run_cli(capsys, recordings, '-o', out_dir, '--model', identity_model_dir)

    assert code == 0 and '1 denoised, 2 skipped, 0 failed' in out
    assert (out_dir / 'a.wav').exists()
    assert marked == {name: (out_dir / name).read_bytes() for name in finished}

    code, out, _ = run_cli(capsys, recordings, '-o', out_dir, '--model', identity_model_dir,
                           '--overwrite')

    assert code == 0 and '3 denoised, 0 skipped' in out
    for name in finished:
        assert np.abs(sf.read(str(out_dir / name))[0]).max() > 0.01, name


def test_skipped_files_do_not_load_the_model(recordings, tmp_path, capsys):
    """A finished run resumes instantly: nothing to do, no model needed (this one is absent)."""
    out_dir = tmp_path / 'out'
    for name in ('a.wav', 'b.flac', 'sub/c.wav'):
        touch_audio(out_dir / name)

    code, out, _ = run_cli(capsys, recordings, '-o', out_dir, '--model', tmp_path / 'no_model')

    assert code == 0 and '3 skipped' in out


def test_progress_bars_over_files_and_chunks(tmp_path, capsys, identity_model_dir):
    touch_audio(tmp_path / 'in' / 'short.wav')
    touch_audio(tmp_path / 'in' / 'long.wav', seconds=6.0)

    code, _, err = run_cli(capsys, tmp_path / 'in', '-o', tmp_path / 'out', '--model',
                           identity_model_dir, '--chunk-seconds', '2')

    assert code == 0
    assert '2/2' in err and 'file' in err  # the bar over files
    assert 'chunk' in err  # the bar over the long file's chunks


def test_quiet_has_no_progress_bars(tmp_path, capsys, identity_model_dir):
    touch_audio(tmp_path / 'in' / 'one.wav')
    touch_audio(tmp_path / 'in' / 'two.wav')

    code, _, err = run_cli(capsys, tmp_path / 'in', '-o', tmp_path / 'out', '--model',
                           identity_model_dir, '--quiet')

    assert code == 0 and '2/2' not in err


def test_help_explains_inputs_outputs_and_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(['denoise', '--help'])

    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for words in ('folder', 'glob', '--overwrite', '--sample-rate', '--mono', '--chunk-seconds',
                  '--threads', '--device', '--model', 'exit status', 'atomically'):
        assert words in text, words


@pytest.mark.parametrize('option, value', [('--threads', '0'), ('--chunk-seconds', '-1'),
                                           ('--sample-rate', 'fast')])
def test_bad_option_values_are_usage_errors(option, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(['denoise', 'x.wav', option, value])

    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_unsupported_precision_is_one_clear_error(tmp_path, capsys, identity_model_dir):
    source = touch_audio(tmp_path / 'in.wav')

    code, _, err = run_cli(capsys, source, '--model', identity_model_dir, '--precision', 'fp16')

    assert code == 1
    lines = error_lines(err)
    assert len(lines) == 1 and 'fp16' in lines[0] and 'cuda' in lines[0]


def test_onnx_backend_matches_torch(tmp_path, capsys, random_model_dir):
    pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (extra [onnx])')
    pytest.importorskip('onnx', reason='onnx is not installed (extra [onnx])')
    source = touch_audio(tmp_path / 'in.wav', seconds=2.0)
    outputs = {}
    for backend in ('torch', 'onnx'):
        outputs[backend] = tmp_path / f'{backend}.wav'
        code, _, _ = run_cli(capsys, source, '-o', outputs[backend], '--model', random_model_dir,
                             '--backend', backend)
        assert code == 0

    torch_out, _ = sf.read(str(outputs['torch']), dtype='int16')
    onnx_out, _ = sf.read(str(outputs['onnx']), dtype='int16')
    assert np.abs(torch_out.astype(np.int32) - onnx_out).max() <= 2


def test_the_cli_tunes_the_allocator_for_its_own_process(tmp_path, capsys, identity_model_dir,
                                                         monkeypatch):
    from modelscope_frcrn.inference import backends

    calls = []
    monkeypatch.setattr(backends, 'tune_malloc', lambda *args: calls.append(args))
    code, _, _ = run_cli(capsys, touch_audio(tmp_path / 'in.wav'), '--model', identity_model_dir)
    assert code == 0 and len(calls) == 1


# ----------------------------------------------------------------------------- recursive globs

def test_a_recursive_glob_plans_each_file_once_and_counts_what_is_not_audio(recordings, tmp_path):
    plan = plan_jobs([str(recordings) + '/**'], str(tmp_path / 'out'))

    assert pairs(plan, tmp_path) == [('recordings/a.wav', 'out/a.wav'),
                                     ('recordings/b.flac', 'out/b.flac'),
                                     ('recordings/sub/c.wav', 'out/sub/c.wav')]
    assert plan.problems == []
    assert [os.path.basename(path) for path in plan.not_audio] == ['notes.txt']


def test_an_input_named_twice_is_planned_once(recordings, tmp_path):
    plan = plan_jobs([str(recordings), str(recordings / 'a.wav'), str(recordings) + '/*.wav'],
                     str(tmp_path / 'out'))

    assert sorted(os.path.relpath(job.input, recordings) for job in plan.jobs) == \
        ['a.wav', 'b.flac', 'sub/c.wav']
    assert plan.problems == []


def test_a_glob_never_reads_the_output_folder_inside_it(recordings, tmp_path, capsys,
                                                        identity_model_dir):
    pattern, out_dir = str(recordings) + '/**/*.wav', recordings / 'out'
    for _ in range(2):  # a rerun must neither read the outputs nor nest out/out/...
        code, out, _ = run_cli(capsys, pattern, '-o', out_dir, '--model', identity_model_dir)
        assert code == 0
    assert sorted(str(path.relative_to(out_dir)) for path in out_dir.rglob('*')
                  if path.is_file()) == ['a.wav', 'sub/c.wav']
    assert '0 denoised, 2 skipped, 0 failed' in out


def test_the_summary_counts_non_audio_files_a_pattern_matched(recordings, tmp_path, capsys,
                                                              identity_model_dir):
    code, out, err = run_cli(capsys, str(recordings) + '/**', '-o', tmp_path / 'out', '--model',
                             identity_model_dir)

    assert code == 0 and error_lines(err) == []
    assert '3 denoised, 0 skipped, 0 failed; 1 non-audio files matched by a pattern' in out


# ----------------------------------------------------------------------------- resume check

def test_a_truncated_output_is_redone_not_skipped(recordings, tmp_path, capsys,
                                                  identity_model_dir):
    out_dir = tmp_path / 'out'
    assert run_cli(capsys, recordings, '-o', out_dir, '--model', identity_model_dir)[0] == 0
    complete = (out_dir / 'a.wav').read_bytes()
    (out_dir / 'a.wav').write_bytes(complete[:len(complete) // 2])  # an older version's crash

    code, out, _ = run_cli(capsys, recordings, '-o', out_dir, '--model', identity_model_dir)

    assert code == 0 and '1 denoised, 2 skipped, 0 failed' in out
    assert sf.info(str(out_dir / 'a.wav')).frames == sf.info(str(recordings / 'a.wav')).frames
