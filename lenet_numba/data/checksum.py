"""SHA-256 of files on disk, and the one-line error when a file is not the expected one."""

import hashlib
import os

from lenet_numba.errors import DataError

DEFAULT_HINT = "delete it and run again to download a fresh copy"


def sha256_file(path):
    """Hex sha256 of the file at ``path``; an unreadable file is a DataError."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


def verify_file(path, size, sha256, diagnose=None, hint=DEFAULT_HINT):
    """Raise DataError unless ``path`` has exactly ``size`` bytes and hashes to ``sha256``.

    Only when the hash differs, ``diagnose(path)`` (a parser that names the file and the
    line, say) is run: the first problem it raises is the error, so a changed label or a
    truncated download says where it is rather than just "checksum mismatch". When it finds
    nothing (same digits, other bytes: a recompressed or different version) the error is the
    mismatch with both hashes. ``hint`` tells the user how to get a good copy.
    """
    got = sha256_file(path)
    if got == sha256:
        return
    if diagnose is not None:
        try:
            diagnose(path)
        except DataError as e:
            raise DataError(f"{e} (checksum mismatch: {hint})") from None
    try:
        got_size = os.path.getsize(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    raise DataError(
        f"{path}: checksum mismatch, expected {size} bytes with sha256 {sha256}, "
        f"got {got_size} bytes with sha256 {got}; the file is corrupt or a different "
        f"version: {hint}"
    )
