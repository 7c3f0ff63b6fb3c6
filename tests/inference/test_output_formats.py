"""Every input format we read into every output extension we write: the file decodes, with the
right rate, channels, length and sample format; what a container cannot hold is refused before
any work, and a write failure is one line naming the file while the batch goes on."""
import numpy as np
import pytest
import soundfile as sf

from modelscope_frcrn.audio import streams
from modelscope_frcrn.cli import main
from modelscope_frcrn.errors import AudioOutputError
from modelscope_frcrn.inference.denoiser import Denoiser

SECONDS = 0.5
#: name -> (container, subtype, rate, channels)
INPUTS = {
    'pcm16.wav': ('WAV', 'PCM_16', 16000, 1),
    'float.wav': ('WAV', 'FLOAT', 44100, 2),
    'u8.wav': ('WAV', 'PCM_U8', 8000, 1),
    'pcm24.flac': ('FLAC', 'PCM_24', 48000, 2),
    'vorbis.ogg': ('OGG', 'VORBIS', 44100, 1),
    'speech.opus': ('OGG', 'OPUS', 48000, 1),
    'talk.mp3': ('MP3', 'MPEG_LAYER_III', 44100, 2),
    'pcm16.aiff': ('AIFF', 'PCM_16', 22050, 1),
    'alaw.caf': ('CAF', 'ALAW', 8000, 1),
    'hires.wav': ('WAV', 'PCM_24', 96000, 1),
}
OUTPUTS = ('.wav', '.flac', '.ogg', '.opus', '.mp3', '.aiff', '.caf', '.w64', '.au')
LOSSY = {'MPEG_LAYER_III', 'VORBIS', 'OPUS'}
LOSSLESS_CONTAINERS = {'WAV', 'FLAC', 'AIFF', 'CAF', 'W64', 'AU'}
RATES = {'.mp3': (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
         '.opus': (8000, 12000, 16000, 24000, 48000)}


class CountingIdentity:
    """An enhancer that returns its input and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, noisy):
        self.calls += 1
        return noisy


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp('inputs')
    for name, (container, subtype, rate, channels) in INPUTS.items():
        t = np.arange(int(SECONDS * rate)) / rate
        wave = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] * np.linspace(1, 0.5, channels)
        sf.write(str(folder / name), wave, rate, subtype=subtype, format=container)
    return folder


def expected_rate(extension: str, rate: int) -> int:
    allowed = RATES.get(extension)
    if allowed is None or rate in allowed:
        return rate
    return min((r for r in allowed if r >= rate), default=max(allowed))


@pytest.mark.parametrize('extension', OUTPUTS)
@pytest.mark.parametrize('name', sorted(INPUTS))
def test_every_input_format_into_every_output_extension(inputs, tmp_path, name, extension):
    container, subtype, rate, channels = INPUTS[name]
    output = tmp_path / ('out' + extension)

    Denoiser(CountingIdentity()).denoise_file(inputs / name, output)

    info = sf.info(str(output))
    written_rate = expected_rate(extension, rate)
    assert (info.samplerate, info.channels) == (written_rate, channels)
    assert len(sf.read(str(output))[0]) == round(SECONDS * rate * written_rate / rate)
    if info.format in LOSSLESS_CONTAINERS and subtype in LOSSY:
        assert info.subtype == 'PCM_16'
    if info.format == 'WAV' and subtype in ('PCM_24', 'FLOAT'):
        assert info.subtype == subtype


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
