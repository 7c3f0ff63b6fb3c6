"""Writing files atomically: a temporary file in the same folder, flushed to disk, then a rename.

Every file this package writes (audio, weights, results) goes through here, so
an interrupted write never leaves a partial file under the final name, and a
file that exists under its final name is complete (resuming relies on it). The
hidden temporary file a killed write leaves is deleted when that file is next
written.
"""
import glob
import os
import secrets
from typing import BinaryIO, Callable


def write_atomically(path, write: Callable[[BinaryIO], None]) -> None:
    """Create ``path`` (and its folder) with ``write(stream)``; readers never see a partial
    file and a failed write leaves nothing under ``path``. The file gets the usual
    permissions (``0o666`` less the umask)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = _create_temporary(directory, os.path.basename(path))
    try:
        with os.fdopen(handle, 'wb') as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())  # the data is on disk before the name points at it
        os.replace(temp_path, path)
    except BaseException:
        os.unlink(temp_path)
        raise
    _sync_directory(directory)
    _remove_leftovers(directory, os.path.basename(path))


def write_text_atomically(path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_atomically`)."""
    write_atomically(path, lambda stream: stream.write(text.encode('utf-8')))


def _create_temporary(directory: str, name: str):
    """(descriptor, path) of a new hidden file beside ``name``. Opened with mode 0o666, so
    the kernel applies the umask (``tempfile.mkstemp`` makes 0o600, and reading the umask
    means setting it, process-wide, which races with other threads)."""
    while True:
        temp_path = os.path.join(directory, f'.{name}.{secrets.token_hex(4)}.part')
        try:
            return os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp_path
        except FileExistsError:
            continue


def _remove_leftovers(directory: str, name: str) -> None:
    """Delete the temporary files of earlier writes of ``name`` that were killed before their
    rename (SIGKILL, power loss): once ``name`` is complete, nothing else needs them."""
    pattern = f'.{glob.escape(name)}.{"[0-9a-f]" * 8}.part'
    for leftover in glob.glob(os.path.join(glob.escape(directory), pattern)):
        try:
            os.unlink(leftover)
        except OSError:  # gone already, or not ours to delete
            pass


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
