"""Read a file that may or may not be gzip-compressed, keeping what decoded before a fault.

Callers turn the fault into a message with a position (a line for text, a byte offset for
IDX), so a truncated or damaged download says where it broke instead of just "bad gzip".
"""

import gzip
import zlib

from lenet_numba.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024  # small compressed chunks keep the reported position of a fault close


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def read_maybe_gzip(path):
    """Return ``(data, fault)``: the decoded bytes and None, or the good prefix and a reason."""
    raw = read_bytes(path)
    if not raw.startswith(_GZIP_MAGIC):
        return raw, None
    try:
        return gzip.decompress(raw), None  # fast path; the walk below only locates a fault
    except (OSError, EOFError, zlib.error):
        pass
    out = []
    pos = 0
    while pos < len(raw):  # a gzip file may hold several members back to back
        if not raw.startswith(_GZIP_MAGIC, pos):
            return b"".join(out), "unexpected bytes after the end of the gzip data"
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            while pos < len(raw) and not d.eof:
                chunk = raw[pos : pos + _CHUNK]
                pos += len(chunk)
                out.append(d.decompress(chunk))
            out.append(d.flush())
        except zlib.error as e:
            return b"".join(out), f"corrupt gzip data ({e})"
        if not d.eof:
            return b"".join(out), "gzip data ends early (file truncated?)"
        pos -= len(d.unused_data)
        if raw[pos:].strip(b"\0") == b"":  # some tools pad with zeros; that is not a member
            break
    return b"".join(out), None
