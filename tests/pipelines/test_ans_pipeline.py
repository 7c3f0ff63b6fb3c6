"""The acoustic-noise-suppression pipeline, built the way users build it.

With ``identity_model_dir`` (mask exactly 1) the output must reproduce the input
up to int16 rounding, which checks lengths, resampling, channel handling, level
restoration and int16 conversion end to end.
"""
import numpy as np
import pytest
import soundfile as sf
from conftest import write_wav
from modelscope.outputs import OutputKeys
from modelscope.pipelines import pipeline
from modelscope.utils.constant import Tasks

from modelscope_frcrn.audio import resample
from modelscope_frcrn.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    AudioInputError,
    AudioLayoutError,
    AudioOutputError,
    AudioTooShortError,
    AudioTypeError,
    EmptyAudioError,
    WeightsNotFoundError,
)

#: The identity network reconstructs to within float error; int16 rounding may then land on
#: the neighbouring integer for values close to .5.
MAX_INT16_ERROR = 2


def build(model_dir):
    return pipeline(Tasks.acoustic_noise_suppression, model=str(model_dir), device='cpu')


@pytest.fixture(scope='module')
def identity_ans(identity_model_dir):
    return build(identity_model_dir)


@pytest.fixture(scope='module')
def random_ans(random_model_dir):
    return build(random_model_dir)


def pcm(result) -> np.ndarray:
    data = result[OutputKeys.OUTPUT_PCM]
    assert isinstance(data, bytes)
    return np.frombuffer(data, dtype=np.int16)


def as_int16_units(samples) -> np.ndarray:
    return np.round(np.asarray(samples, dtype=np.float64) * 32768.0)


def snr_db(reference, estimate) -> float:
    reference = np.asarray(reference, np.float64)
    error = np.asarray(estimate, np.float64) - reference
    return 10 * np.log10(np.sum(reference ** 2) / max(np.sum(error ** 2), 1e-20))


def noise(length, amplitude=0.1, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(length)).astype(np.float32)


def tone(frequency, seconds, sample_rate, amplitude=0.5) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# ----------------------------------------------------------------------------- identity model

@pytest.mark.parametrize('length', [640, 641, 16000, 16001])
def test_identity_reproduces_input_of_any_length(identity_ans, length):
    signal = noise(length, seed=length)

    out = pcm(identity_ans(signal))

    reference = as_int16_units(signal)
    assert out.shape == (length,)
    assert np.abs(out - reference).max() <= MAX_INT16_ERROR
    assert snr_db(reference, out) > 60


def test_identity_reproduces_speech_like_signal(identity_ans, speech_like):
    out = pcm(identity_ans(speech_like))

    reference = as_int16_units(speech_like)
    assert out.shape == reference.shape
    assert snr_db(reference, out) > 60
    # interior samples (away from the padded edges) are exact up to rounding
    assert np.abs(out[640:-640] - reference[640:-640]).max() <= 1


@pytest.mark.parametrize('amplitude', [0.001, 0.02, 0.2])
def test_input_level_is_restored(identity_ans, amplitude):
    """No -25 dBFS normalisation left on the output, whatever the input level."""
    signal = noise(8000, amplitude=amplitude, seed=3)

    out = pcm(identity_ans(signal)).astype(np.float64) / 32768.0

    assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(signal ** 2)), rel=0.01)


def test_loud_input_is_not_wrapped_around(identity_ans):
    signal = tone(440.0, 1.0, 16000, amplitude=0.99)

    out = pcm(identity_ans(signal))

    loud = np.abs(signal) > 0.9
    assert loud.sum() > 1000
    assert (np.sign(out[loud]) == np.sign(signal[loud])).all()
    assert np.abs(out - as_int16_units(signal)).max() <= MAX_INT16_ERROR


def test_full_scale_square_wave_is_clipped_not_wrapped(identity_ans):
    """int16 input at -32768/+32767: the reconstruction overshoots 1.0 slightly and must clip."""
    square = np.where(np.sin(2 * np.pi * 100 * np.arange(8000) / 16000) >= 0,
                      32767, -32768).astype(np.int16)

    out = pcm(identity_ans(square))

    assert out.shape == square.shape
    assert (np.sign(out) == np.sign(square)).all()
    assert np.abs(out.astype(np.int32) - square).max() <= MAX_INT16_ERROR


def test_silence_stays_silence(identity_ans):
    out = pcm(identity_ans(np.zeros(4000, np.float32)))
    np.testing.assert_array_equal(out, np.zeros(4000, np.int16))


def test_silence_through_random_model_is_finite_and_silent(random_ans):
    out = pcm(random_ans(np.zeros(4000, np.float32)))
    assert out.shape == (4000,)
    np.testing.assert_array_equal(out, 0)


def test_stereo_file_gives_mono_mix_of_same_length(identity_ans, tmp_path):
    left, right = noise(8000, seed=1), tone(300.0, 0.5, 16000, amplitude=0.2)
    path = write_wav(tmp_path / 'stereo.wav', np.stack([left, right], axis=1), subtype='FLOAT')

    out = pcm(identity_ans(str(path)))

    assert out.shape == (8000,)
    reference = as_int16_units((left.astype(np.float64) + right) / 2)
    assert np.abs(out - reference).max() <= MAX_INT16_ERROR


def test_stereo_file_with_a_silent_channel(identity_ans, tmp_path):
    left = noise(8000, seed=2)
    path = write_wav(tmp_path / 'half.wav', np.stack([left, np.zeros_like(left)], axis=1),
                     subtype='FLOAT')

    out = pcm(identity_ans(str(path)))

    assert np.isfinite(out).all()
    assert np.abs(out - as_int16_units(left / 2)).max() <= MAX_INT16_ERROR


@pytest.mark.parametrize('sample_rate', [44100, 8000])
def test_other_sample_rates_are_resampled_to_16k(identity_ans, tmp_path, sample_rate):
    signal = tone(440.0, 0.5, sample_rate, amplitude=0.4)
    path = write_wav(tmp_path / f'{sample_rate}.wav', signal, sample_rate, subtype='FLOAT')

    out = pcm(identity_ans(str(path)))

    assert abs(out.size - round(signal.size * 16000 / sample_rate)) <= 1
    expected = as_int16_units(resample(signal[None], sample_rate, 16000)[0])
    assert out.size == expected.size
    assert snr_db(expected, out) > 60
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    assert abs(np.fft.rfftfreq(out.size, 1 / 16000)[np.argmax(spectrum)] - 440.0) <= 2.0


def test_output_path_writes_16k_mono_pcm16_equal_to_returned_bytes(identity_ans, tmp_path):
    signal = noise(12345, seed=4)
    output = tmp_path / 'new_dir' / 'enhanced.wav'

    result = identity_ans(signal, output_path=str(output))

    info = sf.info(str(output))
    assert (info.samplerate, info.channels, info.subtype, info.format) == \
        (16000, 1, 'PCM_16', 'WAV')
    written, _ = sf.read(str(output), dtype='int16')
    np.testing.assert_array_equal(written, pcm(result))
    assert written.size == signal.size


def test_no_output_path_writes_nothing(identity_ans, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    identity_ans(noise(1000))
    assert list(tmp_path.iterdir()) == []


def test_path_bytes_and_array_inputs_agree(identity_ans, tmp_path):
    ints = (noise(9000, seed=5) * 32768).astype(np.int16)
    path = tmp_path / 'in.wav'
    sf.write(str(path), ints, 16000, subtype='PCM_16')

    from_path = pcm(identity_ans(str(path)))
    from_bytes = pcm(identity_ans(path.read_bytes()))
    from_int16 = pcm(identity_ans(ints))
    from_float = pcm(identity_ans(ints.astype(np.float32) / 32768))

    np.testing.assert_array_equal(from_path, from_bytes)
    np.testing.assert_array_equal(from_path, from_int16)
    np.testing.assert_array_equal(from_path, from_float)
    assert np.abs(from_path.astype(np.int32) - ints).max() <= MAX_INT16_ERROR


def test_list_input_is_a_batch_of_inputs(identity_ans, tmp_path):
    """ModelScope's contract: a list of inputs gives a list of results."""
    first, second = noise(1000, seed=6), noise(3000, seed=7)
    paths = [str(write_wav(tmp_path / f'{i}.wav', s)) for i, s in enumerate((first, second))]

    results = identity_ans(paths)

    assert isinstance(results, list) and len(results) == 2
    assert [pcm(r).size for r in results] == [1000, 3000]


def test_pathlib_path_input(identity_ans, tmp_path):
    path = write_wav(tmp_path / 'in.wav', noise(1000))
    assert pcm(identity_ans(path)).size == 1000


# ----------------------------------------------------------------------------- errors through ans()

def _missing(tmp_path):
    return str(tmp_path / 'missing.wav')


def _directory(tmp_path):
    return str(tmp_path)


def _empty_file(tmp_path):
    (tmp_path / 'empty.wav').touch()
    return str(tmp_path / 'empty.wav')


def _text_file(tmp_path):
    (tmp_path / 'text.wav').write_text('not audio at all\n' * 20)
    return str(tmp_path / 'text.wav')


def _truncated_header(tmp_path):
    data = write_wav(tmp_path / 'whole.wav', noise(1000)).read_bytes()
    (tmp_path / 'truncated.wav').write_bytes(data[:20])
    return str(tmp_path / 'truncated.wav')


def _zero_samples(tmp_path):
    return str(write_wav(tmp_path / 'zero.wav', np.zeros(0, np.float32)))


def _empty_bytes(tmp_path):
    return b''


def _corrupt_bytes(tmp_path):
    return b'RIFF\x00\x00\x00\x00WAVEjunkjunkjunk'


def _nan_array(tmp_path):
    signal = noise(1000)
    signal[5] = np.nan
    return signal


def _inf_array(tmp_path):
    signal = noise(1000)
    signal[5] = np.inf
    return signal


def _three_d_array(tmp_path):
    return np.zeros((2, 100, 2), np.float32)


def _complex_array(tmp_path):
    return np.zeros(100, np.complex64)


@pytest.mark.parametrize('make_input, error, words', [
    (_missing, AudioFileNotFoundError, 'not found'),
    (_directory, AudioFileNotFoundError, 'directory'),
    (_empty_file, EmptyAudioError, 'empty'),
    (_text_file, AudioDecodeError, 'decode'),
    (_truncated_header, AudioDecodeError, 'decode'),
    (_zero_samples, EmptyAudioError, 'no samples'),
    (_empty_bytes, EmptyAudioError, 'empty'),
    (_corrupt_bytes, AudioDecodeError, 'decode'),
    (_nan_array, AudioInputError, 'NaN'),
    (_inf_array, AudioInputError, 'infinite'),
    (_three_d_array, AudioInputError, 'shape'),
    (_complex_array, AudioTypeError, 'integers or floats'),
], ids=lambda value: getattr(value, '__name__', None) if callable(value) else None)
def test_bad_input_reaches_the_user_with_our_error(identity_ans, tmp_path, make_input, error,
                                                    words):
    with pytest.raises(error, match=words):
        identity_ans(make_input(tmp_path))


def test_wrong_type_reaches_the_user_as_audio_type_error(identity_ans):
    with pytest.raises(AudioTypeError, match='unsupported'):
        identity_ans(42)


def test_pipeline_still_works_after_an_error(identity_ans, tmp_path):
    with pytest.raises(AudioFileNotFoundError):
        identity_ans(str(tmp_path / 'missing.wav'))
    assert pcm(identity_ans(noise(800))).size == 800


# ----------------------------------------------------------------------------- random model

def test_random_model_changes_the_signal(random_ans, speech_like):
    """Guards the tests below: a random network is far from the identity."""
    x = speech_like[:16000]
    out = pcm(random_ans(x)).astype(np.float64)
    assert out.shape == x.shape
    assert snr_db(as_int16_units(x), out) < 20


@pytest.mark.parametrize('scale', [0.1, 0.5, 2.0])
def test_output_scales_with_input(random_ans, speech_like, scale):
    """out(s*x) == s*out(x): the normalisation gain is undone on the output."""
    x = speech_like[:16000]
    assert np.abs(scale * x).max() < 0.9  # no clipping of the scaled input

    base = pcm(random_ans(x)).astype(np.float64)
    scaled = pcm(random_ans((scale * x).astype(np.float32))).astype(np.float64)

    assert np.sqrt(np.mean(base ** 2)) > 100  # far above int16 rounding
    relative_error = np.linalg.norm(scaled - scale * base) / np.linalg.norm(scale * base)
    assert relative_error < 0.01


def test_random_model_is_deterministic(random_ans, speech_like):
    x = speech_like[:8000]
    np.testing.assert_array_equal(pcm(random_ans(x)), pcm(random_ans(x)))


# ----------------------------------------------------------------------------- weightless model

def test_model_dir_without_weights_is_refused(weightless_model_dir):
    with pytest.raises(WeightsNotFoundError, match='pytorch_model.bin') as info:
        build(weightless_model_dir)
    assert str(weightless_model_dir) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


# ----------------------------------------------------------------------------- call options

def test_keep_rate_and_channels(identity_ans, tmp_path):
    left, right = tone(300.0, 0.5, 44100, 0.3), tone(500.0, 0.5, 44100, 0.1)
    path = write_wav(tmp_path / 'stereo.wav', np.stack([left, right], axis=1), 44100,
                     subtype='FLOAT')
    output = tmp_path / 'kept.wav'

    result = identity_ans(str(path), sample_rate='keep', mono=False, output_path=str(output))

    assert (result['sample_rate'], result['channels']) == (44100, 2)
    interleaved = pcm(result).reshape(-1, 2)
    assert interleaved.shape == (left.size, 2)
    for channel, reference in enumerate((left, right)):  # below 8 kHz: survives 16 kHz
        assert snr_db(as_int16_units(reference)[200:-200], interleaved[200:-200, channel]) > 40
    written, rate = sf.read(str(output), dtype='int16')
    assert rate == 44100
    np.testing.assert_array_equal(written, interleaved)


def test_default_result_is_the_model_card_contract(identity_ans, tmp_path):
    stereo = np.stack([tone(300.0, 0.5, 44100), tone(500.0, 0.5, 44100)], axis=1)
    path = write_wav(tmp_path / 'stereo.wav', stereo, 44100, subtype='FLOAT')

    result = identity_ans(str(path))

    assert (result['sample_rate'], result['channels']) == (16000, 1)
    assert pcm(result).size == round(stereo.shape[0] * 16000 / 44100)


def test_chunked_pipeline_equals_one_pass_for_the_identity(identity_model_dir):
    chunked = pipeline(Tasks.acoustic_noise_suppression, model=str(identity_model_dir),
                       chunk_seconds=1.0)
    signal = noise(16000 * 5 + 123, seed=9)

    out = pcm(chunked(signal))

    assert out.size == signal.size
    assert np.abs(out - as_int16_units(signal)).max() <= MAX_INT16_ERROR


def test_input_shorter_than_one_frame_is_refused(identity_ans):
    with pytest.raises(AudioTooShortError, match='40 ms'):
        identity_ans(noise(639))


def test_array_in_channels_first_layout_is_refused(identity_ans):
    with pytest.raises(AudioLayoutError, match=r'\[T, C\]'):
        identity_ans(np.zeros((2, 48000), np.float32))


def test_bad_output_rate_is_refused(identity_ans):
    with pytest.raises(AudioOutputError, match='sample rate'):
        identity_ans(noise(8000), sample_rate='high')


def test_building_the_pipeline_leaves_the_allocator_alone(random_model_dir, monkeypatch):
    from modelscope_frcrn.inference import backends

    calls = []
    monkeypatch.setattr(backends, 'tune_malloc', lambda *args: calls.append(args))
    build(random_model_dir)
    assert calls == []  # mallopt is process-wide: only our CLI and server may change it
