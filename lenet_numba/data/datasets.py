"""The data sets a run trains and tests on, by name: which digits each part is.

* ``usps``: the 7,291 / 2,007 zip-code digits.
* ``mnist16``: a seeded 7,291 / 2,007 split of the MNIST t10k set resized to 16x16.
* ``mnist16-all``: all 10,000 of those for training, tested on the USPS test set (the
  pre-training stage of a staged run).
"""

from ..limits import DATASETS, check_choice
from .mnist import load_mnist16, load_mnist16_all
from .usps import load_usps

# name -> {part: loader(data_dir, download, seed, progress) -> (x, y)}
_PARTS = {
    "usps": {"train": lambda d, dl, s, p: load_usps("train", d, dl, p),
             "test": lambda d, dl, s, p: load_usps("test", d, dl, p)},
    "mnist16": {"train": lambda d, dl, s, p: load_mnist16("train", d, s, download=dl, progress=p),
                "test": lambda d, dl, s, p: load_mnist16("test", d, s, download=dl, progress=p)},
    "mnist16-all": {"train": lambda d, dl, s, p: load_mnist16_all(d, dl, p),
                    "test": lambda d, dl, s, p: load_usps("test", d, dl, p)},
}
assert tuple(_PARTS) == DATASETS


def load_part(name, part, data_dir=None, download=True, seed=0, progress=None):
    """(x, y) of the ``part`` ("train" or "test") of data set ``name``; only that part's
    files are read (a run choosing settings never opens the test file)."""
    return _PARTS[check_choice(name, DATASETS, "dataset")][part](data_dir, download, seed, progress)


def load_train_set(name, data_dir=None, download=True, seed=0, progress=None):
    """(train_x, train_y) of a data set, without touching its test file."""
    return load_part(name, "train", data_dir, download, seed, progress)


def load_test_set(name, data_dir=None, download=True, seed=0, progress=None):
    """(test_x, test_y) of a data set, without touching its training file."""
    return load_part(name, "test", data_dir, download, seed, progress)


def load_dataset(name, data_dir=None, download=True, seed=0, progress=None, test=True):
    """(train_x, train_y, test_x, test_y); test=False: the test file is never read (None, None)."""
    xtr, ytr = load_train_set(name, data_dir, download, seed, progress)
    xte, yte = load_test_set(name, data_dir, download, seed, progress) if test else (None, None)
    return xtr, ytr, xte, yte
