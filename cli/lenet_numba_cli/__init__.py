"""The ``lenet-numba`` command line: a thin click layer over the ``lenet_numba`` library."""
