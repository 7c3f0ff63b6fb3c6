"""``modelscope-frcrn denoise - -o -``: denoise standard input to standard output as it flows.

Input: a WAV stream (a length of 0 or 0xFFFFFFFF, as FFmpeg writes to a pipe, means
"until the end"; RIFF, RF64 and WAVE_FORMAT_EXTENSIBLE headers; 8/16/24/32-bit
integer or 32/64-bit float samples), or raw PCM described by ``--raw ENC:RATE:CHANNELS``.
Output: the same encoding, rate and channels (one with ``--mono``), as a WAV stream of
unknown length or, with ``--raw``, raw. The audio goes through a
:class:`~.streaming.StreamDenoiser` block by block as it arrives; the output is
written as it is ready, ``latency`` later but aligned with the input (the stream's
leading zeros are dropped), and as long as the input once standard input closes. So
``ffmpeg -i IN -f wav - | modelscope-frcrn denoise - -o - | ffmpeg -f wav -i - OUT``
works on endless inputs. A reader that stops reading ends the command quietly (exit
0); Ctrl-C ends it with exit 130, without a traceback. Messages go to stderr only.
"""
import argparse
import os
import struct
import sys
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional, Tuple

import numpy as np

from ..errors import AudioDecodeError, EmptyAudioError, UsageError
from .denoiser import KEEP
from .streaming import StreamDenoiser

STDIO = '-'
#: Raw encodings: numpy's type for each (24-bit is read into int32).
ENCODINGS = {'u8': '<u1', 's16le': '<i2', 's24le': '<i4', 's32le': '<i4', 'f32le': '<f4',
             'f64le': '<f8'}
_SAMPLE_BYTES = {'u8': 1, 's16le': 2, 's24le': 3, 's32le': 4, 'f32le': 4, 'f64le': 8}
_WAV_PCM, _WAV_FLOAT, _WAV_EXTENSIBLE = 1, 3, 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
READ_BYTES = 1 << 16
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class PcmFormat:
    """Interleaved PCM: ``encoding`` (a key of :data:`ENCODINGS`), rate and channels."""
    encoding: str
    sample_rate: int
    channels: int

    @property
    def frame_bytes(self) -> int:
        return _SAMPLE_BYTES[self.encoding] * self.channels

    def decode(self, data: bytes) -> np.ndarray:
        """Whole frames of ``data`` as samples of the encoding's numpy type. Shape: ``[n, C]``."""
        if self.encoding == 's24le':
            padded = np.zeros((len(data) // 3, 4), np.uint8)
            padded[:, 1:] = np.frombuffer(data, np.uint8).reshape(-1, 3)
            samples = padded.view('<i4')  # the 24 bits on top: an int32 at the same scale
        else:
            samples = np.frombuffer(data, ENCODINGS[self.encoding])
        return samples.reshape(-1, self.channels)

    def encode(self, samples: np.ndarray) -> bytes:
        """Float samples ``[n, C]`` (clipped to full scale for integer encodings) as bytes."""
        if self.encoding in ('f32le', 'f64le'):
            return np.ascontiguousarray(samples, ENCODINGS[self.encoding]).tobytes()
        bits = 8 * _SAMPLE_BYTES[self.encoding]
        scale = 2.0 ** (bits - 1)
        integers = np.clip(np.round(samples * scale), -scale, scale - 1).astype(np.int64)
        if self.encoding == 'u8':
            return (integers + 128).astype(np.uint8).tobytes()
        little_endian = integers.astype('<i8').view(np.uint8).reshape(*integers.shape, 8)
        return np.ascontiguousarray(little_endian[..., :bits // 8]).tobytes()

    def wav_header(self) -> bytes:
        """A WAV header of unknown length (sizes 0xFFFFFFFF), as FFmpeg writes to pipes."""
        sample_bytes = _SAMPLE_BYTES[self.encoding]
        tag = _WAV_FLOAT if self.encoding.startswith('f') else _WAV_PCM
        fmt = struct.pack('<HHIIHH', tag, self.channels, self.sample_rate,
                          self.sample_rate * self.frame_bytes, self.frame_bytes, 8 * sample_bytes)
        return (b'RIFF' + struct.pack('<I', 0xFFFFFFFF) + b'WAVE' + b'fmt '
                + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', 0xFFFFFFFF))


def parse_raw(text: str) -> PcmFormat:
    """``ENC:RATE:CHANNELS`` (e.g. ``s16le:16000:1``) as a :class:`PcmFormat`; an
    :class:`argparse.ArgumentTypeError` naming the problem otherwise."""
    parts = text.split(':')
    if len(parts) != 3 or parts[0] not in ENCODINGS:
        raise argparse.ArgumentTypeError(
            f'expected ENC:RATE:CHANNELS with ENC one of {", ".join(ENCODINGS)}, got {text!r}')
    try:
        rate, channels = int(parts[1]), int(parts[2])
    except ValueError:
        rate = channels = 0
    if rate <= 0 or channels <= 0:
        raise argparse.ArgumentTypeError(f'RATE and CHANNELS must be positive integers, '
                                         f'got {text!r}')
    return PcmFormat(parts[0], rate, channels)


def read_wav_header(stream: BinaryIO) -> Tuple[PcmFormat, Optional[int]]:
    """Read a WAV header up to its sample data: the format, and the data's size in bytes
    (None: until the end of the stream)."""
    riff = stream.read(12)
    if not riff:
        raise EmptyAudioError('standard input is empty: no audio to denoise')
    if riff[:4] not in (b'RIFF', b'RF64') or riff[8:12] != b'WAVE':
        raise AudioDecodeError('standard input is not a WAV stream (no RIFF/WAVE header); for '
                               'raw PCM give its format, e.g. --raw s16le:16000:1')
    pcm, rf64_size = None, None
    while True:
        chunk_id, size = struct.unpack('<4sI', _read_exactly(stream, 8, 'a WAV chunk header'))
        if chunk_id == b'data':
            break
        body = _read_exactly(stream, size + size % 2, f'the WAV {chunk_id!r} chunk')
        if chunk_id == b'fmt ':
            pcm = _wav_format(body)
        elif chunk_id == b'ds64':
            rf64_size = struct.unpack('<Q', body[8:16])[0]
    if pcm is None:
        raise AudioDecodeError('the WAV stream on standard input has no format (fmt) chunk '
                               'before its data')
    if riff[:4] == b'RF64' and size == 0xFFFFFFFF and rf64_size:
        return pcm, rf64_size
    return pcm, None if size in _UNKNOWN_SIZES else size


def _wav_format(fmt: bytes) -> PcmFormat:
    tag, channels, rate, _, _, bits = struct.unpack('<HHIIHH', fmt[:16])
    if tag == _WAV_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack('<H', fmt[24:26])[0]  # the sub-format GUID's first two bytes
    kind = {_WAV_PCM: 'u' if bits == 8 else 's', _WAV_FLOAT: 'f'}.get(tag)
    encoding = f'{kind}{bits}' + ('' if bits == 8 else 'le') if kind else ''
    if encoding not in ENCODINGS or channels == 0:
        raise AudioDecodeError(f'the WAV stream on standard input holds {bits}-bit samples of '
                               f'format {tag:#x} in {channels} channels; integer (8-32 bit) and '
                               f'float (32/64 bit) PCM are read (ffmpeg ... -c:a pcm_s16le)')
    return PcmFormat(encoding, rate, channels)


def _read_exactly(stream: BinaryIO, count: int, what: str) -> bytes:
    data = stream.read(count)
    if len(data) < count:
        raise AudioDecodeError(f'standard input ended inside {what}')
    return data


def pcm_blocks(stream: BinaryIO, pcm: PcmFormat, size: Optional[int] = None
               ) -> Iterator[np.ndarray]:
    """The samples on ``stream`` as they arrive, in whole frames (``[n, C]``), up to ``size``
    bytes or the end of the stream."""
    read = getattr(stream, 'read1', stream.read)  # what is there, without waiting for more
    left, pending = size, b''
    while left is None or left > 0:
        data = read(READ_BYTES if left is None else min(READ_BYTES, left))
        if not data:
            break
        left = None if left is None else left - len(data)
        pending += data
        whole = len(pending) - len(pending) % pcm.frame_bytes
        if whole:
            yield pcm.decode(pending[:whole])
            pending = pending[whole:]


def run_pipe(args: argparse.Namespace, source: Optional[BinaryIO] = None,
             sink: Optional[BinaryIO] = None) -> int:
    """The ``denoise - -o -`` command; returns the exit code."""
    _check_pipe_options(args)
    source = source or sys.stdin.buffer
    sink = sink or sys.stdout.buffer
    try:
        pcm, size = (args.raw, None) if args.raw else read_wav_header(source)
        stream = _build_stream(args, pcm)
        output = PcmFormat(pcm.encoding, pcm.sample_rate, 1 if args.mono else pcm.channels)
        if not args.raw:
            _write(sink, output.wav_header())
        skip = stream.latency  # the stream's leading zeros: the output stays aligned
        for block in _denoised(stream, pcm_blocks(source, pcm, size)):
            _write(sink, output.encode(block[skip:]))
            skip = max(0, skip - len(block))
    except BrokenPipeError:
        _silence_stdout()  # the reader is gone: nothing left to say, no error at exit
        return 0
    except KeyboardInterrupt:
        print('modelscope-frcrn: interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _denoised(stream: StreamDenoiser, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    for block in blocks:
        yield stream.process(block)
    yield stream.flush()


def _write(sink: BinaryIO, data: bytes) -> None:
    sink.write(data)
    sink.flush()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _check_pipe_options(args: argparse.Namespace) -> None:
    if args.inputs != [STDIO] or args.output != STDIO:
        raise UsageError("standard input goes to standard output: use 'denoise - -o -' "
                         '(one input, no files)')
    if args.sample_rate != KEEP:
        raise UsageError('a pipe keeps its sample rate; resample after it '
                         '(e.g. ffmpeg -f wav -i - -ar 16000 OUT)')


def _build_stream(args: argparse.Namespace, pcm: PcmFormat) -> StreamDenoiser:
    from .loading import load_enhancer

    enhancer = load_enhancer(args.model, backend=args.backend, precision=args.precision,
                             device=args.device, threads=args.threads,
                             onnx_path=args.onnx_model, malloc_tuning=True,
                             post_filter_beta=args.post_filter_beta)
    return StreamDenoiser(enhancer, pcm.sample_rate, pcm.channels,
                          latency_seconds=args.latency, bandwidth=args.bandwidth,
                          atten_limit_db=args.atten_limit_db, mono=args.mono)
