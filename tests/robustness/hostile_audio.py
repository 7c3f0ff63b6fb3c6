"""Hostile audio for the robustness tests: every truncation of a small WAV, FLAC and MP3,
seeded random byte flips in their headers, and headers that lie; a guard that turns a hang
into a failure with a stack dump."""
import faulthandler
import io
import random
import sys
from contextlib import contextmanager
from typing import Dict, Iterator

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
#: 50 ms of a 440 Hz tone: longer than the model's 40 ms frame, a few hundred bytes encoded
TONE = (0.3 * np.sin(2 * np.pi * 440 * np.arange(800) / SAMPLE_RATE)).astype(np.float32)
FORMATS = {'wav': ('WAV', 'PCM_16'), 'flac': ('FLAC', 'PCM_16'), 'mp3': ('MP3', 'MPEG_LAYER_III')}
#: where the flips land: the RIFF/fmt/data headers, fLaC + STREAMINFO, the first MPEG frames
HEADER_BYTES = 64
FLIPS_PER_FORMAT = 100
#: a case that takes longer is taken for a hang
CASE_SECONDS = 60


def encoded(extension: str, samples: np.ndarray = TONE) -> bytes:
    file_format, subtype = FORMATS[extension]
    stream = io.BytesIO()
    sf.write(stream, samples, SAMPLE_RATE, subtype=subtype, format=file_format)
    return stream.getvalue()


def hostile_cases() -> Dict[str, bytes]:
    """Name (``<format>_cut_<length>``, ``<format>_flip_<n>``, with the format's extension)
    -> file content: every strict prefix of each file, and ``FLIPS_PER_FORMAT`` copies with
    1 to 3 random bytes of the header XOR-ed with a random non-zero byte (seed 0)."""
    cases = {}
    for extension in FORMATS:
        data = encoded(extension)
        for length in range(len(data)):
            cases[f'{extension}_cut_{length:05d}.{extension}'] = data[:length]
        rng = random.Random(f'{extension}-0')
        for number in range(FLIPS_PER_FORMAT):
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                flipped[rng.randrange(HEADER_BYTES)] ^= rng.randint(1, 255)
            cases[f'{extension}_flip_{number:03d}.{extension}'] = bytes(flipped)
    return cases


def wav_header_lie(offset: int, value: int, width: int) -> bytes:
    """The tone as a PCM_16 WAV with the little-endian field at ``offset`` set to ``value``
    (22: channels, 24: sample rate, 40: data size)."""
    data = bytearray(encoded('wav'))
    data[offset:offset + width] = value.to_bytes(width, 'little')
    return bytes(data)


def flac_declaring(total_frames: int, samples: np.ndarray = TONE) -> bytes:
    """The tone as FLAC whose STREAMINFO claims ``total_frames`` frames."""
    data = bytearray(encoded('flac', samples))
    fields = int.from_bytes(data[18:26], 'big')  # rate 20 | channels 3 | bits 5 | frames 36
    data[18:26] = ((fields & ~((1 << 36) - 1)) | total_frames).to_bytes(8, 'big')
    return bytes(data)


HEADER_LIES = {
    'channels_1024': wav_header_lie(22, 1024, 2),
    'channels_65535': wav_header_lie(22, 65535, 2),
    'rate_0': wav_header_lie(24, 0, 4),
    'rate_1': wav_header_lie(24, 1, 4),
    'rate_2147483647': wav_header_lie(24, 2**31 - 1, 4),
    'data_beyond_the_file': wav_header_lie(40, 0xFFFFFFF0, 4),
    'flac_frames_beyond_the_file': flac_declaring(10**9),
}


@contextmanager
def hang_guard(seconds: float = CASE_SECONDS) -> Iterator[None]:
    """Ends the test process with every thread's stack if the block runs longer than
    ``seconds``: a hang fails the run instead of stalling CI."""
    faulthandler.dump_traceback_later(seconds, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
