"""Streams: the file path's output sample for sample, delayed by exactly ``latency``,
for blocks of any size; bounded memory; the running level close to the file's."""
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import modelscope_frcrn
from modelscope_frcrn.audio.levels import normalising_gain
from modelscope_frcrn.errors import AudioInputError, AudioLayoutError, AudioTypeError, UsageError
from modelscope_frcrn.evaluation.metrics import si_snr
from modelscope_frcrn.inference.loading import load_enhancer
from modelscope_frcrn.inference.streaming import StreamDenoiser

from conftest import EXAMPLE_WAV

RANDOM_SIZES = 'random'


def chunk_dependent(chunk: np.ndarray) -> np.ndarray:
    """A stand-in network whose output depends on the whole chunk, as FRCRN's does:
    a seam or a chunk boundary in the wrong place changes it."""
    return np.tanh(2.0 * chunk) * np.abs(chunk).mean(axis=-1, keepdims=True) * 10.0


def block_sizes(sizes, length: int, seed: int = 0):
    if sizes == RANDOM_SIZES:
        rng = np.random.default_rng(seed)
        sizes = list(rng.integers(1, 4000, size=64))
    position, index = 0, 0
    while position < length:
        size = int(sizes[index % len(sizes)])
        yield position, size
        position, index = position + size, index + 1


def streamed(stream: StreamDenoiser, signal: np.ndarray, sizes) -> np.ndarray:
    """Push ``signal`` ``[T, C]`` through ``stream`` in blocks; ``[T + latency, C]`` out."""
    outputs = []
    for start, size in block_sizes(sizes, len(signal)):
        block = signal[start:start + size]
        output = stream.process(block)
        assert len(output) == len(block)  # as many out as in, every call
        outputs.append(output)
    outputs.append(stream.flush())
    return np.concatenate(outputs)


def file_output(stream: StreamDenoiser, signal: np.ndarray, **settings) -> np.ndarray:
    """The file path's output with the stream's chunking and fixed gain. Shape: ``[T, C]``."""
    samples = signal.T
    blocks = stream.denoiser._denoise_blocks(
        [samples], stream.sample_rate, samples.shape[-1], normalising_gain(samples).astype(np.float32),
        stream.sample_rate, settings.get('mono', False), None, settings.get('bandwidth', 'full'),
        settings.get('atten_limit_db'))
    return np.concatenate(list(blocks), axis=1).T


def noise(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    envelope = 0.05 + 0.1 * np.abs(np.sin(np.linspace(0, 9, round(seconds * rate))))[:, None]
    return (envelope * rng.standard_normal((round(seconds * rate), channels))).astype(np.float32)


def fixed_gain_stream(enhance, signal: np.ndarray, rate: int, latency_seconds: float = 0.3,
                      **settings) -> StreamDenoiser:
    return StreamDenoiser(enhance, sample_rate=rate, channels=signal.shape[1],
                          latency_seconds=latency_seconds, gain=normalising_gain(signal.T)[:, 0],
                          **settings)


@pytest.mark.parametrize('sizes', [[1], [7], [160], [319], [320], [321], [1000], [16000],
                                   RANDOM_SIZES])
def test_stream_is_the_file_output_delayed_by_latency(sizes):
    signal = noise(1.5, 16000, 1)
    stream = fixed_gain_stream(chunk_dependent, signal, 16000)

    out = streamed(stream, signal, sizes)

    latency = stream.latency
    assert out.shape == (len(signal) + latency, 1)
    assert not out[:latency].any()
    np.testing.assert_array_equal(out[latency:], file_output(stream, signal))


@pytest.mark.parametrize('rate, settings', [
    (48000, {}), (44100, {'bandwidth': 'model'}), (48000, {'atten_limit_db': 12.0}),
    (8000, {'latency_seconds': 0.5}), (22050, {'mono': True})])
@pytest.mark.parametrize('sizes', [[7], [441], RANDOM_SIZES])
def test_stream_is_the_file_output_at_other_rates(rate, settings, sizes):
    """Resampling, the full band, the attenuation limit and mono go through the same stage."""
    signal = noise(1.2, rate, 2)
    stream = fixed_gain_stream(chunk_dependent, signal, rate, **settings)

    out = streamed(stream, signal, sizes)

    expected = file_output(stream, signal, **settings)
    assert out.shape[1] == (1 if settings.get('mono') else 2)
    assert out.shape == (len(signal) + stream.latency, expected.shape[1])
    np.testing.assert_array_equal(out[stream.latency:], expected)


@pytest.mark.parametrize('rate', [16000, 44100, 48000])
def test_latency_is_exact_and_within_the_budget(rate):
    """An impulse through a network that changes nothing comes out ``latency`` samples later
    (full band off at 16 kHz; above, resampled down and up, its peak moves by less than a
    sample), and the latency is the most asked for."""
    stream = StreamDenoiser(lambda chunk: chunk, sample_rate=rate, latency_seconds=0.2, gain=1.0)
    signal = np.zeros(rate // 2, np.float32)
    signal[rate // 10] = 0.5

    out = streamed(stream, signal, [rate // 100])

    assert stream.latency <= 0.2 * rate
    assert int(np.argmax(np.abs(out))) == rate // 10 + stream.latency


def test_latency_figures():
    """The chunk's wait (chunk - 1 samples) alone at 16 kHz; soxr's buffers and, with the
    full band, the upper band's 10 ms STFT window added above."""
    at_16k = StreamDenoiser(chunk_dependent, latency_seconds=0.5)
    at_48k = StreamDenoiser(chunk_dependent, sample_rate=48000, latency_seconds=0.5)

    assert (at_16k.chunk_seconds, at_16k.latency) == (0.5, 7999)
    assert at_16k.overlap_seconds == pytest.approx(0.14)
    assert at_48k.chunk_seconds == pytest.approx(0.40)
    assert 0.48 * 48000 < at_48k.latency <= 0.5 * 48000  # within a 20 ms chunk step


def test_latency_below_what_the_model_needs_is_refused_with_the_least():
    with pytest.raises(UsageError, match=r'at least 0\.080 s \(1279 samples: a 80 ms chunk'):
        StreamDenoiser(chunk_dependent, latency_seconds=0.05)
    with pytest.raises(UsageError, match=r'48000 Hz: at least 0\.1.* plus the resamplers'):
        StreamDenoiser(chunk_dependent, sample_rate=48000, latency_seconds=0.08)


def test_memory_stays_bounded_over_ten_minutes():
    """10 minutes in 100 ms blocks with the running level: nothing grows with the length."""
    stream = StreamDenoiser(lambda chunk: 0.5 * chunk, latency_seconds=0.3)
    block = noise(0.1, 16000, 1)
    tracemalloc.start()
    try:
        for index in range(10 * 60 * 10):
            stream.process(block)
            if index == 60 * 10:
                after_a_minute = tracemalloc.get_traced_memory()[0]
        at_the_end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert at_the_end - after_a_minute < 100_000
    assert peak < 2_000_000


def test_a_flushed_stream_starts_again():
    signal = noise(1.0, 16000, 1)
    stream = StreamDenoiser(chunk_dependent, latency_seconds=0.3)

    first, second = (streamed(stream, signal, [500]) for _ in range(2))

    np.testing.assert_array_equal(first, second)


def test_a_stream_shorter_than_its_latency_comes_out_whole_at_the_flush():
    signal = noise(0.1, 16000, 2)
    stream = fixed_gain_stream(chunk_dependent, signal, 16000)

    out = streamed(stream, signal, [300])

    assert out.shape == (len(signal) + stream.latency, 2)
    np.testing.assert_array_equal(out[stream.latency:], file_output(stream, signal))


def test_blocks_keep_their_layout_and_integers_are_scaled():
    stream = StreamDenoiser(lambda chunk: chunk, latency_seconds=0.1, gain=1.0)
    pcm = (noise(0.2, 16000, 1)[:, 0] * 32768).astype(np.int16)

    out = np.concatenate([stream.process(pcm), stream.flush()])

    assert out.ndim == 1 and out.dtype == np.float32
    np.testing.assert_allclose(out[stream.latency:], pcm / 32768.0, atol=1e-6)


@pytest.mark.parametrize('block, error, message', [
    (np.zeros((100, 3), np.float32), AudioLayoutError, r'blocks must be \[n, 2\] \(time first\)'),
    (np.zeros(100, np.float32), AudioLayoutError, r'2 channels'),
    (np.full((10, 2), np.nan, np.float32), AudioInputError, 'NaN or infinite'),
    (np.array([['a', 'b']]), AudioTypeError, 'integers or floats'),
])
def test_bad_blocks_are_refused_by_name(block, error, message):
    stream = StreamDenoiser(chunk_dependent, channels=2, latency_seconds=0.1)
    with pytest.raises(error, match=message):
        stream.process(block)


def test_running_level_is_scale_free():
    """The running normaliser, like the file's one gain, makes the output follow the input's
    scale: a stream 20 dB quieter gives the same output 20 dB quieter."""
    signal = noise(2.0, 16000, 1)
    outputs = [streamed(StreamDenoiser(chunk_dependent, latency_seconds=0.3), scale * signal,
                        [320]) for scale in (1.0, 0.1)]

    np.testing.assert_allclose(outputs[1], 0.1 * outputs[0], rtol=1e-4, atol=1e-7)


@pytest.fixture(scope='module')
def shipped_network():
    return load_enhancer()


@pytest.fixture(scope='module')
def small_network(random_model_dir):
    return load_enhancer(str(random_model_dir))


@pytest.mark.parametrize('network, rate, sizes', [('shipped_network', 16000, RANDOM_SIZES),
                                                  ('small_network', 48000, [960])])
def test_frcrn_stream_is_its_file_output(request, network, rate, sizes):
    signal = noise(1.0, rate, 1)
    stream = fixed_gain_stream(request.getfixturevalue(network), signal, rate, latency_seconds=0.5)

    out = streamed(stream, signal, sizes)

    np.testing.assert_array_equal(out[stream.latency:], file_output(stream, signal))


@pytest.mark.slow
def test_running_level_is_close_to_the_file_level(shipped_network):
    """The figure in the README: the example's first 5 s, 20 ms blocks, 0.5 s latency;
    running level (5 s time constant) against the file path's one gain: 44.5 dB SI-SNR on
    the whole 9 s example (and the same on a copy 20 dB quieter: both are scale-free)."""
    noisy, _ = sf.read(EXAMPLE_WAV, dtype='float32', frames=5 * 16000)
    stream = StreamDenoiser(shipped_network, latency_seconds=0.5)

    out = streamed(stream, noisy, [320])[stream.latency:]
    whole_file = stream.denoiser.enhance(noisy[None])[0]

    assert si_snr(out, whole_file) > 40.0


def test_exported_at_the_top_and_built_like_the_pipeline(random_model_dir):
    stream = modelscope_frcrn.StreamDenoiser.from_model(str(random_model_dir), backend='torch',
                                                         precision='fp32', threads=1,
                                                         sample_rate=48000, channels=2)
    block = noise(0.02, 48000, 2)

    assert stream.process(block).shape == block.shape
    assert stream.latency <= 0.5 * 48000
