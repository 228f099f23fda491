"""One engine's side of bench/speed.py: a process that times workloads on request.

    PYTHONPATH=<engine source root> python bench/speed_worker.py

bench/speed.py starts one of these per engine (the tree under test and the baseline
revision, each importing its own ``lenet_numba`` and using its own JIT cache) and sends
JSON lines on stdin:

    {"op": "info"}                               -> versions, where lenet_numba came from
    {"op": "setup", "workload": W}               -> builds W and runs it once (compiles)
    {"op": "time", "workload": W}                -> one timed run: {"cpu_s", "wall_s"}

Workloads: ``train/<arch>/<dtype>[/fast]`` (one per-sample SGD pass over the training digits in
the compiled loop, as ``train`` runs it: softmax CE, lr 0.01, file order),
``infer/<arch>/<dtype>[/fast]`` (``Model.predict`` on the test digits; /fast: under the fast
numerics policy, which an engine without policies ignores), ``sdlm/<arch>/<dtype>``
(``SDLM().step_for_epoch``: the curvature estimate before a pass, MSE loss as the 1989
recipe). The only engine internals read are the compiled loop ``train.train_chunk`` and
the model's plan arrays, both looked up by name so that either engine version works.
"""

import os
import sys
import time

for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import inspect  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402

LR = 0.01


def load_data(data_dir):
    """(x_train, y_train, x_test, y_test, source): the USPS digits, or random stand-ins."""
    try:
        from lenet_numba.data.usps import load_usps
        xtr, ytr = load_usps("train", data_dir=data_dir, download=False)
        xte, yte = load_usps("test", data_dir=data_dir, download=False)
        return xtr, ytr, xte, yte, "USPS (zip.train 7,291 / zip.test 2,007)"
    except Exception as e:  # speed does not depend on the pixel values
        rng = np.random.default_rng(0)
        return (rng.uniform(-1, 1, (7291, 16, 16)), rng.integers(0, 10, 7291),
                rng.uniform(-1, 1, (2007, 16, 16)), rng.integers(0, 10, 2007),
                f"random stand-in digits (USPS not found: {type(e).__name__})")


def plan_arrays(model):
    """(table, pad_values, conn) the compiled engine reads: public attributes where the
    engine has them, else v0.1.0's private ones."""
    if hasattr(model, "table"):
        return model.table, model.pad_values, model.conn
    return model._table, model._pad_values, model._conn


def sgd_pass(model, x, y):
    """A callable running one per-sample SGD pass over (x, y) in the compiled loop."""
    from lenet_numba import train as T
    from lenet_numba.kernels.losses import NAMES

    xs, ys = model.as_images(x), np.ascontiguousarray(y, np.int64)
    acts, dacts, grads = model.buffers()
    table, pad_values, conn = plan_arrays(model)
    values = {"table": table, "pad_values": pad_values, "conn": conn, "params": model.params, "acts": acts,
              "dacts": dacts, "grads": grads, "step": np.full(model.n_params, LR, model.dtype),
              "images": xs, "labels": ys, "order": np.arange(len(ys), dtype=np.int64), "start": 0,
              "stop": len(ys), "loss_kind": NAMES["ce"], "totals": np.zeros(2, np.float64),
              "seed": 0, "epoch": 0, "image_buf": np.zeros(xs.shape[1:], model.dtype),
              "aug_work": np.zeros(0, np.float64), "weight_decay": 0.0, "smoothing": 0.0}
    names = list(inspect.signature(T.train_chunk.py_func).parameters)
    if "aug" in names:  # no augmentation: None where the loop takes it, else v0.1.0's all-0 vector
        values["aug"] = None if "aug = None" in (T.train_chunk.__doc__ or "") else T.augmentation_vector(None)
    args = [values[n] for n in names if n in values]

    def run():
        bad = T.train_chunk(*args)
        if bad >= 0:
            raise RuntimeError("diverged")
    return run


def build(workload, data):
    """kind/arch/dtype[/numerics]: an engine without numerics policies (v0.1.0) runs its
    only arithmetic, the exact one, whatever the workload asks."""
    from lenet_numba.model import Model
    kind, arch, dtype, *policy = workload.split("/")
    xtr, ytr, xte, _ = data
    options = {"numerics": policy[0]} if policy and "numerics" in inspect.signature(Model).parameters else {}
    model = Model(arch, "tanh", "identity", dtype=dtype, seed=0, **options)
    if kind == "train":
        return sgd_pass(model, xtr, ytr), len(ytr)
    if kind == "infer":
        xs = model.as_images(xte)
        return (lambda: model.predict(xs)), len(xs)
    if kind == "sdlm":
        from lenet_numba.kernels.losses import NAMES
        from lenet_numba.sdlm import SDLM
        opt, step = SDLM(), np.zeros(model.n_params, model.dtype)
        return (lambda: opt.step_for_epoch(model, 0, xtr, ytr, NAMES["mse"], step)), opt.n_estimate
    raise ValueError(f"unknown workload {workload!r}")


def info(source):
    import numba

    import lenet_numba
    from lenet_numba import architectures
    return {"lenet_numba": os.path.dirname(lenet_numba.__file__), "numba": numba.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0], "data": source,
            "architectures": list(architectures.ARCHITECTURES)}


def first_sample(cli_args):
    """Run ``lenet-numba train CLI_ARGS`` until its compiled loop is about to train its
    first sample, then print that moment and exit: the time to first sample."""
    t_start = time.perf_counter()
    try:  # what the `lenet-numba` executable does first: the shipped compiled code's CPU target
        from lenet_numba import shipped_cache
    except ImportError:  # a revision without shipped compiled code
        pass
    else:
        shipped_cache.choose_target()
    from lenet_numba import train as T
    loop = T.train_chunk
    names = list(inspect.signature(loop.py_func).parameters)
    i_start, i_stop = names.index("start"), names.index("stop")

    def probe(*args, **kwargs):
        if args[i_stop] > args[i_start]:
            # CPU of this process and of those it waited for (the engine's compile-ahead process)
            t = os.times()
            mark = {"first_sample_s": time.perf_counter() - t_start,
                    "cpu_s": time.process_time() + t.children_user + t.children_system}
            print("SPEED_FIRST_SAMPLE " + json.dumps(mark), file=sys.stderr, flush=True)
            os._exit(0)
        return loop(*args, **kwargs)

    T.train_chunk = probe
    from lenet_numba_cli.main import main as cli
    sys.argv = ["lenet-numba", "train", *cli_args]
    cli()


def main():
    if sys.argv[1:2] == ["first-sample"]:
        return first_sample(sys.argv[2:])
    data_dir = os.environ.get("LENET_NUMBA_DATA")
    *data, source = load_data(data_dir)
    built = {}
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "info":
                out = info(source)
            elif req["op"] == "setup":
                t0 = time.perf_counter()
                fn, items = build(req["workload"], data)
                fn()
                built[req["workload"]] = fn
                out = {"items": items, "setup_s": time.perf_counter() - t0}
            elif req["op"] == "time":
                fn = built[req["workload"]]
                w0, c0 = time.perf_counter(), time.thread_time()
                fn()
                out = {"cpu_s": time.thread_time() - c0, "wall_s": time.perf_counter() - w0}
            else:
                out = {"error": f"unknown op {req['op']!r}"}
        except Exception as e:  # reported to the driver, which decides
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
