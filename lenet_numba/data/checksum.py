"""SHA-256 of files on disk, and the one-line error when a file is not the expected one."""

import hashlib
import os

from lenet_numba.errors import DataError


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


def verify_file(path, size, sha256):
    """Raise DataError unless ``path`` has exactly ``size`` bytes and hashes to ``sha256``."""
    got = sha256_file(path)
    if got != sha256:
        got_size = os.path.getsize(path)
        raise DataError(
            f"{path}: checksum mismatch, expected {size} bytes with sha256 {sha256}, "
            f"got {got_size} bytes with sha256 {got}; the file is corrupt or a different "
            f"version: delete it and run `lenet-numba data fetch`"
        )
