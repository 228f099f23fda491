"""Atomic file writes: temp file in the same directory, flush + fsync, rename.

A reader (or a process killed with SIGKILL at any moment) sees either the old complete
file or the new complete one, never a torn file, and a failed write leaves the old file.
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Yield a file object; on clean exit it replaces ``path`` atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; give it the permissions an ordinary open() would
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        with contextlib.suppress(OSError):  # make the rename itself durable
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
