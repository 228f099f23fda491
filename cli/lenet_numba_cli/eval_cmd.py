"""``lenet-numba eval CHECKPOINT``: test error, confusion, per-class error, reject curve."""

import json

import click

from lenet_numba.evaluate import eval_line, evaluation_report
from lenet_numba.experiment import load_test_set
from lenet_numba.limits import DEFAULT_DATASET
from lenet_numba.run_checkpoint import evaluation_settings, model_from_checkpoint

from .options import choice, data_dir_option, json_option, no_download_option


@click.command("eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--dataset", type=choice("dataset"), default=DEFAULT_DATASET, show_default=True,
              help="Evaluate on this data set's test split.")
@click.option("--loss", type=choice("loss"), default=None,
              help="Loss to report [the checkpoint's training loss].")
@click.option("--reject-rule", type=click.Choice(["gap", "nips"]), default="gap", show_default=True,
              help="nips: also both reject rules with fixed thresholds (NIPS 1989: top > t1, second < t2, "
                   "gap > td), chosen on the digits the checkpoint held out (--validation), applied to the test set.")
@click.option("--thresholds", metavar="T1,T2,TD", default=None,
              help="With --reject-rule nips: use these thresholds (none for a condition not applied).")
@data_dir_option
@no_download_option
@json_option
def eval_cmd(checkpoint, dataset, loss, reject_rule, thresholds, data_dir, no_download, as_json):
    """Evaluate a checkpoint on the test set, with the 1989 paper's reject curve."""
    model, meta = model_from_checkpoint(checkpoint)
    saved_loss, seed = evaluation_settings(meta, checkpoint)
    loss = loss or saved_loss
    x, y = load_test_set(dataset, data_dir, not no_download, seed)
    rep = evaluation_report(model, x, y, loss)
    rep["checkpoint"] = checkpoint
    if reject_rule == "nips" or thresholds:
        from lenet_numba import reject_report as rr

        given = rr.parse_thresholds(thresholds) if thresholds else None
        held = None if given else rr.held_out_digits(meta, checkpoint, data_dir, not no_download)
        rep["reject_rules"] = rr.reject_rules_report(model, loss, x, y, held, given)
    if as_json:
        click.echo(json.dumps(rep))
        return
    click.echo(f"{checkpoint}: {model.arch.name}, {rep['n']} test digits ({dataset})")
    click.echo(f"test error {100 * rep['test_error']:.2f}%   test loss ({loss}) {rep['test_loss']:.5f}")
    click.echo(eval_line("test", rep["test_loss"], rep["test_error"], rep["misses"]))
    click.echo("confusion (rows: true digit, columns: predicted):")
    click.echo("      " + "".join(f"{k:>5}" for k in range(10)) + "   error")
    for k, row in enumerate(rep["confusion"]):
        e = rep["per_class_error"][k]
        click.echo(f"{k:>5} " + "".join(f"{v:>5}" for v in row) + (f"  {100 * e:5.1f}%" if e is not None else "     -"))
    click.echo("reject curve (least confident first: smallest gap between the two highest outputs):")
    for r, e in rep["reject_curve"]:
        click.echo(f"  reject {100 * r:5.2f}%  ->  error {100 * e:5.2f}% on the rest")
    click.echo(f"reject needed for 1% error: {100 * rep['reject_for_1pct_error']:.2f}%   "
               f"(1989 papers: 12.1% zip-code net; ~9% the NIPS network, lenet1-nips1989)")
    if "reject_rules" in rep:
        click.echo("reject rules with fixed thresholds, for at most 1% error (never chosen on the test digits):")
        for rule, r in rep["reject_rules"].items():
            click.echo(rr.describe(rule, r))
