"""MNIST digits shrunk to 16x16, as a stand-in for the 1989 zip-code data.

Following karpathy/lecun1989-repro, a seeded random 7,291 / 2,007 split is drawn, but
out of ONE IDX set (the 10k test set shipped here), so train and test are disjoint and
the 60k training files are never needed.
"""

import numpy as np

from lenet_numba.data.checksum import verify_file
from lenet_numba.data.idx import read_idx
from lenet_numba.data.locate import find_file
from lenet_numba.data.resize import resize_to_16
from lenet_numba.data.sources import pinned
from lenet_numba.errors import DataError

__all__ = ["read_idx", "resize_to_16", "read_mnist", "split_indices", "load_mnist16", "load_mnist16_all"]

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def read_mnist(images_path, labels_path):
    """``(images uint8 (N,H,W), labels int64 (N,))`` from an IDX image/label pair, cross-checked."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images (N, H, W), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{labels_path}: expected uint8 labels (N,), found {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path}: label {labels.max()} at index {int(labels.argmax())} is not a digit 0-9")
    return images, labels.astype(np.int64)


def split_indices(n_total, seed=0, n_train=7291, n_test=2007):
    """Disjoint ``(train_idx, test_idx)`` from one seeded permutation of ``range(n_total)``."""
    if n_train < 0 or n_test < 0 or n_train + n_test > n_total:
        raise ValueError(f"cannot draw {n_train} + {n_test} digits out of {n_total}")
    order = np.random.default_rng(seed).permutation(n_total)
    return order[:n_train], order[n_train : n_train + n_test]


def load_mnist16_all(data_dir=None, download=True, progress=None):
    """All digits of the MNIST t10k set as ``(x float32 (N,16,16) in [-1,1], y int64 (N,))``."""
    paths = []
    for name in (IMAGES, LABELS):  # each .gz, or its uncompressed form
        path = find_file("mnist", name, data_dir=data_dir, download=download, progress=progress)
        size, sha256 = pinned("mnist", name, path)
        verify_file(path, size, sha256, diagnose=read_idx)  # a broken container says where
        paths.append(path)
    images, labels = read_mnist(*paths)
    return resize_to_16(images), labels


def load_mnist16(split="train", data_dir=None, seed=0, n_train=7291, n_test=2007, download=True, progress=None):
    """The seeded ``split`` ("train" or "test") of the 16x16 MNIST digits: ``(x, y)``
    (arguments in load_usps's order: split, then data_dir)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    x, y = load_mnist16_all(data_dir=data_dir, download=download, progress=progress)
    if n_train + n_test > len(y):
        raise DataError(f"MNIST {IMAGES} holds {len(y)} digits, fewer than the {n_train} + {n_test} asked for")
    train, test = split_indices(len(y), seed=seed, n_train=n_train, n_test=n_test)
    rows = train if split == "train" else test
    return x[rows], y[rows]
