"""modelscope_frcrn.audio.streams: the output format chosen for each container, write failures
as AudioOutputError, resume's completeness check, and no decoded temporary copy left behind."""
import errno
import io
import os
import sys
import tempfile

import numpy as np
import pytest
import soundfile as sf

from modelscope_frcrn.audio import streams
from modelscope_frcrn.audio.streams import (AudioFileReader, AudioFormat, output_format,
                                            output_is_complete, write_audio_file)
from modelscope_frcrn.errors import AudioDecodeError, AudioOutputError, EmptyAudioError


def source(subtype='PCM_16', rate=16000, channels=1, container='WAV'):
    return AudioFormat(rate, channels, container, subtype)


@pytest.mark.parametrize('lossy', ['MPEG_LAYER_III', 'VORBIS', 'OPUS'])
@pytest.mark.parametrize('extension', ['.wav', '.flac', '.aiff'])
def test_lossy_sources_become_16_bit_pcm_in_lossless_containers(lossy, extension):
    assert output_format('out' + extension, source(lossy), 16000, 1).subtype == 'PCM_16'


@pytest.mark.parametrize('rate, written', [(96000, 48000), (44100, 44100), (7000, 8000)])
def test_a_kept_rate_mp3_does_not_take_becomes_the_nearest_it_does(rate, written):
    assert output_format('out.mp3', source(rate=rate), rate, 1).sample_rate == written


@pytest.mark.parametrize('rate, written', [(44100, 48000), (22050, 24000), (96000, 48000)])
def test_opus_rates(rate, written):
    assert output_format('out.opus', source(rate=rate), rate, 1).sample_rate == written


def test_vorbis_above_200_khz_is_resampled_not_crashed():
    assert output_format('out.ogg', source(rate=384000), 384000, 1).sample_rate == 192000


def test_an_explicit_rate_the_encoder_refuses_is_an_error_naming_the_file():
    with pytest.raises(AudioOutputError, match=r'out\.mp3.*96000 Hz.*48000'):
        output_format('out.mp3', source(rate=16000), 96000, 1, exact_rate=True)


@pytest.mark.parametrize('extension, channels', [('.mp3', 3), ('.flac', 9)])
def test_more_channels_than_the_container_holds_is_refused(extension, channels):
    with pytest.raises(AudioOutputError, match=f'out\\{extension}.*at most'):
        output_format('out' + extension, source(channels=channels), 16000, channels)


def test_float_sources_keep_24_bits_in_flac():
    assert output_format('out.flac', source('FLOAT'), 16000, 1).subtype == 'PCM_24'


def test_a_write_libsndfile_refuses_is_an_output_error_naming_the_file(tmp_path):
    refused = AudioFormat(16000, 1, 'WAV', 'MPEG_LAYER_III')  # what the old choice made of MP3
    path = tmp_path / 'talk.wav'
    with pytest.raises(AudioOutputError, match='talk.wav'):
        write_audio_file(path, [np.zeros((1, 1600), np.float32)], refused)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_an_output_error_naming_the_file(tmp_path):
    (tmp_path / 'blocked').write_text('a file where a folder should be')
    with pytest.raises(AudioOutputError, match='blocked/out.wav'):
        write_audio_file(tmp_path / 'blocked' / 'out.wav', [np.zeros((1, 1600), np.float32)],
                         source())


class FullDisk(io.RawIOBase):
    """A file descriptor's writes that fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, handle: int, room: int):
        self.file = io.FileIO(handle, 'wb')
        self.room = room

    def writable(self):
        return True

    def seekable(self):
        return True

    def write(self, data):
        if self.file.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)

    def seek(self, offset, whence=os.SEEK_SET):
        return self.file.seek(offset, whence)

    def tell(self):
        return self.file.tell()

    def close(self):
        self.file.close()
        super().close()


@pytest.mark.parametrize('name, room', [('out.wav', 0), ('out.wav', 5000), ('out.flac', 5000),
                                        ('out.mp3', 2000)])
def test_a_full_disk_is_an_output_error_naming_the_file_without_a_traceback(tmp_path, monkeypatch,
                                                                          name, room):
    from modelscope_frcrn import atomic

    monkeypatch.setattr(atomic.os, 'fdopen',
                        lambda handle, mode: io.BufferedWriter(FullDisk(handle, room)))
    escaped = []  # what libsndfile's write callbacks raised: printed as tracebacks, then ignored
    monkeypatch.setattr(sys, 'unraisablehook', escaped.append)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 16000)).astype(np.float32)
    audio_format = output_format(name, source(), 16000, 1)

    with pytest.raises(AudioOutputError, match=f'{name}.*No space left on device'):
        write_audio_file(tmp_path / name, [noise] * 4, audio_format)
    assert escaped == [] and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- resume check

def test_only_an_output_of_the_full_length_counts_as_complete(tmp_path):
    noisy = tmp_path / 'in.wav'
    sf.write(str(noisy), np.zeros(44100, np.float32), 44100)
    output = tmp_path / 'out.flac'
    sf.write(str(output), np.zeros(16000, np.float32), 16000)  # same duration, other rate
    assert output_is_complete(noisy, output)

    whole = tmp_path / 'whole.wav'
    sf.write(str(whole), np.zeros(44100, np.float32), 44100, subtype='PCM_16')
    cut = tmp_path / 'cut.wav'  # an older version killed mid-write: header says more than there is
    cut.write_bytes(whole.read_bytes()[:44 + 2 * 30000])
    assert not output_is_complete(noisy, cut)
    (tmp_path / 'garbage.wav').write_bytes(b'RIFF' + b'\0' * 100)
    assert not output_is_complete(noisy, tmp_path / 'garbage.wav')


# ----------------------------------------------------------------------------- temporary files

@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    root = tmp_path / 'tmp'
    root.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(root))
    return root


def fake_ffmpeg(monkeypatch, decode):
    """FFmpeg stand-in: ``decode(output_path)`` plays the decoding."""
    class Finished:
        returncode, stderr = 0, ''

    def run(command, **kwargs):
        decode(command[-1])
        return Finished()

    monkeypatch.setattr(streams.shutil, 'which', lambda name: '/usr/bin/' + name)
    monkeypatch.setattr(streams.subprocess, 'run', run)


def aac_file(tmp_path):
    path = tmp_path / 'talk.m4a'
    path.write_bytes(b'\0\0\0\x20ftypM4A ' + bytes(200))  # libsndfile does not read it
    return path


def test_the_decoded_copy_is_removed_when_the_reader_fails_after_decoding(tmp_path, temp_root,
                                                                        monkeypatch):
    fake_ffmpeg(monkeypatch, lambda path: sf.write(path, np.zeros((0, 1)), 16000, format='W64'))
    with pytest.raises(EmptyAudioError):
        AudioFileReader(aac_file(tmp_path))
    assert list(temp_root.iterdir()) == []

    fake_ffmpeg(monkeypatch, lambda path: open(path, 'wb').write(b'not audio'))
    with pytest.raises(AudioDecodeError):
        AudioFileReader(aac_file(tmp_path))
    assert list(temp_root.iterdir()) == []


def test_the_decoded_copy_is_removed_on_ctrl_c(tmp_path, temp_root, monkeypatch):
    def interrupted(path):
        raise KeyboardInterrupt

    fake_ffmpeg(monkeypatch, interrupted)
    with pytest.raises(KeyboardInterrupt):
        AudioFileReader(aac_file(tmp_path))
    assert list(temp_root.iterdir()) == []


def test_a_decoded_copy_lives_as_long_as_its_reader(tmp_path, temp_root, monkeypatch):
    fake_ffmpeg(monkeypatch, lambda path: sf.write(path, np.zeros((1600, 2)), 16000, format='W64'))
    with AudioFileReader(aac_file(tmp_path)) as reader:
        assert reader.format == AudioFormat(16000, 2, 'FFMPEG', 'PCM_16')
        assert sum(block.shape[1] for block in reader.blocks()) == 1600
        assert len(os.listdir(temp_root)) == 1
    assert list(temp_root.iterdir()) == []
