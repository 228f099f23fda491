"""Atomic file writes: temp file in the same directory, flush + fsync, rename.

A reader (or a process killed with SIGKILL at any moment) sees either the old complete
file or the new complete one, never a torn file, and a failed write leaves the old file.
A killed writer cannot remove its temp file; the next write of the same file does, once
the process named in the temp file's name (host and pid) is gone.
"""

import contextlib
import errno
import hashlib
import os
import re
import socket
import tempfile


_HOST_MAX = 64          # Linux's HOST_NAME_MAX; keeps a temp name's fixed part bounded
_RANDOM_AND_SUFFIX = 12  # mkstemp's 8 random characters, then ".tmp"


def _owner_tag():
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:_HOST_MAX] or "host"
    return f"{host}-{os.getpid()}"


def name_max(directory):
    """The longest file name (bytes) the file system holding ``directory`` (or its nearest
    existing parent) takes; 255 if it does not say."""
    directory = os.path.abspath(directory)
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def fit_name(name, room):
    """``name`` if it takes at most ``room`` bytes, else its longest start that fits with a
    mark made of a hash of the whole name: distinct long names stay distinct."""
    if len(os.fsencode(name)) <= room:
        return name
    mark = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    cut = name[:max(room - len(mark), 0)]
    while len(os.fsencode(cut)) > room - len(mark):  # a name in a multi-byte encoding
        cut = cut[:-1]
    return cut + mark


def _temp_stem(path):
    """The target's file name as its temp files carry it: cut (fit_name) so that the temp
    name fits in NAME_MAX, so a legal name of up to NAME_MAX bytes gets a legal temp name."""
    room = name_max(os.path.dirname(os.path.abspath(path))) - len(_owner_tag()) - 3 - _RANDOM_AND_SUFFIX
    return fit_name(os.path.basename(path), room)


def check_name_fits(path, what="output"):
    """UsageError if the file name of ``path`` is longer than its file system takes."""
    from .errors import UsageError

    path = os.fspath(path)
    size, limit = len(os.fsencode(os.path.basename(path))), name_max(os.path.dirname(os.path.abspath(path)))
    if size > limit:
        raise UsageError(f"{what} {path}: the name is too long for the file system ({size} bytes, at most {limit})")


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
    pattern = re.compile(rf"\.{re.escape(_temp_stem(path))}\.{re.escape(host)}-(\d+)\.[^.]+\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            m = pattern.fullmatch(name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    removed.append(name)
    return removed


def _temp_prefix(path):
    return f".{_temp_stem(path)}.{_owner_tag()}."


def _replace_forbidden(path):
    """True if ``path`` is marked immutable or append-only (Linux file attributes): a rename
    onto it fails. False where the file system has no such attributes."""
    try:
        import fcntl
        import struct

        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, b"\0" * 4))[0]  # FS_IOC_GETFLAGS
        finally:
            os.close(fd)
    except (ImportError, OSError):
        return False
    return bool(flags & (0x10 | 0x20))  # FS_IMMUTABLE_FL, FS_APPEND_FL


def check_output_path(path, what="output", inputs=None):
    """Raise UsageError unless ``path`` can be written by atomic_open without harm, tried as
    the final write will need it: it is not the same file as any of ``inputs`` (option ->
    path, compared by identity: see check_distinct_paths), its name fits the file system,
    its folder exists and takes the temp file (created and removed here), and the target is
    a regular file that a rename may replace (not a folder, device, immutable or
    append-only file). ``what`` names the option in the message; None is accepted (no
    output asked for). Called before work starts, so a bad path fails at once instead of
    after the work, and before anything is read from an input it would overwrite."""
    from .errors import UsageError

    if path is None:
        return
    if not os.fspath(path):
        raise UsageError(f"{what}: empty file name")
    if os.fspath(path).endswith(("/", os.sep)):
        raise UsageError(f"{what} {path}: ends with a slash, a folder's name, not a file's")
    check_distinct_paths({what: path}, inputs or {})
    path = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(path)
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(f"{what} {path}: exists and is not a regular file")
    if not os.path.isdir(directory):
        raise UsageError(f"{what} {path}: folder {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: folder {directory} is not writable")
    check_name_fits(path, what)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path), suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        why = "the name is too long for the file system" if e.errno == errno.ENAMETOOLONG else (e.strerror or str(e))
        raise UsageError(f"{what} {path}: cannot write there: {why}") from None
    if os.path.exists(path) and _replace_forbidden(path):
        raise UsageError(f"{what} {path}: the file is immutable or append-only, it cannot be replaced")


def same_file(a, b):
    """Whether two paths name one file: by device and inode when both exist, else by the
    fully resolved path (symbolic links, '..', './' spelled out)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_distinct_paths(outputs, others, advice="give another name"):
    """UsageError if an output path (option -> path) names the same file as another path
    given (an output or an input): writing it would destroy the other. The one identity
    check of every command that writes (train, export, plot, sweep, data fetch, the page's
    save): an output is refused when it is one of the command's inputs."""
    from .errors import UsageError

    for what, path in outputs.items():
        for other, other_path in {**others, **outputs}.items():
            if other != what and path and other_path and same_file(path, other_path):
                raise UsageError(f"{what} {path} is the same file as {other} {other_path}: {advice}")


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
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        # mkstemp makes the file 0600; give it the permissions an ordinary open() would
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        try:
            with os.fdopen(fd, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            try:
                os.replace(tmp, path)
            except OSError as e:  # name the file that could not be written, not the temp file
                raise OSError(e.errno, e.strerror, path) from None
        except OSError as e:  # disk full, quota, I/O error: say which file could not be written
            if e.filename is not None or e.errno is None:
                raise
            raise OSError(e.errno, e.strerror, path) from None
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
