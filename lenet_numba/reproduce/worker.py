"""One run of the reproduction, in a worker process: train, then read the test set once.

A run with ``holdout`` > 0 trains on the other training digits and fits each reject rule's
thresholds on the held-out ones (never on the test set), then applies them to the test set.
"""

import dataclasses
import os
import socket
import tempfile
import time

from .. import __version__
from ..errors import DivergenceError
from ..procs import single_threaded

TARGET = 0.01  # the papers' operating point: 1% error on the digits kept


def run_task(task):
    """Train ``task`` (a dict from rows.tasks) and return its JSON-able result."""
    single_threaded()
    from numba.core import config

    from .. import metrics
    from ..data import stratified_holdout
    from ..experiment import TrainConfig, load_test_set, load_train_set, run
    from ..reject_report import reject_rules_report

    t0, c0 = time.perf_counter(), time.process_time()
    base = {k: task.get(k) for k in ("name", "row", "label", "arch", "recipe", "overrides", "pretrain", "seed",
                                     "holdout")}
    base.update(setting={"row": task["row"], "holdout": task["holdout"]}, host=socket.gethostname(),
                pid=os.getpid(), numba_threads=int(config.NUMBA_NUM_THREADS), package_version=__version__)
    where = {"data_dir": task.get("data_dir"), "download": task.get("download", True)}
    cfg = TrainConfig(arch=task["arch"], recipe=task["recipe"], overrides=dict(task["overrides"]), seed=task["seed"],
                      validation=task["holdout"] or None, test=False, **where).validate()
    loss = cfg.recipe.loss
    try:
        with tempfile.TemporaryDirectory(prefix="lenet-numba-stage-") as tmp:
            if task.get("pretrain"):  # the first stage never reads a test file either
                first = os.path.join(tmp, "stage1.npz")
                _first_stage(task, first, where)
                cfg = dataclasses.replace(cfg, init_from=first)
            summary = run(cfg)
    except DivergenceError as e:
        return dict(base, status="diverged", error=str(e), wall_seconds=time.perf_counter() - t0)
    model = summary["model"]
    xte, yte = load_test_set("usps", task.get("data_dir"), task.get("download", True))  # once, after training
    test = model.evaluate(xte, yte, loss)
    result = dict(base, status="ok", error=None, loss=loss, epochs=summary["epochs"],
                  train_error=summary["train_error"], train_loss=summary["train_loss"],
                  test_error=test["error"], test_loss=test["loss"], n_test=int(len(yte)),
                  misses=int((test["predictions"] != yte).sum()),
                  reject_for_1pct=metrics.reject_for_error(test["scores"], yte, TARGET))
    if task["holdout"]:
        xtr, ytr = load_train_set("usps", task.get("data_dir"), task.get("download", True))
        _, held = stratified_holdout(ytr, task["holdout"], task["seed"])  # the digits the run held out
        result["valid_error"] = summary["valid_error"]
        result["reject_rules"] = reject_rules_report(model, loss, xte, yte, (xtr[held], ytr[held]), target=TARGET)
    # CPU seconds as well: on a shared machine the wall time says more about the neighbours
    result.update(wall_seconds=round(time.perf_counter() - t0, 2), cpu_seconds=round(time.process_time() - c0, 2))
    return result


def _first_stage(task, path, where):
    """Train the first stage and save its weights to ``path`` for the second to start from.
    Saved here with an empty history: a run without a test set records its test error as
    NaN, which a checkpoint's JSON refuses."""
    from ..checkpoint import save_checkpoint
    from ..experiment import TrainConfig, checkpoint_meta, make_optimizer, run

    cfg = TrainConfig(arch=task["arch"], recipe=task["recipe"], seed=task["seed"], test=False,
                      dataset=task["pretrain"]["dataset"],
                      overrides={**task["overrides"], "epochs": task["pretrain"]["epochs"]}, **where).validate()
    summary, recipe = run(cfg), cfg.recipe
    defining = {"arch": task["arch"], "recipe": recipe.name, "seed": task["seed"],
                "dataset": task["pretrain"]["dataset"], "init_from": None}
    meta = checkpoint_meta(defining, recipe, summary["model"], summary["epochs"], [])
    save_checkpoint(path, summary["model"].state_dict(), meta, make_optimizer(recipe, task["seed"]).state())
