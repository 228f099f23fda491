"""What the CLI's ``data info`` and ``data fetch`` report and do."""

import os
from pathlib import Path

from lenet_numba.data.checksum import sha256_file, verify_file
from lenet_numba.data.locate import cache_root, find_file, search_roots
from lenet_numba.data.sources import DATASETS, USPS_FILES


def data_info(data_dir=None):
    """JSON-able summary: roots searched in order and, per file, every copy found and its check.

    Each copy's ``ok`` says whether its sha256 matches; ``used`` is the copy a loader would
    pick (the first found) and the file's ``ok`` is that copy's, so a bad copy shadowing a
    good one is visible.
    """
    roots = search_roots(data_dir)
    files = []
    for dataset, table in DATASETS.items():
        for name, (url, size, sha256) in table.items():
            copies = []
            for _, root in roots:
                path = root / dataset / name
                if path.is_file():
                    ok = sha256_file(path) == sha256  # a matching hash implies the size
                    copies.append({"path": str(path), "size": path.stat().st_size, "ok": ok})
            files.append({
                "dataset": dataset,
                "name": name,
                "url": url,
                "size": size,
                "sha256": sha256,
                "found": copies,
                "used": copies[0]["path"] if copies else None,
                "ok": bool(copies) and copies[0]["ok"],
            })
    return {
        "searched": [{"from": where, "path": str(root)} for where, root in roots],
        "cache_root": str(cache_root()),
        "files": files,
    }


def fetch(data_dir=None, progress=None):
    """Make sure both USPS files are present and intact, downloading missing ones into
    ``data_dir`` (or the cache root). Returns ``{name: Path}``; a bad copy is a DataError.
    """
    target = None if data_dir is None else Path(os.fspath(data_dir)).expanduser()
    paths = {}
    for name, (_, size, sha256) in USPS_FILES.items():
        path = find_file("usps", name, data_dir=data_dir, download=True, progress=progress, download_root=target)
        verify_file(path, size, sha256)  # a fresh download is verified already; this catches old copies
        paths[name] = path
    return paths
