"""``lenet-numba predict CHECKPOINT INPUT...``: digits and scores for .npy arrays or images."""

import json
import os

import click
import numpy as np

from lenet_numba.errors import DataError
from lenet_numba.experiment import model_from_checkpoint
from lenet_numba.images import image_input

from .options import json_option


def load_inputs(path):
    """(N, 16, 16) float32 in [-1, 1] from a .npy array or an image file."""
    if path.lower().endswith(".npy"):
        try:
            # memory-mapped first: a damaged header claiming a huge shape fails here, cheaply
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except Exception as e:  # numpy's header parser can raise SyntaxError, TokenError, ...
            raise DataError(f"{path}: not a readable .npy array ({type(e).__name__}: {e})") from None
        if x.shape[-2:] != (16, 16) or x.ndim not in (2, 3):
            raise DataError(f"{path}: expected shape (16, 16) or (N, 16, 16), got {x.shape}")
        if x.size == 0:
            raise DataError(f"{path}: holds no images (shape {x.shape})")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise DataError(f"{path}: expected numbers (real), got dtype {x.dtype}")
        x = np.array(x, dtype=np.float32).reshape(-1, 16, 16)
        if not np.all(np.isfinite(x)):
            raise DataError(f"{path}: contains NaN or infinite values")
        if x.min() < -1.0001 or x.max() > 1.0001:
            raise DataError(f"{path}: values must be in [-1, 1], got [{x.min():.3g}, {x.max():.3g}]")
        return x
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    return image_input(path)[None]  # a blank picture is refused (an array is taken as given)


@click.command("predict")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
def predict_cmd(checkpoint, inputs, as_json):
    """Classify digits: .npy arrays ((16,16) or (N,16,16) in [-1,1]) or PNG/JPEG/PGM images.

    Images are cropped to the ink, scaled into 16x16 keeping the aspect ratio and mapped
    to [-1, 1] (dark-on-light or light-on-dark is detected; a transparent background
    counts as paper); a picture with no ink is refused. This needs Pillow
    (pip install 'lenet-numba[image]').
    """
    model, _ = model_from_checkpoint(checkpoint)
    results = []
    for path in inputs:
        x = load_inputs(path)
        scores = model.predict(x)
        for i, s in enumerate(scores):
            results.append({"input": path, "index": i, "digit": int(np.argmax(s)),
                            "scores": [float(v) for v in s]})
    if as_json:
        click.echo(json.dumps(results))
        return
    for r in results:
        scores = " ".join(f"{v:+.3f}" for v in r["scores"])
        click.echo(f"{r['input']}[{r['index']}]: {r['digit']}   scores {scores}")
