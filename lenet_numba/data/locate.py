"""Find a data file: explicit ``data_dir``, then ``$LENET_NUMBA_DATA``, then the user cache.

A data root holds one folder per data set (``<root>/usps/zip.train.gz``,
``<root>/mnist/...``). A file found nowhere is downloaded into the cache root (or into
``download_root``) when allowed. MNIST files may also sit there uncompressed
(``t10k-images-idx3-ubyte``); in one root the .gz form wins. Otherwise the error lists every place searched and how
to point the program at a copy, in one line.
"""

import os
from pathlib import Path

from lenet_numba.cache_dir import user_cache_root
from lenet_numba.data.download import download as _download
from lenet_numba.data.sources import DATASETS, variants
from lenet_numba.errors import DataError

ENV_VAR = "LENET_NUMBA_DATA"


cache_root = user_cache_root  # the data cache root: downloads land in <root>/usps, <root>/mnist


def search_roots(data_dir=None):
    """The data roots searched, in order, as ``[(where_from, Path)]``; unset places are skipped."""
    roots = []
    if data_dir is not None:
        roots.append(("--data-dir", Path(data_dir).expanduser().absolute()))
    env = os.environ.get(ENV_VAR, "")
    if env:
        roots.append((ENV_VAR, Path(env).expanduser().absolute()))
    roots.append(("cache", cache_root()))
    return roots


def candidate_paths(dataset, name, data_dir=None):
    """Every place ``name`` may be, in lookup order: roots in order, the .gz form first."""
    forms = [form for form, _, _ in variants(dataset, name)]
    return [root / dataset / form for _, root in search_roots(data_dir) for form in forms]


def existing_data_files(data_dir=None):
    """Every data file present in the roots searched (each form, each data set): what no
    output may overwrite."""
    return [p for dataset, files in DATASETS.items() for name in files
            for p in candidate_paths(dataset, name, data_dir) if p.is_file()]


def find_file(dataset, name, data_dir=None, download=True, progress=None, download_root=None):
    """Path of ``<root>/<dataset>/<name>`` in the first root that has it, downloading if allowed.

    An accepted uncompressed form (see ``sources.RAW_ALTERNATIVES``) counts as the file, so
    the returned path may have another name; ``sources.pinned`` gives its size and sha256.
    The file is not hashed here; loaders verify the checksum of the file they read.
    """
    url, size, sha256 = DATASETS[dataset][name]
    candidates = candidate_paths(dataset, name, data_dir)
    for path in candidates:
        if path.is_file():
            return path
    searched = ", ".join(str(p) for p in candidates)
    hint = (
        f"get it from {url} and pass --data-dir DIR or set {ENV_VAR}=DIR "
        f"with the file at DIR/{dataset}/{name}"
    )
    if not download:
        raise DataError(f"{name} not found (searched {searched}) and downloading is off; {hint}")
    dest = Path(download_root if download_root is not None else cache_root()) / dataset / name
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest.parent}: cannot create folder for the download ({e.strerror or e}); {hint}") from None
    try:
        download_file(dataset, name, dest, progress=progress)
    except DataError as e:
        raise DataError(f"{name} not found (searched {searched}) and downloading it failed: {e}; {hint}") from None
    return dest


def download_file(dataset, name, dest, progress=None):
    """Download data file ``name`` to ``dest``: verified in a temp file, then renamed over ``dest``."""
    url, size, sha256 = DATASETS[dataset][name]
    return _download(url, dest, size, sha256, progress=progress)
