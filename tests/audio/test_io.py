"""modelscope_frcrn.audio.io: read_audio for every input kind, resample, atomic write_wav,
and the specific error (type and message) for every kind of bad input."""
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_wav as write_test_wav

from modelscope_frcrn.audio import io as audio_io
from modelscope_frcrn.audio.io import read_audio, resample, write_wav
from modelscope_frcrn.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    AudioInputError,
    AudioTypeError,
    EmptyAudioError,
    FRCRNError,
)


def tone(frequency=440.0, seconds=0.5, sample_rate=16000, amplitude=0.5):
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(length=8000, amplitude=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(amplitude * rng.standard_normal(length), -0.99, 0.99).astype(np.float32)


def peak_frequency(samples, sample_rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return np.fft.rfftfreq(samples.size, 1.0 / sample_rate)[np.argmax(spectrum)]


# ----------------------------------------------------------------------------- files

@pytest.mark.parametrize('subtype, tolerance', [
    ('PCM_16', 2.0 / 2 ** 15),
    ('PCM_24', 2.0 / 2 ** 23),
    ('PCM_32', 1e-6),
    ('FLOAT', 0.0),
])
def test_reads_wav_subtypes(tmp_path, subtype, tolerance):
    signal = noise()
    path = write_test_wav(tmp_path / f'{subtype}.wav', signal, 16000, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype

    samples, sample_rate = read_audio(str(path))

    assert sample_rate == 16000
    assert samples.dtype == np.float32
    assert samples.shape == (1, signal.size)
    np.testing.assert_allclose(samples[0], signal, rtol=0, atol=tolerance)


def test_pcm16_wav_is_scaled_by_1_over_32768(tmp_path):
    ints = np.array([-32768, -16384, -1, 0, 1, 16384, 32767], dtype=np.int16)
    path = tmp_path / 'ints.wav'
    sf.write(str(path), ints, 16000, subtype='PCM_16')

    samples, _ = read_audio(str(path))

    np.testing.assert_array_equal(samples[0], ints.astype(np.float32) / 32768.0)


def test_reads_flac_exactly(tmp_path):
    ints = (noise() * 32767).astype(np.int16)
    path = tmp_path / 'a.flac'
    sf.write(str(path), ints, 22050, format='FLAC', subtype='PCM_16')

    samples, sample_rate = read_audio(str(path))

    assert sample_rate == 22050
    assert samples.shape == (1, ints.size)
    np.testing.assert_array_equal(samples[0], ints / 32768.0)


def test_reads_ogg_vorbis(tmp_path):
    signal = tone(440.0, seconds=1.0)
    path = tmp_path / 'a.ogg'
    sf.write(str(path), signal, 16000, format='OGG', subtype='VORBIS')

    samples, sample_rate = read_audio(str(path))

    assert sample_rate == 16000
    assert samples.shape[0] == 1
    assert abs(samples.shape[1] - signal.size) <= 16
    assert abs(peak_frequency(samples[0], 16000) - 440.0) < 5.0
    # lossy, but the level survives
    assert np.sqrt(np.mean(samples ** 2)) == pytest.approx(np.sqrt(np.mean(signal ** 2)), rel=0.1)


def test_path_like_and_str_paths_agree(tmp_path):
    path = write_test_wav(tmp_path / 'a.wav', noise())
    from_str, _ = read_audio(str(path))
    from_path, _ = read_audio(Path(path))
    np.testing.assert_array_equal(from_str, from_path)


def test_stereo_file_gives_channels_first(tmp_path):
    left, right = tone(440.0), tone(1000.0, amplitude=0.25)
    path = write_test_wav(tmp_path / 'stereo.wav', np.stack([left, right], axis=1),
                          subtype='FLOAT')

    samples, _ = read_audio(str(path))

    assert samples.shape == (2, left.size)
    np.testing.assert_array_equal(samples[0], left)
    np.testing.assert_array_equal(samples[1], right)


@pytest.mark.parametrize('wrap', [bytes, bytearray, memoryview])
def test_bytes_input_decodes_like_the_file(tmp_path, wrap):
    path = write_test_wav(tmp_path / 'a.wav', noise(), 8000)
    expected, _ = read_audio(str(path))

    samples, sample_rate = read_audio(wrap(path.read_bytes()))

    assert sample_rate == 8000
    np.testing.assert_array_equal(samples, expected)


# ----------------------------------------------------------------------------- arrays

@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_float_array_is_taken_as_is(dtype):
    signal = noise().astype(dtype)

    samples, sample_rate = read_audio(signal)

    assert sample_rate == 16000
    assert samples.dtype == np.float32
    assert samples.shape == (1, signal.size)
    np.testing.assert_allclose(samples[0], signal, rtol=0, atol=1e-7)


def test_array_sample_rate_is_returned():
    _, sample_rate = read_audio(noise(), array_sample_rate=44100)
    assert sample_rate == 44100


def test_int16_array_is_scaled_by_1_over_32768():
    ints = np.array([-32768, -16384, -3, 0, 3, 16384, 32767], dtype=np.int16)

    samples, _ = read_audio(ints)

    assert samples.dtype == np.float32
    np.testing.assert_array_equal(samples[0], ints / 32768.0)
    assert samples.min() == -1.0 and samples.max() < 1.0


def test_int32_array_is_scaled_by_its_full_range():
    ints = np.array([-2 ** 31, -2 ** 30, 0, 2 ** 30], dtype=np.int32)
    samples, _ = read_audio(ints)
    np.testing.assert_array_equal(samples[0], [-1.0, -0.5, 0.0, 0.5])


def test_two_dimensional_array_is_time_by_channel():
    left, right = noise(seed=1), noise(seed=2)

    samples, _ = read_audio(np.stack([left, right], axis=1))  # [T, C]

    assert samples.shape == (2, left.size)
    np.testing.assert_array_equal(samples[0], left)
    np.testing.assert_array_equal(samples[1], right)


def test_uint8_array_is_offset_binary():
    samples, _ = read_audio(np.array([0, 128, 255], dtype=np.uint8))
    np.testing.assert_allclose(samples[0], [-1.0, 0.0, 127 / 128], atol=1e-6)


# ----------------------------------------------------------------------------- resample

@pytest.mark.parametrize('from_rate', [44100, 8000, 22050])
def test_resample_to_16k_gives_expected_length_and_keeps_a_440hz_tone(from_rate):
    signal = tone(440.0, seconds=1.0, sample_rate=from_rate)[None]

    resampled = resample(signal, from_rate, 16000)

    expected_length = round(signal.shape[1] * 16000 / from_rate)
    assert resampled.dtype == np.float32
    assert resampled.shape[0] == 1
    assert abs(resampled.shape[1] - expected_length) <= 1
    assert abs(peak_frequency(resampled[0], 16000) - 440.0) <= 1.0
    # amplitude kept (away from the filter's edge transients)
    middle = resampled[0, 2000:-2000]
    assert np.abs(middle).max() == pytest.approx(0.5, rel=0.01)


def test_resample_keeps_channels_apart():
    stereo = np.stack([tone(440.0, 1.0, 44100), tone(1000.0, 1.0, 44100)])

    resampled = resample(stereo, 44100, 16000)

    assert resampled.shape == (2, 16000)
    assert abs(peak_frequency(resampled[0], 16000) - 440.0) <= 1.0
    assert abs(peak_frequency(resampled[1], 16000) - 1000.0) <= 1.0


def test_resample_same_rate_is_unchanged():
    signal = noise()[None]
    np.testing.assert_array_equal(resample(signal, 16000, 16000), signal)


# ----------------------------------------------------------------------------- write_wav

def test_write_wav_creates_parent_directories_and_writes_pcm16(tmp_path):
    ints = (noise() * 32767).astype(np.int16)
    path = tmp_path / 'new' / 'nested' / 'out.wav'

    write_wav(path, ints, 16000)

    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype, info.format) == \
        (16000, 1, 'PCM_16', 'WAV')
    read_back, _ = sf.read(str(path), dtype='int16')
    np.testing.assert_array_equal(read_back, ints)
    assert os.listdir(path.parent) == ['out.wav']  # no temporary file left behind


def test_write_wav_channels_first_and_float_subtype(tmp_path):
    stereo = np.stack([noise(seed=1), noise(seed=2)])  # [C, T]
    path = tmp_path / 'stereo.wav'

    write_wav(str(path), stereo, 8000, subtype='FLOAT')

    read_back, sample_rate = sf.read(str(path), dtype='float32')
    assert sample_rate == 8000
    np.testing.assert_array_equal(read_back.T, stereo)


def test_write_wav_replaces_an_existing_file(tmp_path):
    path = tmp_path / 'out.wav'
    path.write_bytes(b'old contents')

    write_wav(path, np.zeros(100, np.int16), 16000)

    assert sf.info(str(path)).frames == 100


@pytest.mark.parametrize('error', [RuntimeError('disk full'), KeyboardInterrupt()])
def test_failed_write_leaves_no_temp_file_and_keeps_the_old_file(tmp_path, monkeypatch, error):
    path = tmp_path / 'out.wav'
    path.write_bytes(b'previous output')
    real_write = sf.write
    calls = []

    def write_then_fail(stream, *args, **kwargs):
        calls.append(stream)
        real_write(stream, *args, **kwargs)  # a partial / complete temp file exists now
        raise error

    monkeypatch.setattr(audio_io.sf, 'write', write_then_fail)

    with pytest.raises(type(error)):
        write_wav(path, np.zeros(1000, np.int16), 16000)

    assert calls, 'write_wav did not go through soundfile.write'
    assert sorted(os.listdir(tmp_path)) == ['out.wav']
    assert path.read_bytes() == b'previous output'


def test_failed_write_to_a_new_path_leaves_nothing(tmp_path, monkeypatch):
    def fail(stream, *args, **kwargs):
        stream.write(b'RIFF partial')
        raise OSError('interrupted')

    monkeypatch.setattr(audio_io.sf, 'write', fail)

    with pytest.raises(OSError, match='interrupted'):
        write_wav(tmp_path / 'out.wav', np.zeros(10, np.int16), 16000)

    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != 'posix', reason='POSIX permission bits')
def test_write_wav_file_mode_follows_umask(tmp_path):
    old_umask = os.umask(0o022)
    try:
        write_wav(tmp_path / 'out.wav', np.zeros(10, np.int16), 16000)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(tmp_path / 'out.wav').st_mode) == 0o644


# ----------------------------------------------------------------------------- bad input

def test_missing_file(tmp_path):
    path = tmp_path / 'missing.wav'
    with pytest.raises(AudioFileNotFoundError, match='not found') as info:
        read_audio(str(path))
    assert str(path) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_directory(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match='directory') as info:
        read_audio(str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_zero_byte_file(tmp_path):
    path = tmp_path / 'empty.wav'
    path.touch()
    with pytest.raises(EmptyAudioError, match='empty') as info:
        read_audio(str(path))
    assert str(path) in str(info.value)


def test_empty_bytes():
    with pytest.raises(EmptyAudioError, match='empty'):
        read_audio(b'')


def test_text_file_named_wav(tmp_path):
    path = tmp_path / 'notes.wav'
    path.write_text('this is not audio, just some text that was renamed\n' * 10)
    with pytest.raises(AudioDecodeError, match='decode') as info:
        read_audio(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize('keep_bytes', [4, 12, 20, 30])
def test_truncated_wav_header(tmp_path, keep_bytes):
    whole = write_test_wav(tmp_path / 'whole.wav', noise()).read_bytes()
    path = tmp_path / 'truncated.wav'
    path.write_bytes(whole[:keep_bytes])
    with pytest.raises(AudioDecodeError, match='decode'):
        read_audio(str(path))


def test_corrupt_wav_header_bytes(tmp_path):
    data = bytearray(write_test_wav(tmp_path / 'a.wav', noise()).read_bytes())
    data[12:36] = b'\xff' * 24  # overwrite the fmt chunk
    with pytest.raises(AudioDecodeError, match='decode'):
        read_audio(bytes(data))


def test_wav_with_no_samples(tmp_path):
    path = write_test_wav(tmp_path / 'zero.wav', np.zeros(0, np.float32))
    assert sf.info(str(path)).frames == 0
    with pytest.raises(EmptyAudioError, match='no samples') as info:
        read_audio(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize('shape', [(0,), (0, 2)])
def test_empty_array(shape):
    with pytest.raises(EmptyAudioError, match='no samples'):
        read_audio(np.zeros(shape, np.float32))


def test_array_without_channels():
    with pytest.raises(AudioInputError):
        read_audio(np.zeros((100, 0), np.float32))


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_array_samples(bad):
    signal = noise()
    signal[100] = bad
    with pytest.raises(AudioInputError, match='NaN'):
        read_audio(signal)


def test_non_finite_samples_in_float_wav(tmp_path):
    signal = noise()
    signal[10] = np.nan
    path = write_test_wav(tmp_path / 'nan.wav', signal, subtype='FLOAT')
    with pytest.raises(AudioInputError, match='NaN') as info:
        read_audio(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize('bad', [3, 0.5, None, [0.0, 0.1, 0.2], (0.0, 0.1), {'wav': 'a.wav'}])
def test_unsupported_types(bad):
    with pytest.raises(AudioTypeError, match='unsupported') as info:
        read_audio(bad)
    assert type(bad).__name__ in str(info.value)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize('dtype', [bool, np.complex64, object])
def test_unsupported_array_dtypes(dtype):
    with pytest.raises(AudioTypeError, match='integers or floats'):
        read_audio(np.zeros(100, dtype=dtype))


def test_three_dimensional_array():
    with pytest.raises(AudioInputError, match=r'shape \(2, 3, 4\)'):
        read_audio(np.zeros((2, 3, 4), np.float32))


def test_every_input_error_is_a_value_error_and_ours():
    assert issubclass(AudioInputError, FRCRNError)
    assert issubclass(AudioInputError, ValueError)
    for error in (AudioFileNotFoundError, AudioDecodeError, EmptyAudioError, AudioTypeError):
        assert issubclass(error, AudioInputError)
