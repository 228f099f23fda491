"""Atomic file writes: temp file in the same directory, flush + fsync, rename.

A reader (or a process killed with SIGKILL at any moment) sees either the old complete
file or the new complete one, never a torn file, and a failed write leaves the old file.
A killed writer cannot remove its temp file; the next write of the same file does, once
the process named in the temp file's name (host and pid) is gone.
"""

import contextlib
import os
import re
import socket
import tempfile


def _owner_tag():
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def remove_stale_temps(path):
    """Delete temp files of ``path`` left by writers on this host that no longer run.

    Only names this module makes (``.<name>.<host>-<pid>.<random>.tmp``) with this host and a
    dead pid are touched: a live writer's temp file, or another machine's on a shared disk,
    is left alone. Returns the names removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    host = _owner_tag().rsplit("-", 1)[0]
    pattern = re.compile(rf"\.{re.escape(os.path.basename(path))}\.{re.escape(host)}-(\d+)\.[^.]+\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            m = pattern.fullmatch(name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    removed.append(name)
    return removed


def check_output_path(path, what="output"):
    """Raise UsageError unless ``path`` can be written by atomic_open: its folder exists and
    is writable, and the path is not a folder, device or other non-regular file (a rename
    would replace a device such as /dev/null with a plain file). ``what`` names the option
    in the message; None is accepted (no output asked for). Called before work starts, so
    a bad path fails at once instead of after the work."""
    from .errors import UsageError

    if path is None:
        return
    path = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(path)
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(f"{what} {path}: exists and is not a regular file")
    if not os.path.isdir(directory):
        raise UsageError(f"{what} {path}: folder {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: folder {directory} is not writable")


def check_output_dir(path, what="--out-dir"):
    """UsageError unless ``path`` is a folder, or can be made one by creating just it: its
    parent folder exists. Nothing is created; call it before any slow work."""
    from .errors import UsageError

    full = os.path.abspath(os.fspath(path))
    if os.path.exists(full):
        if not os.path.isdir(full):
            raise UsageError(f"{what} {path}: exists and is not a folder")
        target = full
    elif os.path.lexists(full):
        raise UsageError(f"{what} {path}: a broken symbolic link")
    else:
        target = os.path.dirname(full)
        if not os.path.isdir(target):
            why = "is not a folder" if os.path.lexists(target) else "does not exist"
            raise UsageError(f"{what} {path}: cannot create it: {target} {why}")
    if not os.access(target, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: folder {target} is not writable")
    return path


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Yield a file object; on clean exit it replaces ``path`` atomically.

    A symbolic link is written through (its target is replaced, the link stays); a path
    that exists but is not a regular file (a folder, a device) is refused."""
    path = os.path.realpath(os.fspath(path))
    if os.path.lexists(path) and not os.path.isfile(path):
        raise IsADirectoryError(f"{path}: exists and is not a regular file") if os.path.isdir(path) \
            else OSError(f"{path}: exists and is not a regular file")
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.{_owner_tag()}.", suffix=".tmp")
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
