"""lenet-numba: LeNet-1 (1989) rebuilt as a small, exact, fast Numba engine.

    >>> from lenet_numba import Model, load_usps, SGD, SDLM
    >>> from lenet_numba.train import train

Names are imported on first use, so ``import lenet_numba`` stays cheap and does nothing else.
"""

__version__ = "0.2.0"  # pyproject.toml reads it from here

_EXPORTS = {
    "Model": "model",
    "SGD": "optim",
    "SDLM": "sdlm",
    "load_usps": "data",
    "load_mnist16": "data",
    "ARCHITECTURES": "architectures",
    "RECIPES": "recipes",
    "TrainConfig": "experiment",
    "run": "experiment",
    "gradcheck": "gradcheck",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
}
__all__ = ["__version__", *_EXPORTS]

def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'lenet_numba' has no attribute {name!r}")
