"""Data layer: find, download, verify and parse USPS and MNIST digits.

Files live under a data root as ``<root>/usps/zip.train.gz`` and ``<root>/mnist/...``;
roots are searched in the order ``data_dir`` argument, ``$LENET_NUMBA_DATA``, user cache.
"""

from lenet_numba.data.info import data_info, fetch
from lenet_numba.data.mnist import load_mnist16, load_mnist16_all, read_idx, resize_to_16
from lenet_numba.data.sources import MNIST_FILES, USPS_FILES
from lenet_numba.data.split import stratified_holdout
from lenet_numba.data.usps import load_usps, read_usps_file
from lenet_numba.errors import DataError

__all__ = [
    "DataError",
    "MNIST_FILES",
    "USPS_FILES",
    "data_info",
    "fetch",
    "load_mnist16",
    "load_mnist16_all",
    "load_usps",
    "read_idx",
    "read_usps_file",
    "resize_to_16",
    "stratified_holdout",
]
