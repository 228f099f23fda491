"""The speed harness's own arithmetic: the FLOP counts and the NumPy reference network."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import flops  # noqa: E402
import numpy_reference  # noqa: E402

from lenet_numba import architectures  # noqa: E402
from lenet_numba.model import Model  # noqa: E402
from lenet_numba.train import train  # noqa: E402


def test_forward_multiply_adds_are_the_papers_connections():
    """LeCun et al. 1989: the zip-code net has 64,660 connections (multiply-adds + biases)."""
    c = flops.count("zipcode1989")
    assert c["macs_forward"] + (12 * 8 * 8 + 12 * 4 * 4 + 30 + 10) == 64_660
    assert architectures.build("zipcode1989").connections == 64_660


def test_lenet1_counts_by_hand():
    c = flops.count("lenet1")
    conv1, conv2 = 4 * 16 * 16 * 25, 12 * 4 * 4 * 4 * 25
    assert c["macs_forward"] == conv1 + conv2 + 48 * 30 + 30 * 10
    # backward: dW (2/MAC) and db sums; dX (2/MAC) for every layer but the first;
    # subsampling 5 per output, + 1 per input for its dx
    backward = ((2 * conv1 + 4 * 256)                         # conv1: no dx
                + (5 * 4 * 8 * 8 + 4 * 16 * 16)               # pool1
                + (2 * conv2 + 12 * 16 + 2 * conv2)           # conv2
                + (5 * 12 * 2 * 2 + 12 * 4 * 4)               # pool2
                + (48 * 30 + 2 * 48 * 30) + (30 * 10 + 2 * 30 * 10))  # fc1, fc2
    assert c["backward"] == backward == 137_172
    assert c["update"] == 2 * 3128


@pytest.mark.parametrize("arch", ["lenet1", "zipcode1989"])
def test_numpy_reference_is_the_same_network(arch):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (20, 16, 16))
    y = rng.integers(0, 10, 20)
    m = Model(arch, "tanh", "identity", dtype="float64", seed=1)
    ref = numpy_reference.NumpyNet(m)
    np.testing.assert_allclose(ref.forward_batch(x), m.predict(x), rtol=1e-12, atol=1e-12)
    train(m, x, y, epochs=1, lr=0.05, loss="ce")
    ref.sgd_pass(x, y, 0.05)
    np.testing.assert_allclose(ref.params, m.params, rtol=1e-10, atol=1e-12)
