"""File-to-file denoising: every input kind in, the same format back out, bad input named.

Most tests use a pass-through enhancer so that the output must reproduce the
input: that checks reading, resampling there and back, level handling,
chunking, clipping and writing end to end without a network's changes.
"""
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import write_wav

from modelscope_frcrn.errors import (AudioDecodeError, AudioFileNotFoundError, AudioInputError,
                                     AudioLayoutError, AudioOutputError, AudioTooShortError,
                                     EmptyAudioError)
from modelscope_frcrn.inference.denoiser import Denoiser


def passthrough(chunk: np.ndarray) -> np.ndarray:
    return chunk.copy()


@pytest.fixture
def denoiser():
    return Denoiser(passthrough, chunk_seconds=2.0, overlap_seconds=0.5)


def speech(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Band-limited (< 4 kHz) noise-like speech stand-in, ``[T, C]`` float32, distinct channels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    columns = [sum(np.sin(2 * np.pi * f * (c + 1) * t + rng.uniform(0, 6)) for f in (170, 440, 1130))
               * (0.1 + 0.05 * c) for c in range(channels)]
    return (0.5 * np.stack(columns, axis=1)).astype(np.float32)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    error = estimate.astype(np.float64) - reference
    return 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum(error ** 2))


FORMATS = [  # (extension, subtype, rate, channels, minimum SNR of the round trip in dB)
    ('wav', 'PCM_16', 16000, 1, 60),
    ('wav', 'PCM_24', 44100, 2, 60),
    ('wav', 'PCM_32', 48000, 1, 60),
    ('wav', 'FLOAT', 8000, 3, 60),
    ('flac', 'PCM_16', 22050, 2, 60),
    ('flac', 'PCM_24', 96000, 1, 60),
    ('ogg', 'VORBIS', 48000, 2, 10),
    ('ogg', 'OPUS', 48000, 1, 10),
    ('mp3', 'MPEG_LAYER_III', 44100, 2, 10),
    ('aiff', 'PCM_16', 32000, 1, 60),
]


@pytest.mark.parametrize('extension, subtype, rate, channels, min_snr', FORMATS)
def test_round_trip_keeps_rate_channels_subtype_format_and_length(
        denoiser, tmp_path, extension, subtype, rate, channels, min_snr):
    source = tmp_path / f'noisy.{extension}'
    sf.write(str(source), speech(3.0, rate, channels), rate, subtype=subtype)
    output = tmp_path / f'enhanced.{extension}'

    denoiser.denoise_file(source, output)

    before, after = sf.info(str(source)), sf.info(str(output))
    assert (after.samplerate, after.channels, after.subtype, after.format, after.frames) == \
        (before.samplerate, before.channels, before.subtype, before.format, before.frames)
    original, _ = sf.read(str(source), dtype='float32', always_2d=True)
    written, _ = sf.read(str(output), dtype='float32', always_2d=True)
    if min_snr >= 60:  # lossless: the pass-through must reproduce the input
        assert snr_db(original, written) > min_snr if rate == 16000 else \
            snr_db(original[200:-200], written[200:-200]) > 40
    else:  # lossy codecs add their own (delayed) error; level and channels must survive
        np.testing.assert_allclose(np.sqrt(np.mean(written ** 2, axis=0)),
                                   np.sqrt(np.mean(original ** 2, axis=0)), rtol=0.1)


@pytest.mark.parametrize('rate', [8000, 11025, 44100, 48000])
def test_any_rate_survives_resampling_to_16k_and_back(denoiser, tmp_path, rate):
    """Content below 4 kHz passes 16 kHz untouched, so the round trip is near exact."""
    source = tmp_path / 'noisy.wav'
    sf.write(str(source), speech(2.0, rate, 2), rate, subtype='FLOAT')
    output = tmp_path / 'enhanced.wav'

    denoiser.denoise_file(source, output)

    original, _ = sf.read(str(source), dtype='float32')
    written, written_rate = sf.read(str(output), dtype='float32')
    assert written_rate == rate and written.shape == original.shape
    assert snr_db(original[100:-100], written[100:-100]) > 40


def test_loudness_is_kept_for_each_channel(denoiser, tmp_path):
    samples = speech(2.0, 16000, 2)
    samples[:, 1] *= 0.01  # one loud, one very quiet channel
    source = tmp_path / 'levels.wav'
    sf.write(str(source), samples, 16000, subtype='FLOAT')

    denoiser.denoise_file(source, tmp_path / 'out.wav')

    written, _ = sf.read(str(tmp_path / 'out.wav'), dtype='float64')
    np.testing.assert_allclose(np.sqrt(np.mean(written ** 2, axis=0)),
                               np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=0)), rtol=1e-3)


def test_loud_integer_output_is_clipped_not_wrapped(tmp_path):
    """An enhancer that overshoots full scale: int16 output saturates with the right sign."""
    loud = Denoiser(lambda chunk: 10 * chunk, chunk_seconds=2.0, overlap_seconds=0.5)
    source = tmp_path / 'loud.wav'
    sf.write(str(source), speech(1.0, 16000), 16000, subtype='PCM_16')

    loud.denoise_file(source, tmp_path / 'out.wav')

    original, _ = sf.read(str(source), dtype='float64')
    written, _ = sf.read(str(tmp_path / 'out.wav'), dtype='float64')
    big = np.abs(original) > 0.11
    assert big.any()
    assert (np.sign(written[big]) == np.sign(original[big])).all()
    assert np.abs(written[big]).min() > 0.99


def test_mono_and_model_rate_options(denoiser, tmp_path):
    samples = speech(2.0, 48000, 2)
    source = tmp_path / 'stereo48k.flac'
    sf.write(str(source), samples, 48000, subtype='PCM_24')
    output = tmp_path / 'mono16k.flac'

    denoiser.denoise_file(source, output, sample_rate=16000, mono=True)

    info = sf.info(str(output))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 32000, 'PCM_24')


def test_silence_gives_silence(denoiser, tmp_path):
    source = tmp_path / 'silence.wav'
    sf.write(str(source), np.zeros((16000, 2), np.int16), 16000)

    denoiser.denoise_file(source, tmp_path / 'out.wav')

    written, _ = sf.read(str(tmp_path / 'out.wav'), dtype='int16')
    assert written.shape == (16000, 2) and not written.any()


def test_eight_bit_input_is_written_as_16_bit(denoiser, tmp_path):
    source = tmp_path / 'u8.wav'
    sf.write(str(source), speech(1.0, 16000), 16000, subtype='PCM_U8')

    denoiser.denoise_file(source, tmp_path / 'out.wav')

    assert sf.info(str(tmp_path / 'out.wav')).subtype == 'PCM_16'


def test_output_extension_sets_the_container(denoiser, tmp_path):
    source = tmp_path / 'noisy.wav'
    sf.write(str(source), speech(1.0, 16000), 16000, subtype='PCM_16')

    denoiser.denoise_file(source, tmp_path / 'out.flac')

    info = sf.info(str(tmp_path / 'out.flac'))
    assert (info.format, info.subtype) == ('FLAC', 'PCM_16')


TELEPHONE_CODECS = ['ULAW', 'ALAW', 'GSM610', 'G721_32', 'IMA_ADPCM', 'MS_ADPCM']


@pytest.mark.parametrize('subtype', TELEPHONE_CODECS)
def test_telephone_codecs_are_written_as_16_bit(denoiser, tmp_path, subtype):
    source = tmp_path / 'call.wav'
    sf.write(str(source), speech(2.0, 8000), 8000, subtype=subtype)

    denoiser.denoise_file(source, tmp_path / 'out.wav')

    before, after = sf.info(str(source)), sf.info(str(tmp_path / 'out.wav'))
    assert (after.samplerate, after.channels, after.subtype, after.frames) == \
        (8000, 1, 'PCM_16', before.frames)
    decoded, _ = sf.read(str(source), dtype='float32')
    written, _ = sf.read(str(tmp_path / 'out.wav'), dtype='float32')
    # what the codec decoded is kept; ADPCM's white noise up to 4 kHz partly falls in the
    # resampler's transition band (36.8 dB measured for MS ADPCM, the lowest)
    assert snr_db(decoded[100:-100], written[100:-100]) > 33


def test_64_channels_are_accepted_and_65_refused(denoiser, tmp_path):
    samples = 0.01 * speech(1.0, 16000, 64)
    sf.write(str(tmp_path / 'array64.wav'), samples, 16000, subtype='FLOAT')
    sf.write(str(tmp_path / 'array65.wav'), np.zeros((16000, 65), np.float32), 16000,
             subtype='FLOAT')

    denoiser.denoise_file(tmp_path / 'array64.wav', tmp_path / 'out64.wav')

    written, _ = sf.read(str(tmp_path / 'out64.wav'), dtype='float32')
    assert written.shape == (16000, 64) and snr_db(samples, written) > 60
    with pytest.raises(AudioLayoutError, match='65 channels'):
        denoiser.denoise_file(tmp_path / 'array65.wav', tmp_path / 'out65.wav')


def aligned_correlations(reference: np.ndarray, estimate: np.ndarray, max_lag: int) -> np.ndarray:
    """Per channel, the correlation coefficient of ``estimate`` with ``reference`` (both
    ``[T, C]``) after shifting it by the lag (within +-``max_lag``) that best aligns channel 0."""
    from scipy.signal import correlate
    length = min(len(reference), len(estimate)) - 2 * max_lag
    window = reference[max_lag:max_lag + length]
    lags = correlate(estimate[:length + 2 * max_lag, 0], window[:, 0], mode='valid')
    shift = int(np.argmax(lags))
    shifted = estimate[shift:shift + length]
    return np.array([np.corrcoef(window[:, c], shifted[:, c])[0, 1]
                     for c in range(reference.shape[1])])


FFMPEG_CODECS = [('m4a', 'aac'), ('wma', 'wmav2'), ('webm', 'libopus')]


@pytest.mark.skipif(shutil.which('ffmpeg') is None, reason='FFmpeg is not installed')
@pytest.mark.parametrize('extension, codec', FFMPEG_CODECS)
def test_formats_libsndfile_cannot_read_go_through_ffmpeg(denoiser, tmp_path, extension, codec):
    original = speech(2.0, 48000, 2)
    wav = write_wav(tmp_path / 'speech.wav', original, 48000)
    encoded = tmp_path / f'speech.{extension}'
    subprocess.run(['ffmpeg', '-nostdin', '-v', 'error', '-i', str(wav), '-c:a', codec,
                    str(encoded)], check=True)

    denoiser.denoise_file(encoded, tmp_path / 'out.wav')

    info = sf.info(str(tmp_path / 'out.wav'))
    assert (info.samplerate, info.channels, info.subtype) == (48000, 2, 'PCM_16')
    assert abs(info.frames - 96000) < 4096  # the codecs pad the stream by a frame or two
    written, _ = sf.read(str(tmp_path / 'out.wav'), dtype='float32')
    # the content, not only the layout: each channel is its own source channel (they differ)
    assert (aligned_correlations(original, written, max_lag=4096) > 0.95).all()
    np.testing.assert_allclose(np.sqrt(np.mean(written ** 2, axis=0)),
                               np.sqrt(np.mean(original ** 2, axis=0)), rtol=0.1)


# ----------------------------------------------------------------------------- atomicity

class FailAfter:
    """A pass-through enhancer that raises on its n-th call (an interrupted run)."""

    def __init__(self, calls: int, error: BaseException):
        self.left, self.error = calls, error

    def __call__(self, chunk):
        self.left -= 1
        if self.left < 0:
            raise self.error
        return chunk


@pytest.mark.parametrize('error', [RuntimeError('boom'), KeyboardInterrupt()])
def test_interrupted_write_leaves_no_partial_output(tmp_path, error):
    source = tmp_path / 'long.wav'
    sf.write(str(source), speech(10.0, 16000), 16000)
    output = tmp_path / 'out' / 'enhanced.wav'
    failing = Denoiser(FailAfter(2, error), chunk_seconds=2.0, overlap_seconds=0.5)

    with pytest.raises(type(error)):
        failing.denoise_file(source, output)

    assert not output.exists()
    assert os.listdir(output.parent) == []  # no temporary file left either


def test_existing_output_survives_a_failed_rewrite(tmp_path):
    source = tmp_path / 'noisy.wav'
    sf.write(str(source), speech(10.0, 16000), 16000)
    output = tmp_path / 'enhanced.wav'
    output.write_bytes(b'previous result')

    with pytest.raises(RuntimeError):
        Denoiser(FailAfter(1, RuntimeError('x')), 2.0, 0.5).denoise_file(source, output)

    assert output.read_bytes() == b'previous result'


def test_output_onto_the_input_is_refused(denoiser, tmp_path):
    source = tmp_path / 'noisy.wav'
    sf.write(str(source), speech(1.0, 16000), 16000)
    before = source.read_bytes()

    with pytest.raises(AudioOutputError, match='input'):
        denoiser.denoise_file(source, tmp_path / '.' / 'noisy.wav')

    assert source.read_bytes() == before


# ----------------------------------------------------------------------------- bad input

def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def truncated_header(tmp_path):
    sf.write(str(tmp_path / 'ok.wav'), speech(1.0, 16000), 16000)
    return write_bytes(tmp_path / 'corrupt.wav', (tmp_path / 'ok.wav').read_bytes()[:30])


def with_nan(tmp_path):
    samples = speech(3.0, 16000)
    samples[40000] = np.nan
    sf.write(str(tmp_path / 'nan.wav'), samples, 16000, subtype='FLOAT')
    return tmp_path / 'nan.wav'


def with_inf(tmp_path):
    samples = speech(1.0, 16000)
    samples[100] = np.inf
    sf.write(str(tmp_path / 'inf.wav'), samples, 16000, subtype='FLOAT')
    return tmp_path / 'inf.wav'


def no_samples(tmp_path):
    sf.write(str(tmp_path / 'zero.wav'), np.zeros((0, 1), np.float32), 16000)
    return tmp_path / 'zero.wav'


def too_short(tmp_path):
    sf.write(str(tmp_path / 'short.wav'), speech(0.03, 48000), 48000)  # 30 ms < one 40 ms frame
    return tmp_path / 'short.wav'


def too_many_channels(tmp_path):
    sf.write(str(tmp_path / 'wide.wav'), np.zeros((1000, 80), np.float32), 16000, subtype='FLOAT')
    return tmp_path / 'wide.wav'


BAD_INPUTS = [  # (make the input, expected exception, words the message must contain)
    (lambda tmp: tmp / 'missing.wav', AudioFileNotFoundError, ['not found']),
    (lambda tmp: tmp, AudioFileNotFoundError, ['directory']),
    (lambda tmp: write_bytes(tmp / 'empty.wav', b''), EmptyAudioError, ['empty', '0 bytes']),
    (no_samples, EmptyAudioError, ['no samples']),
    (too_short, AudioTooShortError, ['too short', '40 ms']),
    (truncated_header, AudioDecodeError, ['decode']),
    (lambda tmp: write_bytes(tmp / 'text.wav', b'hello, this is not audio\n' * 40),
     AudioDecodeError, ['decode']),
    (with_nan, AudioInputError, ['NaN', '2.0 s']),
    (with_inf, AudioInputError, ['infinite']),
    (too_many_channels, AudioLayoutError, ['80 channels']),
]


@pytest.mark.parametrize('make, error, words', BAD_INPUTS)
def test_bad_input_raises_a_specific_error_and_writes_nothing(denoiser, tmp_path, make, error,
                                                              words):
    source = make(tmp_path)
    output = tmp_path / 'out' / 'enhanced.wav'

    with pytest.raises(error) as raised:
        denoiser.denoise_file(source, output)

    for word in words:
        assert word in str(raised.value)
    assert not output.exists()


@pytest.mark.parametrize('name', ['out.xyz', 'out'])
def test_unknown_output_extension(denoiser, tmp_path, name):
    source = tmp_path / 'noisy.wav'
    sf.write(str(source), speech(1.0, 16000), 16000)

    with pytest.raises(AudioOutputError, match='extension'):
        denoiser.denoise_file(source, tmp_path / name)


@pytest.mark.parametrize('rate', ['fast', 0, -16000])
def test_bad_output_rate(denoiser, tmp_path, rate):
    source = tmp_path / 'noisy.wav'
    sf.write(str(source), speech(1.0, 16000), 16000)

    with pytest.raises(AudioOutputError, match='sample rate'):
        denoiser.denoise_file(source, tmp_path / 'out.wav', sample_rate=rate)
