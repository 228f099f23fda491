"""One training run at a time, in its own process, reporting to the page as it goes.

Why a process: the compiled training loop holds the GIL (the kernels are not ``nogil``),
so a run in a thread would stall predictions for a whole chunk or evaluation at a time.
The worker (``worker_main``, started with "spawn" so it inherits no server threads) runs
``experiment.run`` and sends messages on a queue: "start" (network and first weights),
"chunk" (weights, at most every ``SEND_EVERY`` s), "epoch" (errors, weights, reject
threshold), then "done" or "failed". A listener thread applies them to the Engine's live
network, which the page reads when asked to.

A worker that does not stop when told (stopped with SIGSTOP, stuck) is terminated, then
killed (``stop_process``): cancel and shutdown end within a few seconds whatever it does.
The worker ignores SIGINT: Ctrl-C in the terminal reaches the whole process group, and the
server, not the worker, decides how a run ends.
"""

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time

from ..errors import LenetError, first_line
from ..limits import DEFAULT_DATASET
from .requests import BadRequest

SEND_EVERY = 0.1   # seconds between weight updates sent while a pass runs
CHUNK = 256        # samples per compiled chunk: how soon a cancel is seen
STOP_GRACE = 2.0   # seconds a worker told to stop may take before it is terminated
KILL_GRACE = 1.0   # seconds after terminate before kill


def stop_process(proc, grace=STOP_GRACE):
    """Wait ``grace`` s for ``proc`` to end, then terminate it, then kill it: it is gone
    within grace + 2 * KILL_GRACE seconds (SIGKILL also ends a stopped process)."""
    proc.join(timeout=grace)
    for signal_it in (proc.terminate, proc.kill):
        if not proc.is_alive():
            return
        signal_it()
        proc.join(timeout=KILL_GRACE)


@contextlib.contextmanager
def sigint_blocked():
    """SIGINT blocked in this thread, so a child started meanwhile inherits the mask and
    cannot be interrupted before it ignores SIGINT itself."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def worker_main(job, data_dir, queue, stop):
    """Runs in the worker process: train as ``job`` says, report on ``queue``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a pending Ctrl-C is discarded here
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        from ..experiment import TrainConfig, run
        from .engine import threshold_for

        # epochs None: the recipe's number of passes for this network
        config = TrainConfig.from_options(arch=job["arch"], recipe=job["recipe"], seed=job["seed"],
                                          epochs=job["epochs"], data_dir=data_dir, download=False,
                                          chunk_size=CHUNK).validate()
        held = {}
        last_sent = [0.0]

        def on_model(model, test_set):
            held["model"], held["test"] = model, test_set
            threshold, note = threshold_for(model, test_set)
            queue.put(("start", {"arch": model.arch.name, "activation": model.activation,
                                 "output_activation": model.output_activation, "dtype": model.dtype.name,
                                 "recipe": config.recipe.as_dict(), "params": model.params.copy(),
                                 "threshold": threshold, "note": note}))

        def on_chunk(epoch, done, total):
            now = time.monotonic()
            if now - last_sent[0] >= SEND_EVERY:
                last_sent[0] = now
                queue.put(("chunk", {"epoch": epoch + 1, "done": done, "total": total,
                                     "params": held["model"].params.copy()}))

        def on_epoch(stats):
            threshold, note = threshold_for(held["model"], held["test"])
            queue.put(("epoch", {"stats": {k: float(v) for k, v in stats.as_dict().items()},
                                 "params": held["model"].params.copy(), "threshold": threshold, "note": note}))

        summary = run(config, on_epoch=on_epoch, on_chunk=on_chunk, should_stop=stop.is_set, on_model=on_model)
        queue.put(("done", {"interrupted": bool(summary["interrupted"]), "params": summary["model"].params.copy()}))
    except LenetError as e:
        queue.put(("failed", str(e)))
    except Exception as e:  # reported to the page as one line; the server keeps running
        queue.put(("failed", f"{type(e).__name__}: {first_line(e)}"))


class Trainer:
    """The server side of training runs: start, cancel, status, save."""

    def __init__(self, engine, data_dir=None, save_dir=None):
        self.engine = engine
        self.data_dir = data_dir
        self.save_dir = save_dir
        self._lock = threading.Lock()
        self._proc = self._stop = None
        self.run_id = 0
        self.state = "idle"        # idle, starting, running, cancelling, done, cancelled, failed
        self.job = None
        self.recipe = None
        self.history = []
        self.progress = None
        self.error = None
        self.saved = None
        self._saved_for = None     # (run id, live version) of the last file written

    @property
    def busy(self):
        return self.state in ("starting", "running", "cancelling")

    def start(self, job):
        with self._lock:
            if self.busy:
                raise BadRequest(409, "a training run is going: cancel it or wait for it to end")
            ctx = multiprocessing.get_context("spawn")
            q, stop = ctx.Queue(), ctx.Event()
            proc = ctx.Process(target=worker_main, args=(job, self.data_dir, q, stop), daemon=True,
                               name="lenet-numba-train")
            with sigint_blocked():
                proc.start()
            self.run_id += 1
            self._proc, self._stop = proc, stop
            self.state, self.job, self.recipe, self.history = "starting", dict(job), None, []
            self.progress, self.error, self.saved = None, None, None
            threading.Thread(target=self._listen, args=(self.run_id, proc, q), daemon=True).start()
            return self.run_id

    def cancel(self):
        with self._lock:
            if not self.busy:
                raise BadRequest(409, "no training run is going")
            self._stop.set()
            self.state = "cancelling"
            proc = self._proc
        threading.Thread(target=stop_process, args=(proc,), daemon=True, name="lenet-numba-cancel").start()

    def _listen(self, run_id, proc, q):
        """Apply the worker's messages until it says done/failed (or dies without a word)."""
        try:
            self._apply_messages(run_id, proc, q)
        finally:
            proc.join(timeout=5)
            q.close()  # its pipe and semaphores go now, not at interpreter exit

    def _apply_messages(self, run_id, proc, q):
        from ..model import Model

        while True:
            try:
                kind, body = q.get(timeout=0.5)
            except queue_module.Empty:
                if proc.is_alive():
                    continue
                try:  # the last message may still be in the pipe when the process has gone
                    kind, body = q.get(timeout=1.0)
                except queue_module.Empty:
                    kind, body = "failed", f"the training process ended unexpectedly (exit code {proc.exitcode})"
            with self._lock:
                if run_id != self.run_id:
                    return
                if kind == "failed" and self.state == "cancelling" and not proc.is_alive():
                    kind, body = "done", {"interrupted": True, "params": None}  # stopped by force
                if kind == "start":
                    model = Model(body["arch"], body["activation"], body["output_activation"], body["dtype"],
                                  init=False, numerics=body["recipe"]["numerics"])
                    model.params[:] = body["params"]
                    self.recipe = body["recipe"]
                    self.job["epochs"] = body["recipe"]["epochs"]  # the recipe's, when the request left it open
                    self.engine.replace(model, self._source(0), body["threshold"], body["note"])
                    self.state = "cancelling" if self.state == "cancelling" else "running"
                elif kind == "chunk":
                    self.progress = {k: body[k] for k in ("epoch", "done", "total")}
                    self.engine.update(body["params"], self._source(body["epoch"] - 1))
                elif kind == "epoch":
                    self.history.append(body["stats"])
                    self.engine.update(body["params"], self._source(len(self.history)), body["threshold"],
                                       body["note"])
                elif kind == "done":
                    if body["params"] is not None and self.engine.live is not None:
                        self.engine.update(body["params"])
                    self.state = "cancelled" if body["interrupted"] or self._stop.is_set() else "done"
                elif kind == "failed":
                    self.state, self.error = "failed", body
                if kind in ("done", "failed"):
                    return

    def _source(self, epochs):
        j = self.job
        return f"training: {j['arch']}, recipe {j['recipe']}, seed {j['seed']}, {epochs} of {j['epochs']} passes"

    def status(self):
        with self._lock:
            return {"state": self.state, "job": self.job, "history": list(self.history), "progress": self.progress,
                    "error": self.error, "saved": self.saved, "can_save": self.save_dir is not None,
                    "version": self.engine.version}

    def save(self):
        """Write the finished (or cancelled) run's network into --save-dir under a name of
        our choosing; returns that name."""
        from ..checkpoint import save_checkpoint
        from ..experiment import checkpoint_meta, run_defining
        from ..recipes import Recipe

        with self._lock:
            if self.save_dir is None:
                raise BadRequest(403, "saving is off: start the server with --save-dir FOLDER")
            model = self.engine.live_model()
            if self.state not in ("done", "cancelled") or self.recipe is None or model is None:
                raise BadRequest(409, "nothing to save: train a network first (and let the run end)")
            saved_for = (self.run_id, self.engine.version)
            if self._saved_for == saved_for and os.path.exists(os.path.join(self.save_dir, self.saved)):
                return self.saved  # this run's network is saved already: one file per run
            j = self.job
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{j['arch']}-{j['recipe']}-seed{j['seed']}-{len(self.history)}passes-{stamp}-{self.run_id}.npz"
            defining = run_defining(j["arch"], j["recipe"], j["seed"], DEFAULT_DATASET)
            meta = checkpoint_meta(defining, Recipe(**self.recipe), model, len(self.history), self.history)
            try:
                save_checkpoint(os.path.join(self.save_dir, name), model.state_dict(), meta)
            except OSError as e:  # the folder removed or unwritable since launch
                raise BadRequest(500, f"save: cannot write into the server's --save-dir "
                                      f"({e.strerror or type(e).__name__})") from None
            self.saved, self._saved_for = name, saved_for
            return name

    def shutdown(self):
        with self._lock:
            proc, stop = self._proc, self._stop
            self.run_id += 1  # the listener stops applying messages
        if proc is not None and proc.is_alive():
            stop.set()
            stop_process(proc, grace=STOP_GRACE / 2)
        with self._lock:
            self._proc = self._stop = None
            if self.busy:
                self.state = "cancelled"
