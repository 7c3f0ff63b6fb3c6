"""Writing files atomically: a temporary file in the same folder, then a rename.

Every file this package writes (audio, weights, results) goes through here, so
an interrupted write never leaves a partial file under the final name.
"""
import os
import tempfile
from typing import BinaryIO, Callable


def write_atomically(path, write: Callable[[BinaryIO], None]) -> None:
    """Create ``path`` (and its folder) with ``write(stream)``; readers never see a partial
    file and a failed write leaves nothing under ``path``. The file gets the usual
    permissions (``0o666`` less the umask), not ``mkstemp``'s 0600."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.',
                                         suffix='.part', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as stream:
            write(stream)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_path, 0o666 & ~umask)
        os.replace(temp_path, path)
    except BaseException:
        os.unlink(temp_path)
        raise


def write_text_atomically(path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_atomically`)."""
    write_atomically(path, lambda stream: stream.write(text.encode('utf-8')))
