"""``denoise - -o -``: WAV or raw PCM through stdin/stdout as it flows, endless inputs,
readers that leave early and Ctrl-C ending cleanly."""
import argparse
import io
import shutil
import signal
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from modelscope_frcrn.cli import main
from modelscope_frcrn.errors import AudioDecodeError, EmptyAudioError
from modelscope_frcrn.inference.loading import load_enhancer
from modelscope_frcrn.inference.pipe import PcmFormat, parse_raw, pcm_blocks, read_wav_header
from modelscope_frcrn.inference.streaming import StreamDenoiser

RATE = 16000
LATENCY = 0.3


def endless_noise(rate: int, channels: int, block_seconds: float = 0.01, seed: int = 0):
    """An endless generator of ``[n, C]`` float32 noise blocks (a pipe that never ends)."""
    rng = np.random.default_rng(seed)
    while True:
        yield (0.05 * rng.standard_normal((round(block_seconds * rate), channels))
               ).astype(np.float32)


def denoise_command(model_dir, *options):
    return [sys.executable, '-m', 'modelscope_frcrn', 'denoise', '-', '-o', '-', '--model',
            str(model_dir), '--threads', '1', '--latency', str(LATENCY), *options]


class Feeder(threading.Thread):
    """Writes a header and blocks of an endless generator to ``stdin`` for ``seconds`` (None:
    until the reader is gone), then closes it; keeps what it wrote."""

    def __init__(self, stdin, header: bytes, pcm: PcmFormat, seconds=None):
        super().__init__(daemon=True)
        self.stdin, self.header, self.pcm, self.seconds = stdin, header, pcm, seconds
        self.written = []

    def run(self):
        try:
            self.stdin.write(self.header)
            frames = 0
            for block in endless_noise(self.pcm.sample_rate, self.pcm.channels):
                if self.seconds is not None and frames >= self.seconds * self.pcm.sample_rate:
                    break
                self.stdin.write(self.pcm.encode(block))
                self.written.append(block)
                frames += len(block)
            self.stdin.close()
        except (BrokenPipeError, ValueError):
            pass  # the command ended first


def test_an_endless_wav_stream_cut_after_two_seconds_comes_out_whole(random_model_dir):
    """Float WAV of unknown length in; the same length out, equal to the stream's output
    (itself equal to the file path's, see test_streaming) once its delay is taken off."""
    pcm = PcmFormat('f32le', RATE, 2)
    process = subprocess.Popen(denoise_command(random_model_dir), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = Feeder(process.stdin, pcm.wav_header(), pcm, seconds=2.0)
    feeder.start()
    errors = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
    reader.start()
    output = process.stdout.read()  # not communicate(): it would close stdin under the feeder
    process.wait(timeout=300)
    feeder.join()
    reader.join()
    errors = errors[0]

    assert process.returncode == 0, errors.decode()
    assert b'Traceback' not in errors
    written = np.concatenate(feeder.written)
    received, rate = sf.read(io.BytesIO(_with_sizes(output)), dtype='float32')
    assert rate == RATE and received.shape == written.shape
    stream = StreamDenoiser(load_enhancer(str(random_model_dir)), RATE, 2, latency_seconds=LATENCY)
    expected = np.concatenate([stream.process(written), stream.flush()])[stream.latency:]
    np.testing.assert_allclose(received, expected, atol=1e-5)


def run_in_process(monkeypatch, argv, stdin: bytes):
    """``modelscope-frcrn ARGV`` in this process with ``stdin``: (exit code, stdout bytes)."""
    monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(stdin)))
    stdout = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, 'stdout', stdout)
    code = main(argv)
    return code, stdout.buffer.getvalue()


def test_raw_pcm_in_and_out(random_model_dir, monkeypatch):
    pcm = PcmFormat('s16le', 8000, 1)
    samples = next(endless_noise(8000, 1, block_seconds=1.5))

    code, output = run_in_process(monkeypatch, denoise_command(random_model_dir)[3:] + [
        '--raw', 's16le:8000:1', '--latency', '0.5', '--mono'], pcm.encode(samples))

    assert code == 0
    assert len(output) == len(samples) * 2


def as_in_a_terminal():
    """SIGINT at its default in the child, as for a command run in a terminal: a test run
    started in the background by a shell without job control has it ignored, and Python
    leaves an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def running_pipe(model_dir):
    """The pipe command fed an endless WAV stream, once half a second of output has come out:
    (process, feeder thread)."""
    pcm = PcmFormat('s16le', RATE, 1)
    process = subprocess.Popen(denoise_command(model_dir), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=as_in_a_terminal)
    feeder = Feeder(process.stdin, pcm.wav_header(), pcm)
    feeder.start()
    process.stdout.read(RATE)
    return process, feeder


def test_a_reader_that_leaves_early_ends_the_command_quietly(random_model_dir):
    """SIGPIPE: the downstream command closes its end; no traceback, exit 0."""
    process, feeder = running_pipe(random_model_dir)
    process.stdout.close()
    errors = process.stderr.read()
    process.wait(timeout=120)
    feeder.join(timeout=10)

    assert process.returncode == 0
    assert b'Traceback' not in errors and b'Exception' not in errors


def test_ctrl_c_ends_the_command_without_a_traceback(random_model_dir):
    process, _ = running_pipe(random_model_dir)
    process.send_signal(signal.SIGINT)
    threading.Thread(target=process.stdout.read, daemon=True).start()
    errors = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
    reader.start()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail('the command was still running 60 s after SIGINT')
    reader.join()
    errors = errors[0]

    assert process.returncode == 130
    assert b'Traceback' not in errors and b'interrupted' in errors


@pytest.mark.slow  # CI keeps the pipe through test_an_endless_wav_stream_cut_after_two_seconds_...
@pytest.mark.skipif(shutil.which('ffmpeg') is None, reason='needs the ffmpeg program')
def test_ffmpeg_to_denoise_to_ffmpeg(random_model_dir, tmp_path):
    output = tmp_path / 'out.flac'
    chain = (f'ffmpeg -v error -f lavfi -i anoisesrc=d=2:c=pink:r=48000:a=0.05 -ac 2 -f wav - | '
             f'{" ".join(denoise_command(random_model_dir))} | '
             f'ffmpeg -v error -y -f wav -i - {output}')
    completed = subprocess.run(['bash', '-o', 'pipefail', '-c', chain], capture_output=True,
                               text=True, timeout=300)

    assert completed.returncode == 0, completed.stderr
    info = sf.info(str(output))
    assert (info.samplerate, info.channels, info.frames) == (48000, 2, 96000)


def test_not_wav_on_stdin_is_one_clear_line(monkeypatch, capsys):
    code, output = run_in_process(monkeypatch, ['denoise', '-', '-o', '-'], b'ID3 an mp3')

    assert code == 1 and output == b''
    assert capsys.readouterr().err.strip() == (
        'modelscope-frcrn: error: standard input is not a WAV stream (no RIFF/WAVE header); '
        'for raw PCM give its format, e.g. --raw s16le:16000:1')


@pytest.mark.parametrize('argv, message', [
    (['x.wav', '-o', '-'], "use 'denoise - -o -'"),
    (['-', '-o', '-', '--sample-rate', '16000'], 'a pipe keeps its sample rate'),
])
def test_pipe_options_that_cannot_work_are_named(monkeypatch, capsys, argv, message):
    code, _ = run_in_process(monkeypatch, ['denoise', *argv], b'')

    assert code == 1 and message in capsys.readouterr().err


@pytest.mark.parametrize('encoding', ['u8', 's16le', 's24le', 's32le', 'f32le', 'f64le'])
def test_encodings_round_trip(encoding):
    pcm = PcmFormat(encoding, RATE, 2)
    samples = np.array([[0.0, -1.0], [0.5, -0.25], [0.99, 0.001]], np.float32)

    decoded = pcm.decode(pcm.encode(samples))

    if encoding == 'u8':
        decoded = (decoded.astype(np.float64) - 128) / 128
    elif encoding.startswith('s'):  # 24-bit comes as int32 at full scale
        decoded = decoded / 2.0 ** (8 * decoded.itemsize - 1)
    tolerance = 2.0 ** (1 - 8 * {'u8': 1, 's16le': 2, 's24le': 3}.get(encoding, 4))
    np.testing.assert_allclose(decoded, samples, atol=tolerance)


def test_streamed_wav_headers_are_read_as_they_come():
    """An FFmpeg-style header (sizes 0xFFFFFFFF, a LIST chunk) then data read in whole
    frames until the end; a known size stops there; 24-bit extensible is understood."""
    pcm = PcmFormat('s24le', 48000, 2)
    header = pcm.wav_header()
    listed = header[:36] + b'LIST' + struct.pack('<I', 5) + b'abcde\0' + header[36:]
    data = pcm.encode(np.full((1001, 2), 0.25, np.float32))

    format_, size = read_wav_header(io.BytesIO(listed))
    blocks = list(pcm_blocks(io.BytesIO(data + b'\1'), pcm))

    assert (format_, size) == (pcm, None)
    assert sum(len(block) for block in blocks) == 1001
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((10, 2)), 48000, subtype='PCM_24', format='WAV')
    assert read_wav_header(io.BytesIO(buffer.getvalue())) == (pcm, 60)


@pytest.mark.parametrize('data, error, message', [
    (b'', EmptyAudioError, 'standard input is empty'),
    (b'RIFF\xff\xff\xff\xffWAVEfmt ', AudioDecodeError, 'ended inside a WAV chunk header'),
    (b'RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff', AudioDecodeError, 'no format'),
])
def test_broken_wav_streams_are_named(data, error, message):
    with pytest.raises(error, match=message):
        read_wav_header(io.BytesIO(data))


@pytest.mark.parametrize('text', ['s16le:16000', 'mp3:16000:1', 's16le:0:1', 's16le:x:1'])
def test_raw_formats_are_checked(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_raw(text)


def _with_sizes(wav: bytes) -> bytes:
    """A streamed WAV (sizes 0xFFFFFFFF) with its real sizes, for soundfile to read."""
    data_at = wav.index(b'data') + 8
    return (wav[:4] + struct.pack('<I', len(wav) - 8) + wav[8:data_at - 4]
            + struct.pack('<I', len(wav) - data_at) + wav[data_at:])
