"""Download one file with urllib, verified before it gets its final name.

The bytes stream into a temp file beside the destination (``atomic_open``) while being
hashed; only when size and sha256 both match is the temp file renamed into place. Any
failure (network, wrong size, wrong hash, Ctrl-C) removes the temp file, so a file under
the final name is always complete and verified.
"""

import hashlib
import http.client
import urllib.error
import urllib.request

from lenet_numba.atomic import atomic_open
from lenet_numba.errors import DataError

_BLOCK = 64 * 1024


def download(url, dest, size, sha256, progress=None, timeout=60.0):
    """Fetch ``url`` into ``dest``; ``progress(done_bytes, total_bytes)`` is called per block."""
    request = urllib.request.Request(url, headers={"User-Agent": "lenet-numba"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) != size:
                # Typically an HTML error or login page: fail before fetching it.
                raise DataError(
                    f"{url}: server announces {int(announced)} bytes, expected {size} "
                    f"(wrong file or an error page); nothing was written to {dest}"
                )
            with atomic_open(dest, "wb") as f:
                done, h = _copy(response, f, size, progress)
                if done != size or h != sha256:
                    got = f"more than {size}" if done > size else str(done)
                    raise DataError(
                        f"{url}: downloaded {got} bytes with sha256 {h}, expected {size} "
                        f"bytes with sha256 {sha256}; nothing was written to {dest}"
                    )
    except urllib.error.HTTPError as e:
        raise DataError(f"{url}: download failed with HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DataError(f"{url}: download failed ({e.reason})") from None
    except (OSError, ValueError, http.client.HTTPException) as e:  # timeouts, cut-off, disk full, bad URL
        raise DataError(f"{url}: download to {dest} failed ({e})") from None
    return dest


def _copy(response, f, size, progress):
    """Stream to ``f`` while hashing; stop reading past ``size`` + 1 (the file is wrong then)."""
    h = hashlib.sha256()
    done = 0
    if progress is not None:
        progress(0, size)
    while done <= size:
        block = response.read(min(_BLOCK, size + 1 - done))
        if not block:
            break
        f.write(block)
        h.update(block)
        done += len(block)
        if progress is not None:
            progress(min(done, size), size)
    return done, h.hexdigest()
