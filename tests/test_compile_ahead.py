"""compile_ahead.py: SDLM's curvature estimate compiled in a second process, into the cache
the first one then loads it from."""

import os
import subprocess
import sys
import textwrap

import numpy as np

from lenet_numba import compile_ahead
from lenet_numba.model import Model
from lenet_numba.optim import SGD
from lenet_numba.sdlm import SDLM
from lenet_numba.train import train

# In a fresh process on the given cache: SDLM's warm-up for a zip-code net (another network
# than the one compile_ahead compiles with), listing what numba really compiled (a cache
# hit is not a compile).
LOAD = textwrap.dedent("""
    import numpy as np
    from numba.core import event
    from lenet_numba import compile_ahead
    from lenet_numba.model import Model
    from lenet_numba.sdlm import SDLM
    compiled = []
    class Listen(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__name__)
        def on_end(self, ev):
            pass
    print("cached before:", compile_ahead.cached(np.float32), compile_ahead.cached(np.float64))
    event.register("numba:compile", Listen())
    m = Model("zipcode1989", dtype="float32", seed=0)
    SDLM().warm_up(m, np.zeros((1, 16, 16), np.float32), np.zeros(1, np.int64), 0, np.zeros(m.n_params, np.float32))
    print("compiled:", " ".join(compiled))
""")


def _env(tmp_path):
    env = dict(os.environ, LENET_NUMBA_JIT_CACHE=str(tmp_path / "jit"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env.pop("NUMBA_CACHE_DIR", None)
    return env


def test_the_second_process_compiles_what_the_first_then_loads(tmp_path):
    env = _env(tmp_path)
    check = "import numpy as np; from lenet_numba import compile_ahead; print(compile_ahead.cached(np.float32))"
    r = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=600)
    assert r.stdout.strip() == "False", r.stderr[-2000:]  # an empty cache
    main = "import os, sys; from lenet_numba.compile_ahead import main; main(['float32', str(os.getppid())])"
    r = subprocess.run([sys.executable, "-c", main], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr[-2000:]
    r = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cached before: True False" in r.stdout  # float32 compiled, float64 not
    compiled = r.stdout.split("compiled:")[1].split()
    assert "estimate_curvature" not in compiled and "sdlm_steps" not in compiled, compiled


def test_nothing_is_started_without_an_estimate_cached_or_turned_off(monkeypatch):
    m = Model("lenet1", seed=0)
    assert compile_ahead.start(m, SGD(0.01)) is None
    monkeypatch.setattr(compile_ahead, "cached", lambda dtype: True)
    assert compile_ahead.start(m, SDLM()) is None
    monkeypatch.setattr(compile_ahead, "cached", lambda dtype: False)
    monkeypatch.setenv(compile_ahead.OFF, "0")  # as in a sweep's workers
    assert compile_ahead.start(m, SDLM()) is None
    compile_ahead.finish(None)  # nothing to wait for


def test_train_starts_one_on_a_cold_cache_and_waits_for_it(monkeypatch):
    """train() with SDLM and the estimate not cached: the second process is started with
    this package and the model's dtype, and reaped before the estimate runs."""
    seen = []
    real_start = compile_ahead.start

    def spy(model, optimizer):
        p = real_start(model, optimizer)
        seen.append(p)
        return p

    monkeypatch.setattr(compile_ahead, "cached", lambda dtype: False)
    monkeypatch.setattr("lenet_numba.compile_ahead.default_jobs", lambda: 2)
    monkeypatch.delenv(compile_ahead.OFF, raising=False)  # an in-process sweep command sets it
    monkeypatch.setattr(compile_ahead, "start", spy)
    m = Model("lenet1", seed=0)
    x = np.zeros((3, 16, 16), np.float32)
    train(m, x, np.array([0, 1, 2]), optimizer=SDLM(n_estimate=2), epochs=1)
    (p,) = seen
    assert p is not None and p.returncode == 0  # reaped, and it succeeded
    assert p.args[-3:] == ["lenet_numba.compile_ahead", "float32", str(os.getpid())]


def test_a_process_that_outlives_the_wait_is_stopped(monkeypatch):
    monkeypatch.setattr(compile_ahead, "WAIT_S", 0.2)
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    compile_ahead.finish(p)
    assert p.returncode is not None
    q = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    compile_ahead.finish(q, ok=False)  # leaving with an error: stopped at once
    assert q.returncode is not None
