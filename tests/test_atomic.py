"""modelscope_frcrn.atomic: complete files under the final name, usual permissions, no umask toggling."""
import os
import stat
import threading

import pytest

from modelscope_frcrn import atomic
from modelscope_frcrn.atomic import write_atomically, write_text_atomically


def test_the_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, 'fsync',
                        lambda handle: (events.append(('fsync', _path_of(handle))),
                                        real_fsync(handle)))
    monkeypatch.setattr(atomic.os, 'replace',
                        lambda source, target: (events.append(('replace', source)),
                                                real_replace(source, target)))
    write_text_atomically(tmp_path / 'out.txt', 'hello')
    temp_path = next(path for kind, path in events if kind == 'replace')
    assert ('fsync', temp_path) in events
    assert events.index(('fsync', temp_path)) < events.index(('replace', temp_path))
    assert (tmp_path / 'out.txt').read_text() == 'hello'


def test_permissions_follow_the_umask_without_touching_it(tmp_path, monkeypatch):
    previous = os.umask(0o027)
    try:
        def refuse(mask):
            raise AssertionError('os.umask is process-wide: other threads race on it')
        monkeypatch.setattr(atomic.os, 'umask', refuse)
        write_text_atomically(tmp_path / 'out.txt', 'x')
    finally:
        monkeypatch.undo()
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / 'out.txt').stat().st_mode) == 0o640


def test_a_failed_write_leaves_nothing(tmp_path):
    def fail(stream):
        stream.write(b'partial')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / 'out.bin', fail)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_in_one_folder_all_succeed(tmp_path):
    def write(index):
        for repeat in range(20):
            write_text_atomically(tmp_path / f'{index}.txt', f'{index}-{repeat}')

    threads = [threading.Thread(target=write, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(path.name for path in tmp_path.iterdir()) == [f'{i}.txt' for i in range(4)]
    assert all((tmp_path / f'{i}.txt').read_text() == f'{i}-19' for i in range(4))


def _path_of(handle: int) -> str:
    return os.readlink(f'/proc/self/fd/{handle}')


def test_a_killed_writes_temporary_file_goes_when_the_file_is_written(tmp_path):
    target = tmp_path / 'out.wav'
    leftover = tmp_path / '.out.wav.0123abcd.part'  # what SIGKILL during a write leaves
    leftover.write_bytes(b'half')
    other = tmp_path / '.other.wav.0123abcd.part'
    other.write_bytes(b'half')
    write_atomically(target, lambda stream: stream.write(b'whole'))
    assert target.read_bytes() == b'whole'
    assert sorted(path.name for path in tmp_path.iterdir()) == ['.other.wav.0123abcd.part',
                                                                 'out.wav']
