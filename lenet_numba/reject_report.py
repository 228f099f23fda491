"""Reject rules on a trained network: thresholds chosen on held-out training digits (or
given), applied to the test digits. What ``lenet-numba eval --reject-rule nips`` reports.

The thresholds are never chosen on the test set: a checkpoint trained with ``--validation N``
holds out the same N digits again here (same seed, same stratified split) and fits each
rule's thresholds on them, for the fewest rejections that leave at most 1% error.
"""

import math

from . import metrics
from .errors import UsageError

TARGET = 0.01


def held_out_digits(meta, path, data_dir=None, download=True):
    """(images, labels) the checkpoint's run held out (``--validation N``); UsageError if none."""
    from .data import stratified_holdout
    from .experiment import load_train_set

    config = meta.get("config", {}) if isinstance(meta.get("config"), dict) else {}
    n = config.get("validation", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise UsageError(f"{path}: trained without --validation, so no held-out digits to choose reject "
                         "thresholds on; train with --validation N, or give --thresholds T1,T2,TD")
    seed = meta.get("seed", 0)
    x, y = load_train_set(config.get("dataset", meta.get("dataset", "usps")), data_dir, download, seed)
    _, held = stratified_holdout(y, n, seed)
    return x[held], y[held]


def parse_thresholds(text):
    """'T1,T2,TD' -> {"t1", "t2", "td"}; 'none' (or empty) for a condition not applied."""
    parts = [p.strip() for p in (text or "").split(",")]
    if len(parts) != 3:
        raise UsageError(f"--thresholds {text}: expected three values T1,T2,TD (none for no condition)")
    out = {}
    for key, p, free in zip(("t1", "t2", "td"), parts, (-math.inf, math.inf, -math.inf)):
        try:
            out[key] = free if p.lower() in ("", "none") else float(p)
        except ValueError:
            raise UsageError(f"--thresholds {text}: {p!r} is not a number") from None
        if out[key] != out[key]:
            raise UsageError(f"--thresholds {text}: NaN is not a threshold")
    return out


def _finite(v):
    return None if not math.isfinite(v) else float(v)


def reject_rules_report(model, loss, test_x, test_y, valid=None, thresholds=None, target=TARGET):
    """``{rule: {t1, t2, td, valid_reject, valid_error, test_reject, test_error}}``: with
    ``valid`` = (images, labels) both rules are fitted there; with ``thresholds`` the NIPS rule
    takes them as given. None stands for a condition not applied."""
    scores = model.evaluate(test_x, test_y, loss)["scores"]
    fits = {}
    if thresholds is not None:
        fits[metrics.NIPS_RULE] = dict(thresholds, reject=None, error=None)
    else:
        vscores = model.evaluate(valid[0], valid[1], loss)["scores"]
        fits = {rule: metrics.fit_reject_rule(vscores, valid[1], rule, target) for rule in metrics.REJECT_RULES}
    out = {}
    for rule, fit in fits.items():
        applied = metrics.apply_reject_rule(scores, test_y, fit)
        out[rule] = {"t1": _finite(fit["t1"]), "t2": _finite(fit["t2"]), "td": _finite(fit["td"]),
                     "valid_reject": fit["reject"], "valid_error": fit["error"],
                     "test_reject": applied["reject"], "test_error": applied["error"]}
    return out


def describe(rule, r):
    """One line: the rule, its thresholds, what it rejects on the test digits."""
    cond = [f"top > {r['t1']:.3f}" if r["t1"] is not None else None,
            f"second < {r['t2']:.3f}" if r["t2"] is not None else None,
            f"gap > {r['td']:.3f}" if r["td"] is not None else None]
    cond = ", ".join(c for c in cond if c) or "keep everything"
    fitted = "" if r["valid_reject"] is None else \
        f" (held-out digits: reject {100 * r['valid_reject']:.2f}% -> error {100 * r['valid_error']:.2f}%)"
    return (f"  {rule:<4} rule, {cond}: reject {100 * r['test_reject']:5.2f}%  ->  error "
            f"{100 * r['test_error']:5.2f}% on the rest{fitted}")
