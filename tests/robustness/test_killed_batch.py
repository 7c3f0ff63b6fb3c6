"""A folder run killed with SIGKILL in the middle, then run again: no output is ever partial,
and the rerun finishes exactly the files the first run did not, leaving nothing else behind."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import soundfile as sf

FILES = 4
SECONDS = 10  # long enough that the kill lands while the next file is being written


def same_audio(source, output) -> bool:
    """The identity model's output: the input's samples within int16 rounding."""
    original, rate = sf.read(str(source), dtype='int16')
    written, written_rate = sf.read(str(output), dtype='int16')
    return (rate == written_rate and original.shape == written.shape
            and np.abs(original.astype(np.int32) - written).max() <= 2)


def listing(folder):
    """The folder's files (a file can vanish between listing and stat: a rename)."""
    return list(folder.iterdir()) if folder.is_dir() else []


def partial_files(folder) -> dict:
    """name -> size of the hidden temporary files of writes in progress (write_atomically's)."""
    found = {}
    for path in listing(folder):
        try:
            if path.name.startswith('.') and path.suffix == '.part':
                found[path.name] = path.stat().st_size
        except FileNotFoundError:  # renamed meanwhile
            pass
    return found


def test_a_killed_folder_run_resumes_with_no_partial_output(tmp_path, identity_model_dir):
    inputs, outputs = tmp_path / 'in', tmp_path / 'out'
    inputs.mkdir()
    rng = np.random.default_rng(0)
    names = [f'take_{number}.wav' for number in range(FILES)]
    for name in names:
        sf.write(str(inputs / name), 0.1 * rng.standard_normal(16000 * SECONDS), 16000)
    command = [sys.executable, '-m', 'modelscope_frcrn', 'denoise', str(inputs), '-o',
               str(outputs), '--model', str(identity_model_dir), '--quiet', '--threads', '1']

    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    # killed once a file is finished and the next one is half written (its temporary file has
    # more than a header), so the kill lands in the middle of a write
    while not (any(path.suffix == '.wav' for path in listing(outputs))
               and any(size > 1000 for size in partial_files(outputs).values())):
        assert first.poll() is None, first.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    first.stderr.close()

    finished = sorted(path.name for path in outputs.iterdir() if path.suffix == '.wav')
    assert 1 <= len(finished) < FILES and partial_files(outputs)  # the write the kill cut short
    assert all(same_audio(inputs / name, outputs / name) for name in finished)

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip().splitlines()[-1].startswith(
        f'{FILES - len(finished)} denoised, {len(finished)} skipped, 0 failed')
    assert sorted(path.name for path in outputs.iterdir()) == names  # no temporary file left
    assert all(same_audio(inputs / name, outputs / name) for name in names)
