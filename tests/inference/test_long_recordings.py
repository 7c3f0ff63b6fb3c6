"""Long recordings go through in blocks: a child process's peak memory for 4 minutes of audio is
that for 1 minute, give or take a few MB. Measured at 48 kHz mono: 432 and 434 MB; with the
reader made to return the whole file as one block, 542 and 1633 MB."""
import numpy as np
import soundfile as sf

from conftest import run_python

RATE = 48000
CHANNELS = 1
LONG_MINUTES = 4
#: peak-RSS difference allowed between 4 minutes and 1 (each minute held whole adds 11 MB or more)
MARGIN_MB = 16
# The file path end to end (level pass, resampling, full-band split, chunks, writing) with a
# pass-through network, so that only the data path's memory is measured.
PEAK_RSS = '''
import resource
from modelscope_frcrn.inference.denoiser import Denoiser
Denoiser(lambda chunk: chunk.copy(), chunk_seconds=6.0, overlap_seconds=1.0).denoise_file(
    {source!r}, {output!r})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
'''


def write_long_wav(path, minutes: int) -> None:
    """``minutes`` of quiet noise at 48 kHz, written a second at a time."""
    rng = np.random.default_rng(minutes)
    with sf.SoundFile(path, 'w', RATE, CHANNELS, 'PCM_16') as out:
        for _ in range(minutes * 60):
            out.write((0.05 * rng.standard_normal((RATE, CHANNELS))).astype(np.float32))


def peak_rss_mb(tmp_path, minutes: int) -> int:
    source, output = tmp_path / f'{minutes}min.wav', tmp_path / f'{minutes}min_out.wav'
    write_long_wav(source, minutes)
    stdout = run_python(PEAK_RSS.format(source=str(source), output=str(output))).stdout
    assert sf.info(str(output)).frames == minutes * 60 * RATE
    source.unlink()
    return int(stdout.split()[-1])


def test_four_minutes_take_no_more_memory_than_one(tmp_path):
    one, long = peak_rss_mb(tmp_path, 1), peak_rss_mb(tmp_path, LONG_MINUTES)
    assert long - one < MARGIN_MB, (one, long)
