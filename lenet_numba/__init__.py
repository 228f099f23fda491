"""lenet-numba: LeNet-1 (1989) rebuilt as a small, exact, fast Numba engine."""

__version__ = "0.1.0"
