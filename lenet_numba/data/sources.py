"""Where each data file comes from and what it must hash to.

Each entry is ``name -> (url, size_in_bytes, sha256)``. Sizes and hashes pin the exact
bytes, so a mirror returning an error page or a different revision is caught.
"""

USPS_URL = "https://hastie.su.domains/ElemStatLearn/datasets/"
# The S3 mirror torchvision uses; the original yann.lecun.com host is often unreachable.
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

USPS_FILES = {
    "zip.train.gz": (
        USPS_URL + "zip.train.gz",
        1829071,
        "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
    ),
    "zip.test.gz": (
        USPS_URL + "zip.test.gz",
        439208,
        "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
    ),
}

# Only the 10k test set: the 60k training files are not needed, since the MNIST stand-in
# for the 1989 data is drawn as a seeded split out of a single IDX set.
MNIST_FILES = {
    "t10k-images-idx3-ubyte.gz": (
        MNIST_URL + "t10k-images-idx3-ubyte.gz",
        1648877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        MNIST_URL + "t10k-labels-idx1-ubyte.gz",
        4542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}

# Uncompressed copies accepted in place of a .gz file (as torchvision's MNIST folder holds
# them): ``gz_name -> (raw_name, size_in_bytes, sha256)`` of the decompressed bytes. When a
# root holds both forms the .gz one is used; downloads always fetch the .gz.
RAW_ALTERNATIVES = {
    "t10k-images-idx3-ubyte.gz": (
        "t10k-images-idx3-ubyte",
        7840016,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "t10k-labels-idx1-ubyte",
        10008,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

# Sub-folder of a data root that holds each data set's files.
DATASETS = {"usps": USPS_FILES, "mnist": MNIST_FILES}


def variants(dataset, name):
    """The accepted on-disk forms of a data file, preferred first: ``[(name, size, sha256)]``."""
    _, size, sha256 = DATASETS[dataset][name]
    forms = [(name, size, sha256)]
    if name in RAW_ALTERNATIVES:
        forms.append(RAW_ALTERNATIVES[name])
    return forms


def pinned(dataset, name, path):
    """``(size, sha256)`` that the copy at ``path`` of data file ``name`` must match."""
    for form, size, sha256 in variants(dataset, name):
        if path.name == form:
            return size, sha256
    _, size, sha256 = DATASETS[dataset][name]
    return size, sha256
