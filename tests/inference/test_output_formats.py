"""Every input format we read into every output extension we write: the file decodes, with the
right rate, channels, length, sample format and content; what a container cannot hold is refused
before any work, and a write failure is one line naming the file while the batch goes on."""
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from modelscope_frcrn.audio import streams
from modelscope_frcrn.audio.streams import OUTPUT_CONTAINERS, AudioFileReader
from modelscope_frcrn.cli import main
from modelscope_frcrn.errors import AudioOutputError
from modelscope_frcrn.inference.batch import AUDIO_EXTENSIONS, WAV_OUTPUT_EXTENSIONS
from modelscope_frcrn.inference.denoiser import Denoiser

SECONDS = 0.5
HAVE_FFMPEG = shutil.which('ffmpeg') is not None
#: name -> (container, subtype, rate, channels): each extension the command reads, and the
#: encodings that decide the output's subtype, rate and channel limits
INPUTS = {
    'pcm16.wav': ('WAV', 'PCM_16', 16000, 1),
    'float.wav': ('WAV', 'FLOAT', 44100, 2),
    'u8.wav': ('WAV', 'PCM_U8', 8000, 1),
    'hires.wav': ('WAV', 'PCM_24', 96000, 1),
    'six.wav': ('WAV', 'PCM_16', 48000, 6),
    'pcm24.flac': ('FLAC', 'PCM_24', 48000, 2),
    'vorbis.ogg': ('OGG', 'VORBIS', 44100, 1),
    'vorbis.oga': ('OGG', 'VORBIS', 22050, 2),
    'speech.opus': ('OGG', 'OPUS', 48000, 1),
    'talk.mp3': ('MP3', 'MPEG_LAYER_III', 44100, 2),
    'pcm16.aiff': ('AIFF', 'PCM_16', 22050, 1),
    'pcm24.aif': ('AIFF', 'PCM_24', 11025, 2),
    'float.aifc': ('AIFF', 'FLOAT', 32000, 1),
    'alaw.caf': ('CAF', 'ALAW', 8000, 1),
    'pcm16.w64': ('W64', 'PCM_16', 24000, 2),
    'double.rf64': ('RF64', 'DOUBLE', 12000, 1),
    'ulaw.au': ('AU', 'ULAW', 8000, 1),
    'pcm16.snd': ('AU', 'PCM_16', 16000, 2),
    # FFmpeg decodes it (AAC), the reader hands on 16-bit PCM
    'aac.m4a': ('FFMPEG', 'AAC', 44100, 2),
}
OUTPUTS = sorted('.' + extension.lower() for extension in OUTPUT_CONTAINERS)
LOSSY = {'MPEG_LAYER_III', 'VORBIS', 'OPUS', 'AAC'}
#: what becomes 16-bit PCM in a lossless container: lossy codecs, 8-bit and telephone encodings
TO_PCM_16 = LOSSY | {'PCM_U8', 'ULAW', 'ALAW'}
RATES = {'MPEG_LAYER_III': (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
         'OPUS': (8000, 12000, 16000, 24000, 48000)}
MAX_CHANNELS = {'MPEG_LAYER_III': 2, 'FLAC': 8}


class CountingIdentity:
    """An enhancer that returns its input and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, noisy):
        self.calls += 1
        return noisy


def tone(rate: int, channels: int) -> np.ndarray:
    """``[T, C]``: 440 Hz, a different level in each channel (so their order shows)."""
    t = np.arange(int(SECONDS * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] * np.linspace(1, 0.4, channels)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp('inputs')
    for name, (container, subtype, rate, channels) in INPUTS.items():
        if container == 'FFMPEG':
            if HAVE_FFMPEG:
                sf.write(str(folder / 'source.wav'), tone(rate, channels), rate)
                subprocess.run(['ffmpeg', '-nostdin', '-v', 'error', '-i', str(folder / 'source.wav'),
                                '-c:a', 'aac', str(folder / name)], check=True, timeout=60)
            continue
        sf.write(str(folder / name), tone(rate, channels), rate, subtype=subtype, format=container)
    return folder


def expected_format(extension: str, subtype: str, rate: int):
    """(container, subtype, rate) the output should have, or None where it must be refused."""
    container = OUTPUT_CONTAINERS[extension.lstrip('.').upper()]
    if extension == '.opus' or (container == 'OGG' and subtype == 'OPUS'):
        written = 'OPUS'
    elif container == 'OGG':
        written = 'VORBIS'
    elif container == 'MP3':
        written = 'MPEG_LAYER_III'
    elif subtype in TO_PCM_16:
        written = 'PCM_16'
    elif container == 'FLAC' and subtype in ('FLOAT', 'DOUBLE'):
        written = 'PCM_24'  # the finest FLAC has
    else:
        written = subtype
    allowed = RATES.get(written)
    if allowed is not None and rate not in allowed:
        rate = min((r for r in allowed if r >= rate), default=max(allowed))
    return container, written, rate


def lfe_channel(subtype: str, channels: int):
    """The channel a codec takes as the low-frequency effects of a surround layout and low-passes
    (Vorbis: 5.1; Opus: 5.1 to 7.1): the last one; None where there is none."""
    surround = {'VORBIS': (6,), 'OPUS': (6, 7, 8)}.get(subtype, ())
    return -1 if channels in surround else None


def decoded(path) -> np.ndarray:
    """``[T, C]`` float64 as our reader decodes it (FFmpeg included)."""
    with AudioFileReader(path) as reader:
        return np.concatenate(list(reader.blocks()), axis=1).T.astype(np.float64)


def test_the_matrix_covers_every_extension_the_command_reads_and_writes():
    read = {os.path.splitext(name)[1] for name in INPUTS}
    assert AUDIO_EXTENSIONS - WAV_OUTPUT_EXTENSIONS <= read and '.m4a' in read
    # an input's own extension is its default output extension: each must be writable
    assert set(OUTPUTS) == AUDIO_EXTENSIONS - WAV_OUTPUT_EXTENSIONS


@pytest.mark.parametrize('extension', OUTPUTS)
@pytest.mark.parametrize('name', sorted(INPUTS))
def test_every_input_format_into_every_output_extension(inputs, tmp_path, name, extension):
    container, subtype, rate, channels = INPUTS[name]
    if container == 'FFMPEG' and not HAVE_FFMPEG:
        pytest.skip('FFmpeg is not installed')
    output = tmp_path / ('out' + extension)
    written_container, written_subtype, written_rate = expected_format(extension, subtype, rate)
    enhancer = CountingIdentity()

    most = MAX_CHANNELS.get(written_subtype, MAX_CHANNELS.get(written_container))
    if most is not None and channels > most:
        with pytest.raises(AudioOutputError, match=f'out\\{extension}.*at most {most} channels'):
            Denoiser(enhancer).denoise_file(inputs / name, output)
        assert enhancer.calls == 0 and list(tmp_path.iterdir()) == []
        return
    Denoiser(enhancer).denoise_file(inputs / name, output)

    info = sf.info(str(output))
    assert (info.format, info.subtype, info.samplerate, info.channels) == \
        (written_container, written_subtype, written_rate, channels)
    source, result = decoded(inputs / name), decoded(output)
    assert len(result) == info.frames == round(len(source) * written_rate / rate)
    if written_subtype in LOSSY or written_rate != rate:  # the codec's own error and delay
        kept = slice(None, lfe_channel(written_subtype, channels))
        np.testing.assert_allclose(np.sqrt(np.mean(result[:, kept] ** 2, axis=0)),
                                   np.sqrt(np.mean(source[:, kept] ** 2, axis=0)), rtol=0.1)
    else:  # lossless: the pass-through gives the decoded input back
        inside = slice(len(source) // 10, -len(source) // 10)  # away from resampler edges
        error = np.abs(result[inside] - source[inside]).max()
        assert error < (2e-3 if rate < 16000 else 1e-4), error  # 8 kHz: resampled 16 kHz and back


def test_help_names_every_output_extension(capsys):
    with pytest.raises(SystemExit):
        main(['denoise', '--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert all(extension in text for extension in OUTPUTS), text


@pytest.mark.parametrize('container', sorted(set(sf.available_formats()) - set(OUTPUT_CONTAINERS)))
def test_other_libsndfile_containers_are_refused_before_any_work(inputs, tmp_path, container):
    enhancer = CountingIdentity()
    output = tmp_path / ('out.' + container.lower())
    with pytest.raises(AudioOutputError, match=r'unsupported output extension.*\.wav'):
        Denoiser(enhancer).denoise_file(inputs / 'pcm16.wav', output)
    assert enhancer.calls == 0 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('name, output, channels', [('speech.opus', 'x.mp3', 3),
                                                    ('pcm16.wav', 'x.flac', 9)])
def test_too_many_channels_for_the_container_is_refused_before_any_work(tmp_path, name, output,
                                                                        channels):
    source = tmp_path / 'many.wav'
    sf.write(str(source), np.zeros((8000, channels)), 16000)
    enhancer = CountingIdentity()

    with pytest.raises(AudioOutputError, match=f'{output}.*at most'):
        Denoiser(enhancer).denoise_file(source, tmp_path / output)
    assert enhancer.calls == 0 and not (tmp_path / output).exists()


def test_an_explicit_rate_the_encoder_refuses_is_refused_before_any_work(inputs, tmp_path):
    enhancer = CountingIdentity()
    with pytest.raises(AudioOutputError, match='96000 Hz'):
        Denoiser(enhancer).denoise_file(inputs / 'pcm16.wav', tmp_path / 'x.mp3', sample_rate=96000)
    assert enhancer.calls == 0


# ----------------------------------------------------------------------------- command line

def run_cli(capsys, *args):
    code = main(['denoise', *map(str, args)])
    out, err = capsys.readouterr()
    assert 'Traceback' not in err
    return code, out, err


@pytest.mark.parametrize('name, output', [('talk.mp3', 'talk.wav'), ('hires.wav', 'hires.mp3'),
                                          ('vorbis.ogg', 'vorbis.opus')])
def test_the_usual_conversions_work_from_the_command_line(inputs, tmp_path, capsys,
                                                          identity_model_dir, name, output):
    code, out, _ = run_cli(capsys, inputs / name, '-o', tmp_path / output, '--model',
                           identity_model_dir)
    assert code == 0 and 'wrote' in out
    assert sf.info(str(tmp_path / output)).frames > 0


def test_a_write_failure_is_one_line_naming_the_file_and_the_batch_goes_on(
        inputs, tmp_path, capsys, identity_model_dir, monkeypatch):
    folder = tmp_path / 'in'
    folder.mkdir()
    for name in ('pcm16.wav', 'u8.wav', 'pcm16.aiff'):
        (folder / name).write_bytes((inputs / name).read_bytes())
    write_blocks = streams.write_blocks

    def refuse_u8(stream, blocks, audio_format):
        if audio_format.sample_rate == 8000:
            raise sf.LibsndfileError(2, 'Error opening: encoder refused')
        write_blocks(stream, blocks, audio_format)

    monkeypatch.setattr(streams, 'write_blocks', refuse_u8)
    code, out, err = run_cli(capsys, folder, '-o', tmp_path / 'out', '--model', identity_model_dir)

    lines = [line for line in err.splitlines() if 'error:' in line]
    assert code == 1 and '2 denoised, 0 skipped, 1 failed' in out
    assert len(lines) == 1 and 'out/u8.wav' in lines[0] and 'cannot write' in lines[0]
    assert sorted(path.name for path in (tmp_path / 'out').iterdir()) == ['pcm16.aiff', 'pcm16.wav']
