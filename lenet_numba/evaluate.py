"""What ``lenet-numba eval`` reports about a trained network on a labelled set."""

import numpy as np

from . import metrics

REJECTS = (0.0, 0.05, 0.09, 0.12)  # the 1989 paper's operating points


def eval_line(split, loss, error, misses):
    """The line the public ports of the 1989 paper print after each pass, so results can be
    diffed across them: ``eval: split test . loss 4.071e-02. error 4.88%. misses: 98``."""
    return f"eval: split {split:<5}. loss {loss:.3e}. error {100 * error:.2f}%. misses: {misses}"


def evaluation_report(model, images, labels, loss="mse"):
    """Error, loss, confusion, per-class error and the reject curve (JSON-able dict)."""
    res = model.evaluate(images, labels, loss)
    labels = np.asarray(labels, np.int64)
    conf = metrics.confusion_matrix(labels, res["predictions"], model.plan.n_outputs)
    per_class = metrics.per_class_error(conf)
    return {
        "n": int(len(labels)),
        "test_error": res["error"],
        "misses": int(np.sum(res["predictions"] != labels)),
        "test_loss": res["loss"],
        "loss": loss,
        "confusion": conf.tolist(),
        "per_class_error": [None if np.isnan(e) else float(e) for e in per_class],
        "reject_curve": metrics.reject_curve(res["scores"], labels, REJECTS),
        "reject_for_1pct_error": metrics.reject_for_error(res["scores"], labels, 0.01),
    }
