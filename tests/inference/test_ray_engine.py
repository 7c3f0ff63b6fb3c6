"""``denoise --engine ray``: a folder with a corrupt file gives the local run's outputs, report,
summary and exit status; a rerun skips what is done; a worker killed mid-write is survived
with no partial output. One local Ray instance (2 CPUs) serves the whole module.

Skipped where ray is not installed, except under CI, which installs it (the test extra) and
where its absence fails these tests."""
import contextlib
import io
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from modelscope_frcrn.audio import streams
from modelscope_frcrn.cli import main
from modelscope_frcrn.errors import ModelNotAvailableError
from modelscope_frcrn.inference import ray_engine
from modelscope_frcrn.inference.batch import denoise_arguments, denoise_files
from modelscope_frcrn.inference.ray_engine import (DEATHS_PER_FILE, LOCAL_OBJECT_STORE_BYTES,
                                                   DenoiseActor)

try:
    import ray
except ImportError:
    ray = None

needs_ray = pytest.mark.skipif(ray is None and os.environ.get('CI') != 'true',
                               reason="ray is not installed: pip install 'modelscope_frcrn[ray]'")
FILES = 20
BAD = 'take_07.wav'
POISON = 'take_10.wav'


def run_cli(*args) -> tuple:
    """(exit code, stdout, stderr) of ``modelscope-frcrn denoise ARGS`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(['denoise', *map(str, args)])
    assert 'Traceback' not in err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope='module')
def ray_session():
    assert ray is not None, "CI installs ray (the test extra: pip install -e '.[test]')"
    ray.init(address='local', num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    yield
    ray.shutdown()


@pytest.fixture(scope='module')
def corpus(tmp_path_factory) -> Path:
    """20 recordings of 0.3-0.8 s (mono and stereo, WAV and FLAC), one of them corrupt."""
    folder = tmp_path_factory.mktemp('corpus') / 'takes'
    (folder / 'sub').mkdir(parents=True)
    rng = np.random.default_rng(16)
    for number in range(FILES):
        name = f'take_{number:02d}.' + ('flac' if number % 5 == 4 else 'wav')
        path = folder / ('sub' if number % 3 == 0 else '') / name
        channels = 2 if number % 4 == 1 else 1
        samples = 0.1 * rng.standard_normal((int(rng.uniform(0.3, 0.8) * 16000), channels))
        sf.write(str(path), samples, 16000)
    (folder / BAD).write_bytes(b'RIFF\x24\x00\x00\x00WAVEfmt garbage' * 8)
    return folder


@pytest.fixture(scope='module')
def local_run(corpus, random_model_dir, tmp_path_factory) -> dict:
    """The local engine's run of the corpus (1 thread, as each Ray worker)."""
    work = tmp_path_factory.mktemp('local')
    threads = torch.get_num_threads()
    try:
        code, out, err = run_cli(corpus, '-o', work / 'out', '--model', random_model_dir,
                                 '--threads', 1, '--quiet', '--report', work / 'report.json')
    finally:
        torch.set_num_threads(threads)
    return dict(code=code, out=out, err=err, folder=work / 'out',
                report=json.loads((work / 'report.json').read_text()))


def actor_killed_mid_write(marker: Path) -> type:
    """A :class:`DenoiseActor` whose process, the first time any of them writes an output,
    writes the whole file under its temporary name, notes its pid in ``marker`` and kills
    itself with SIGKILL."""

    class KilledMidWrite(DenoiseActor):
        def __call__(self, rows):
            try:
                descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return super().__call__(rows)
            os.write(descriptor, str(os.getpid()).encode())
            os.close(descriptor)
            write_atomically = streams.write_atomically

            def die_before_the_rename(path, write):
                def write_then_die(stream):
                    write(stream)
                    stream.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                write_atomically(path, write_then_die)

            streams.write_atomically = die_before_the_rename
            return super().__call__(rows)

    return KilledMidWrite


def actor_killed_by_one_file() -> type:
    """A :class:`DenoiseActor` whose process dies (SIGKILL) whenever it is about to denoise
    ``POISON``, as a worker would from a crash in a decoder."""

    class KilledByOneFile(DenoiseActor):
        def __init__(self, *args):
            super().__init__(*args)
            run_jobs = ray_engine.run_jobs

            def run_or_die(jobs, *args, **options):
                if any(job.input.endswith(POISON) for job in jobs):
                    os.kill(os.getpid(), signal.SIGKILL)
                return run_jobs(jobs, *args, **options)

            ray_engine.run_jobs = run_or_die  # in this worker's process only

    return KilledByOneFile


@pytest.fixture(scope='module')
def ray_run(ray_session, corpus, random_model_dir, tmp_path_factory) -> dict:
    """The corpus on Ray (2 workers), one of which is killed writing its first output."""
    work = tmp_path_factory.mktemp('ray')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_engine, 'DenoiseActor', actor_killed_mid_write(work / 'killed_pid'))
        code, out, err = run_cli(corpus, '-o', work / 'out', '--model', random_model_dir,
                                 '--engine', 'ray', '--workers', 2, '--quiet',
                                 '--report', work / 'report.json')
    return dict(code=code, out=out, err=err, folder=work / 'out', killed=work / 'killed_pid',
                report=json.loads((work / 'report.json').read_text()))


def files_under(folder: Path) -> dict:
    """Every file under ``folder`` (temporary ones too) by its relative path."""
    return {str(path.relative_to(folder)): path for path in sorted(folder.rglob('*'))
            if path.is_file()}


def same_audio(first: Path, second: Path) -> bool:
    (a, rate_a), (b, rate_b) = sf.read(str(first)), sf.read(str(second))
    return rate_a == rate_b and sf.info(str(first)).subtype == sf.info(str(second)).subtype \
        and a.shape == b.shape and np.array_equal(a, b)


def by_input(report: dict) -> dict:
    return {entry['input']: (entry['output'] is not None, entry['status'], entry['error'])
            for entry in report['files']}


@needs_ray
def test_a_folder_with_a_corrupt_file_gives_the_local_outputs_report_and_exit_status(
        local_run, ray_run):
    assert ray_run['code'] == local_run['code'] == 1
    assert ray_run['out'].splitlines()[-1] == local_run['out'].splitlines()[-1] \
        == f'{FILES - 1} denoised, 0 skipped, 1 failed'
    errors = [line for line in ray_run['err'].splitlines() if 'error:' in line]
    assert len(errors) == 1 and BAD in errors[0] and 'decode' in errors[0]

    outputs, expected = files_under(ray_run['folder']), files_under(local_run['folder'])
    assert sorted(outputs) == sorted(expected) and len(outputs) == FILES - 1
    assert all(same_audio(outputs[name], expected[name]) for name in outputs)

    assert by_input(ray_run['report']) == by_input(local_run['report'])
    assert ray_run['report']['summary'] == {'denoised': FILES - 1, 'skipped': 0, 'failed': 1,
                                            'not_audio': 0}
    assert all(entry['seconds'] > 0 for entry in ray_run['report']['files'])


@needs_ray
def test_a_worker_killed_mid_write_is_restarted_and_its_file_done_again(ray_run):
    with pytest.raises(ProcessLookupError):  # it was killed...
        os.kill(int(ray_run['killed'].read_text()), 0)
    # ...and, above, every output is there and equal to the local one; here: nothing else
    assert all(name.endswith(('.wav', '.flac')) and not name.startswith('.')
               for name in files_under(ray_run['folder']))
    assert len(files_under(ray_run['folder'])) == FILES - 1


@needs_ray
def test_a_rerun_skips_every_finished_file(ray_run, corpus, random_model_dir):
    modified = {name: path.stat().st_mtime_ns
                for name, path in files_under(ray_run['folder']).items()}

    summary = denoise_files([corpus], ray_run['folder'], engine='ray', workers=1,
                            model=str(random_model_dir), quiet=True)

    assert (summary.done, summary.skipped, summary.failed) == (0, FILES - 1, 1)
    assert {name: path.stat().st_mtime_ns
            for name, path in files_under(ray_run['folder']).items()} == modified


@needs_ray
def test_a_file_that_kills_every_worker_is_reported_failed_and_the_run_goes_on(
        ray_session, corpus, random_model_dir, local_run, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_engine, 'DenoiseActor', actor_killed_by_one_file())

    code, out, err = run_cli(corpus, '-o', tmp_path / 'out', '--model', random_model_dir,
                             '--engine', 'ray', '--workers', 2, '--batch-size', 4, '--quiet',
                             '--report', tmp_path / 'report.json')

    assert code == 1 and out.splitlines()[-1] == f'{FILES - 2} denoised, 0 skipped, 2 failed'
    errors = [line for line in err.splitlines() if 'error:' in line]
    poisoned = [line for line in errors if POISON in line]  # in whatever order Ray returns them
    assert len(errors) == 2 and len(poisoned) == 1 \
        and f'died each of the {DEATHS_PER_FILE} times it opened this file' in poisoned[0]
    outputs, expected = files_under(tmp_path / 'out'), files_under(local_run['folder'])
    assert sorted(outputs) == sorted(name for name in expected if not name.endswith(POISON))
    # files done one at a time by a worker that later died keep their outcome, not 'skipped'
    statuses = {entry['input']: entry['status']
                for entry in json.loads((tmp_path / 'report.json').read_text())['files']}
    assert statuses == {entry['input']: 'failed' if entry['input'].endswith(POISON)
                        else entry['status'] for entry in local_run['report']['files']}


def test_the_local_engine_reports_every_file_as_json(local_run):
    report = local_run['report']

    assert report['summary'] == {'denoised': FILES - 1, 'skipped': 0, 'failed': 1,
                                 'not_audio': 0}
    assert len(report['files']) == FILES
    failed = [entry for entry in report['files'] if entry['status'] == 'failed']
    assert len(failed) == 1 and failed[0]['input'].endswith(BAD) and 'decode' in failed[0]['error']
    assert all(entry['seconds'] > 0 and entry['error'] is None
               for entry in report['files'] if entry['status'] == 'denoised')


def test_an_error_that_ends_a_run_comes_back_from_a_worker_to_be_raised(corpus, tmp_path):
    """As in a local run, a model that cannot be loaded ends the run with its own error."""
    args = denoise_arguments([str(corpus)], str(tmp_path), engine='ray',
                             model=str(tmp_path / 'no_model'))
    batch = {'index': np.array([3]), 'input': np.array([str(corpus / 'take_01.wav')]),
             'output': np.array([str(tmp_path / 'take_01.wav')])}

    columns = DenoiseActor(args)(batch)

    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    with pytest.raises(ModelNotAvailableError, match='no_model'):
        ray_engine._collect(rows, jobs=[], progress=False)


def test_without_ray_the_engine_is_one_clear_error(monkeypatch, tmp_path, random_model_dir):
    source = tmp_path / 'in.wav'
    sf.write(str(source), np.zeros(8000), 16000)
    monkeypatch.setitem(sys.modules, 'ray', None)  # import ray: ImportError

    code, _, err = run_cli(source, '--engine', 'ray', '--model', random_model_dir)

    assert code == 1
    assert "--engine ray needs Ray Data" in err and "pip install 'modelscope_frcrn[ray]'" in err


@pytest.mark.parametrize('options, message', [
    (['--workers', '2'], '--workers needs --engine ray'),
    (['--ray-address', 'auto'], '--ray-address needs --engine ray'),
    (['--gpus-per-worker', '1'], '--gpus-per-worker needs --engine ray'),
    (['--engine', 'ray', '--device', 'cuda'], 'both --device cuda and --gpus-per-worker'),
    (['--engine', 'ray', '--gpus-per-worker', '1'], 'both --device cuda and --gpus-per-worker'),
])
def test_options_that_do_not_go_together_are_refused_before_any_work(options, message,
                                                                     corpus, tmp_path):
    code, _, err = run_cli(corpus, '-o', tmp_path, *options)

    assert code == 1 and message in err
