"""What the CLI's ``data info`` and ``data fetch`` report and do."""

import os
from pathlib import Path

from lenet_numba.atomic import check_distinct_paths
from lenet_numba.data.checksum import sha256_file
from lenet_numba.data.locate import cache_root, candidate_paths, download_file, find_file, search_roots
from lenet_numba.data.sources import DATASETS, USPS_FILES, variants
from lenet_numba.errors import DataError


def data_info(data_dir=None):
    """JSON-able summary: roots searched in order and, per file, every copy found and its check.

    Each copy's ``ok`` says whether its sha256 matches the one pinned for its form (the .gz
    file, or an accepted uncompressed copy: ``compressed`` tells which); ``used`` is the copy
    a loader would pick (the first found: roots in order, the .gz form first within a root)
    and the file's ``ok`` is that copy's, so a bad copy shadowing a good one is visible.
    """
    roots = search_roots(data_dir)
    files = []
    for dataset, table in DATASETS.items():
        for name, (url, size, sha256) in table.items():
            forms = variants(dataset, name)
            copies = []
            for _, root in roots:
                for form, form_size, form_sha256 in forms:
                    path = root / dataset / form
                    if path.is_file():
                        ok = sha256_file(path) == form_sha256  # a matching hash implies the size
                        copies.append({"path": str(path), "size": path.stat().st_size, "ok": ok,
                                       "compressed": form == name})
            files.append({
                "dataset": dataset,
                "name": name,
                "url": url,
                "size": size,
                "sha256": sha256,
                "also_accepted": [{"name": f, "size": s, "sha256": h} for f, s, h in forms[1:]],
                "found": copies,
                "used": copies[0]["path"] if copies else None,
                "ok": bool(copies) and copies[0]["ok"],
            })
    return {
        "searched": [{"from": where, "path": str(root)} for where, root in roots],
        "cache_root": str(cache_root()),
        "files": files,
    }


def fetch(data_dir=None, progress=None, report=None):
    """Make sure both USPS files are present and intact. Returns ``{name: Path}``.

    A missing file is downloaded into ``data_dir`` (or the cache root). A copy that fails its
    checksum is downloaded again over itself, where the loaders find it: the new bytes are
    verified in a temp file before the rename, so when the download fails (offline, say) the
    old file is left as it was and the error is one line. ``report(name, path, action)`` is
    told what happened: "present", "downloaded" or "replaced".
    """
    target = None if data_dir is None else Path(os.fspath(data_dir)).expanduser()
    # where each file is read from, or would be downloaded to: two names for one file (a
    # link) would let one file's download replace the other
    check_distinct_paths({name: next((p for p in candidate_paths("usps", name, data_dir) if p.is_file()),
                                     Path(target if target is not None else cache_root()) / "usps" / name)
                          for name in USPS_FILES}, {}, advice="remove the link")
    paths = {}
    for name, (_, _, sha256) in USPS_FILES.items():
        existed = any(p.is_file() for p in candidate_paths("usps", name, data_dir))
        path = find_file("usps", name, data_dir=data_dir, download=True, progress=progress, download_root=target)
        action = "present" if existed else "downloaded"
        if existed and sha256_file(path) != sha256:  # a fresh download is verified already
            try:
                download_file("usps", name, path, progress=progress)
            except DataError as e:
                raise DataError(
                    f"{path}: checksum mismatch and no replacement could be downloaded "
                    f"({e}); the old file is left in place"
                ) from None
            action = "replaced"
        if report is not None:
            report(name, path, action)
        paths[name] = path
    return paths
