"""Every hostile file (hostile_audio.py: truncations, header flips, header lies) through the
pipeline, the CLI and the demo's decoder: each ends in one of our exceptions or a correct
output, never another exception, never a hang. The network is replaced by a pass-through
(decoding is the point here), so a correct output reproduces the decoded input."""
import io
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import pytest
import soundfile as sf

from hostile_audio import CASE_SECONDS, HEADER_LIES, hang_guard, hostile_cases
from modelscope_frcrn.audio import MODEL_SAMPLE_RATE, resample, streams
from modelscope_frcrn.cli import main
from modelscope_frcrn.errors import FRCRNError
from modelscope_frcrn.inference import batch, load_pipeline
from modelscope_frcrn.inference.denoiser import Denoiser
from modelscope_frcrn.serve.worker import check_upload, decode_mono

#: int16 rounding on the way out, plus the level normalisation's float error
TOLERANCE = 3 / 32768
RESAMPLED_TOLERANCE = 0.03
LIES = {f'lie_{name}.{"flac" if name.startswith("flac") else "wav"}': data
        for name, data in HEADER_LIES.items()}


def passthrough(chunk: np.ndarray) -> np.ndarray:
    return chunk


@pytest.fixture(scope='module')
def cases() -> Dict[str, bytes]:
    return {**hostile_cases(), **LIES}


def decoded(data: bytes) -> Optional[Tuple[np.ndarray, int]]:
    """What a correct reader makes of ``data``: ``[C, T]`` float32 and the rate, or None.
    (Read in small pieces until the data ends: ``sf.read`` trusts the header's length.)"""
    try:
        with sf.SoundFile(io.BytesIO(data)) as stream:
            pieces = [np.zeros((0, stream.channels), np.float32)]
            while len(pieces[-1]) or len(pieces) == 1:
                pieces.append(stream.read(4096, dtype='float32', always_2d=True))
            return np.concatenate(pieces).T, stream.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None


def decoded_mono(data: bytes, output_rate: Callable[[int], int]) -> np.ndarray:
    """``data`` decoded, mixed down and resampled to ``output_rate(its rate)``. Shape: ``[T]``."""
    samples, rate = decoded(data)
    return resample(samples.mean(axis=0, keepdims=True), rate, output_rate(rate))[0]


def demo_rate(rate: int) -> int:
    """The demo answers at the upload's rate, within 16..48 kHz."""
    return min(max(rate, 16000), 48000)


def run_case(name: str, call) -> Optional[object]:
    """``call()``'s result, or None for one of our exceptions; anything else fails the test
    naming the case. A case over CASE_SECONDS ends the run (hang_guard)."""
    with hang_guard():
        try:
            return call()
        except FRCRNError:
            return None
        except Exception as error:
            raise AssertionError(f'{name}: {type(error).__name__}: {error}') from error


def test_every_hostile_file_through_the_pipeline(cases, identity_model_dir):
    pipeline = load_pipeline(str(identity_model_dir))
    pipeline.denoiser = Denoiser(passthrough)
    wrong, slowest = [], 0.0
    for name, data in cases.items():
        started = time.monotonic()
        result = run_case(name, lambda: pipeline(data))
        slowest = max(slowest, time.monotonic() - started)
        if result is not None:
            output = np.frombuffer(result['output_pcm'], '<i2') / 32768
            expected = decoded_mono(data, lambda rate: MODEL_SAMPLE_RATE)
            if output.shape != expected.shape or np.abs(output - expected).max() > TOLERANCE:
                wrong.append(name)
    assert wrong == []
    assert slowest < CASE_SECONDS


def test_every_hostile_file_through_the_demo_decoder(cases):
    wrong = []
    for name, data in cases.items():
        decoded_upload = run_case(name, lambda: (check_upload(data), decode_mono(data))[1])
        if decoded_upload is not None:
            mono, expected = decoded_upload[0], decoded_mono(data, demo_rate)
            if mono.shape != expected.shape or np.abs(mono - expected).max() > 1e-5:
                wrong.append(name)
    assert wrong == []


def test_every_hostile_file_through_the_cli(cases, tmp_path, capsys, monkeypatch):
    inputs, outputs = tmp_path / 'in', tmp_path / 'out'
    inputs.mkdir()
    for name, data in cases.items():
        (inputs / name).write_bytes(data)
    seconds = {}

    class TimedDenoiser(Denoiser):
        """Each file's time measured, and each file bounded by hang_guard on its own."""

        def denoise_file(self, input_path, *args, **kwargs):
            started = time.monotonic()
            try:
                with hang_guard():
                    return super().denoise_file(input_path, *args, **kwargs)
            finally:
                seconds[Path(input_path).name] = time.monotonic() - started

    monkeypatch.setattr(batch, '_build_denoiser', lambda args: TimedDenoiser(passthrough))
    # without FFmpeg: its fallback would run once per file libsndfile rejects (about 1500
    # here, minutes in all); tests/inference covers that path
    monkeypatch.setattr(streams.shutil, 'which', lambda name: None)
    code = main(['denoise', str(inputs), '-o', str(outputs), '--quiet'])
    out, err = capsys.readouterr()
    assert sorted(seconds) == sorted(cases)  # every case went through the timed denoiser
    assert max(seconds.values()) < CASE_SECONDS
    assert 'Traceback' not in err
    failed = [line for line in err.splitlines() if line.startswith('modelscope-frcrn: error: ')]
    written = sorted(path.name for path in outputs.iterdir()) if outputs.exists() else []
    assert out.strip().splitlines()[-1] == (f'{len(written)} denoised, 0 skipped, '
                                            f'{len(failed)} failed')
    assert code == 1 and len(written) + len(failed) == len(cases)
    assert all(name in cases for name in written)  # no temporary or partial file left
    wrong = [name for name in written if not _is_correct_output(inputs / name, outputs / name)]
    assert wrong == []


def _is_correct_output(source: Path, output: Path) -> bool:
    """Same rate and channels; lossless: the same samples (over the decodable length), up to
    the error of resampling to 16 kHz and back where a flip changed the rate (measured 0.009
    at most for this 0.3-amplitude tone); MP3: as long as the input within one MPEG frame."""
    expected, rate = decoded(source.read_bytes())
    written, written_rate = decoded(output.read_bytes())
    if written_rate != rate or written.shape[0] != expected.shape[0]:
        return False
    if source.suffix == '.mp3':
        return abs(written.shape[1] - expected.shape[1]) <= 1152
    length = min(written.shape[1], expected.shape[1])
    tolerance = TOLERANCE if rate == MODEL_SAMPLE_RATE else RESAMPLED_TOLERANCE
    return (written.shape[1] == sf.info(str(source)).frames
            and np.abs(written[:, :length] - expected[:, :length]).max() <= tolerance)
