"""Read a file that may or may not be gzip-compressed, keeping what decoded before a fault.

Callers turn the fault into a message with a position (a line for text, a byte offset for
IDX), so a truncated or damaged download says where it broke instead of just "bad gzip".

Memory is bounded whatever the file claims: no digit file of ours is larger than
MAX_BYTES (USPS train is 14.5 MB as text, MNIST's largest IDX 47 MB), so reading stops
there, on disk and while inflating (a small gzip bomb named zip.train.gz is refused after
MAX_BYTES, not inflated to gigabytes).
"""

import zlib

from lenet_numba.errors import DataError

MAX_BYTES = 64 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024  # small compressed chunks keep the reported position of a fault close


def read_bytes(path, limit=MAX_BYTES):
    """The file's bytes; a DataError if it cannot be read or holds more than ``limit``."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(data) > limit:
        raise DataError(f"{path}: larger than {limit:,} bytes, more than any digit file holds")
    return data


def read_maybe_gzip(path, limit=MAX_BYTES):
    """Return ``(data, fault)``: the decoded bytes and None, or the good prefix and a reason.
    More than ``limit`` decoded bytes is a DataError (a decompression bomb, or not our file)."""
    raw = read_bytes(path, limit)
    if not raw.startswith(_GZIP_MAGIC):
        return raw, None
    out = []
    total = 0
    pos = 0
    while pos < len(raw):  # a gzip file may hold several members back to back
        if not raw.startswith(_GZIP_MAGIC, pos):
            return b"".join(out), "unexpected bytes after the end of the gzip data"
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            while not d.eof:
                if d.unconsumed_tail:
                    chunk = d.unconsumed_tail
                elif pos < len(raw):
                    chunk = raw[pos : pos + _CHUNK]
                    pos += len(chunk)
                else:
                    break
                piece = d.decompress(chunk, limit - total + 1)  # never more than the limit allows
                total += len(piece)
                if total > limit:
                    raise DataError(f"{path}: decompresses to more than {limit:,} bytes, more than any digit "
                                    "file holds (a decompression bomb?)")
                out.append(piece)
            out.append(d.flush())
        except zlib.error as e:
            return b"".join(out), f"corrupt gzip data ({e})"
        if not d.eof:
            return b"".join(out), "gzip data ends early (file truncated?)"
        pos -= len(d.unused_data)
        if raw[pos:].strip(b"\0") == b"":  # some tools pad with zeros; that is not a member
            break
    return b"".join(out), None

