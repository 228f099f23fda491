""".npy inputs to predict: checked from the header before anything is allocated, values
checked in their own type (the right reason for 1e300), pipes refused without blocking."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clitools import assert_one_line_error, run_cli
from lenet_numba.errors import DataError
from lenet_numba.inputs import MAX_IMAGES, load_npy_images


def npy_header(shape, descr="<f4"):
    header = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    header += " " * (117 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from random_checkpoint import save_random_lenet1

    return save_random_lenet1(tmp_path_factory.mktemp("ckpt") / "m.npz")


def test_huge_values_get_the_range_reason_not_an_overflow(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.full((16, 16), 1e300))
    with _no_warning():  # no overflow warning on the way
        with pytest.raises(DataError, match=r"values must be in \[-1, 1\], got \[1e\+300, 1e\+300\]"):
            load_npy_images(str(path))


class _no_warning:
    def __enter__(self):
        import warnings
        self.catch = warnings.catch_warnings()
        self.catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self.catch.__exit__(*exc)


@pytest.mark.parametrize("n", [MAX_IMAGES + 1, 10 ** 9])
def test_a_sparse_npy_declaring_many_images_is_refused_within_bounded_memory(checkpoint, tmp_path, n):
    """The file really holds what it declares (sparse: no disk used), yet nothing that size
    is allocated: refused from its header, in a child limited to 1 GB."""
    path = tmp_path / "many.npy"
    with open(path, "wb") as f:
        f.write(npy_header((n, 16, 16), "<f8"))
        f.truncate(f.tell() + n * 256 * 8)
    assert_one_line_error(run_cli("predict", checkpoint, path), str(path), "split it")


def test_a_fifo_input_is_refused_at_once(checkpoint, tmp_path):
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    assert_one_line_error(run_cli("predict", checkpoint, fifo, timeout=60), str(fifo), "not a regular file")


DESCRS = ["<f4", "<f8", ">f4", "<f2", "|u1", "<i8", "|b1", "<c8", "<M8[s]", "|O", "<U2", "|V4", "[('a', '<f4')]"]


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(0, 2 ** 40), min_size=0, max_size=4) | st.just([3, 16, 16]),
       descr=st.sampled_from(DESCRS), fill=st.floats(allow_nan=True, allow_infinity=True) | st.just(0.5),
       cut=st.integers(-64, 64))
def test_fuzz_npy_inputs_are_a_one_line_data_error_or_digits(tmp_path_factory, shape, descr, fill, cut):
    """Any header shape and dtype, any fill value, any length: a DataError naming the file,
    or (N, 16, 16) float32 in [-1, 1]."""
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    head = npy_header(shape, descr) if not descr.startswith("[") else npy_header(shape, "<f4").replace(
        b"'<f4'", descr.encode())
    count = int(np.prod(shape, dtype=np.float64))
    body = b""
    if count * 8 < 1 << 20 and descr[-2:] in ("f4", "f8", "f2"):
        with np.errstate(over="ignore"):  # 1e300 as float16 is inf: a value to test, not a warning
            body = np.full(count, fill, np.dtype(descr)).tobytes()
    with open(path, "wb") as f:
        f.write(head + body)
        if cut and os.path.getsize(path) + cut > 0:
            f.truncate(os.path.getsize(path) + cut)
    try:
        x = load_npy_images(str(path))
    except DataError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    assert x.dtype == np.float32 and x.ndim == 3 and x.shape[1:] == (16, 16)
    assert np.all(np.abs(x) <= 1.0001)
