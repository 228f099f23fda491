"""``lenet-numba export CHECKPOINT OUT.onnx``: the network as an ONNX model (needs the onnx extra)."""

import click

from lenet_numba.atomic import check_output_path
from lenet_numba.run_checkpoint import model_from_checkpoint

from .options import json_option


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@json_option
def export_cmd(checkpoint, out, as_json):
    """Write CHECKPOINT's network to OUT as ONNX (opset 17, float32).

    Input "image" (N, 16, 16) in [-1, 1], output "scores" (N, 10), as `lenet-numba
    predict` computes them. Needs onnx: pip install 'lenet-numba[onnx]'.
    """
    from lenet_numba.export import OPSET, require_onnx, save_onnx

    require_onnx()  # a missing extra is reported before anything is read
    check_output_path(out, "OUT", inputs={"CHECKPOINT": checkpoint})
    model, _ = model_from_checkpoint(checkpoint)
    size = save_onnx(model, out)
    if as_json:
        import json
        click.echo(json.dumps({"arch": model.arch.name, "out": out, "opset": OPSET, "bytes": size}))
    else:
        click.echo(f"{out}: {model.arch.name} as ONNX opset {OPSET} ({size} bytes)")
