"""``lenet-numba predict CHECKPOINT INPUT...``: digits and scores for .npy arrays or images."""

import json

import click

from lenet_numba.inputs import load_inputs
from lenet_numba.metrics import predictions
from lenet_numba.run_checkpoint import model_from_checkpoint

from .options import json_option


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
            results.append({"input": path, "index": i, "digit": int(predictions(s)),
                            "scores": [float(v) for v in s]})
    if as_json:
        click.echo(json.dumps(results))
        return
    for r in results:
        scores = " ".join(f"{v:+.3f}" for v in r["scores"])
        click.echo(f"{r['input']}[{r['index']}]: {r['digit']}   scores {scores}")
