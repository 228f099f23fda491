"""A checkpoint of an untrained, seeded LeNet-1: for tests of commands that only read one."""

from lenet_numba.checkpoint import save_checkpoint
from lenet_numba.model import Model


def save_random_lenet1(path, seed=0):
    """Write LeNet-1 (tanh, identity output, float32) with seeded random weights to ``path``."""
    m = Model("lenet1", "tanh", "identity", seed=seed)
    save_checkpoint(path, m.state_dict(), {"arch": "lenet1", "activation": "tanh",
                                           "output_activation": "identity", "dtype": "float32"})
    return path
