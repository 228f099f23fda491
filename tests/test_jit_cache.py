"""The compiled-code cache (jit_cache.py): keyed by the package's whole source, installed
without touching numba's globals, damaged entries recompiled, unwritable folders survived."""

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from lenet_numba import jit_cache, numba_private

# A small package function: compiles in about a second, so each damaged-cache case is cheap.
SNIPPET = textwrap.dedent("""
    import numpy as np
    from lenet_numba.optim import apply_update
    p = np.ones(3)
    apply_update(p, np.full(3, 0.5), np.arange(3.0))
    print(p.tolist())
""")
EXPECTED = "[1.0, 0.5, 0.0]"


def run_python(code, env, cwd=None):
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def jit_env(tmp_path):
    """A child-process environment with its own (empty) compiled-code cache."""
    env = dict(os.environ, LENET_NUMBA_JIT_CACHE=str(tmp_path / "jit"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env.pop("NUMBA_CACHE_DIR", None)
    return env


def test_any_source_change_moves_the_cache(tmp_path, monkeypatch):
    copy = tmp_path / "lenet_numba"
    shutil.copytree(jit_cache.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(jit_cache, "PACKAGE_DIR", str(copy))
    jit_cache.source_hash.cache_clear()
    try:
        before = jit_cache.source_hash()
        jit_cache.source_hash.cache_clear()
        assert jit_cache.source_hash() == before                    # stable
        conv = copy / "kernels" / "conv.py"
        conv.write_text(conv.read_text() + "\n# a comment counts too\n")
        jit_cache.source_hash.cache_clear()
        assert jit_cache.source_hash() != before                    # a callee's edit changes every path
    finally:
        jit_cache.source_hash.cache_clear()


def test_package_functions_cache_under_the_source_hash():
    from lenet_numba.kernels.conv import conv2d_forward

    path = numba_private.cache_path(conv2d_forward)
    assert path.startswith(jit_cache.cache_root() + os.sep), path
    assert os.path.basename(jit_cache.cache_root()) == jit_cache.source_hash()


def test_importing_patches_nothing_and_writes_nothing(jit_env, tmp_path):
    code = textwrap.dedent("""
        from numba.core import caching
        before = list(caching.CacheImpl._locator_classes)
        import lenet_numba, lenet_numba.train, lenet_numba.model
        from lenet_numba_cli import main
        assert caching.CacheImpl._locator_classes == before, caching.CacheImpl._locator_classes
        print("ok")
    """)
    old = tmp_path / "jit" / ("0" * 16)
    old.mkdir(parents=True)
    os.utime(old, (0, 0))  # an old version's folder: pruning is a command's job, not an import's
    r = run_python(code, jit_env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert sorted(p.name for p in (tmp_path / "jit").iterdir()) == ["0" * 16]


def test_python_dash_m_is_the_cli(jit_env):
    r = subprocess.run([sys.executable, "-m", "lenet_numba", "--help"], env=jit_env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "Usage:" in r.stdout and "train" in r.stdout, r.stderr


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _random_bytes(path):
    path.write_bytes(os.urandom(max(64, path.stat().st_size)))


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage, suffix", [(_truncate, ".nbc"), (_random_bytes, ".nbi"), (_flip_byte, ".nbc"),
                                            (_empty, ".nbi"), (_flip_byte, ".nbi")],
                         ids=["truncated-nbc", "random-nbi", "flipped-nbc", "empty-nbi", "flipped-nbi"])
def test_a_damaged_entry_is_discarded_and_compiled_again(jit_env, tmp_path, damage, suffix):
    first = run_python(SNIPPET, jit_env)
    assert first.returncode == 0 and first.stdout.strip() == EXPECTED, first.stderr
    (entry,) = (tmp_path / "jit").glob(f"*/*/optim.apply_update-*{suffix}")
    damage(entry)
    second = run_python(SNIPPET, jit_env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == EXPECTED
    warnings = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "damaged compiled-code cache entry" in warnings[0], second.stderr
    third = run_python(SNIPPET, jit_env)  # the entry was written again: silent
    assert third.returncode == 0 and third.stdout.strip() == EXPECTED and not third.stderr.strip(), third.stderr


def test_unwritable_cache_and_read_only_install_still_run(tmp_path):
    """No writable place at all: the cache folder sits under a file and the installed
    package's __pycache__ folders are files (a read-only install, even for root)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(jit_cache.PACKAGE_DIR, site / "lenet_numba", ignore=ignore)
    cli_dir = os.path.join(os.path.dirname(jit_cache.PACKAGE_DIR), "cli", "lenet_numba_cli")
    shutil.copytree(cli_dir, site / "lenet_numba_cli", ignore=ignore)
    for folder in [site / "lenet_numba_cli", *[p for p in site.rglob("*") if p.is_dir()]]:
        (folder / "__pycache__").write_text("")
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", HOME=str(blocker / "home"),
               XDG_CACHE_HOME=str(blocker / "xdg"), LENET_NUMBA_JIT_CACHE=str(blocker / "jit"))
    env.pop("NUMBA_CACHE_DIR", None)
    version = subprocess.run([sys.executable, "-m", "lenet_numba_cli.main", "--version"], env=env,
                             capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert version.returncode == 0 and "version" in version.stdout, version.stderr
    r = run_python(SNIPPET, env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == EXPECTED, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the compiled-code cache" in lines[0], r.stderr
    assert "LENET_NUMBA_JIT_CACHE" in lines[0]


def test_prepare_falls_back_to_a_temporary_folder_and_says_why(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LENET_NUMBA_JIT_CACHE", str(blocker / "jit"))
    monkeypatch.setattr(jit_cache, "_state", {"root": None, "temporary": False, "warned": set()})
    jit_cache.prepare("train", announce=False)
    jit_cache.prepare("train", announce=False)
    root = jit_cache.cache_root()
    assert os.path.isdir(root) and not root.startswith(str(blocker))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "Not a directory" in err[0] and "temporary folder" in err[0]


def test_prepare_reports_a_cold_cache_and_prunes(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_NUMBA_JIT_CACHE", str(tmp_path))
    monkeypatch.setattr(jit_cache, "_state", {"root": None, "temporary": False, "warned": set()})
    old = tmp_path / ("a" * 16)
    for i, name in enumerate(["a", "b", "c", "d"]):
        (tmp_path / (name * 16)).mkdir()
        os.utime(tmp_path / (name * 16), (i, i))
    assert jit_cache.prepare(announce=False) is True            # nothing compiled yet
    assert not old.exists()                                      # the oldest beyond KEEP=3 is gone
    sub = os.path.join(jit_cache.cache_root(), "kernels_x")
    os.makedirs(sub)
    open(os.path.join(sub, "f.nbi"), "wb").close()
    assert jit_cache.prepare(announce=False) is False


def test_the_compile_notice_says_what_and_how_long(capsys):
    from lenet_numba.compile_notice import CompileNotice

    notice = CompileNotice("eval", cold=True)
    notice.load_per_core = 0.0  # an idle machine: the built-in figure as it is
    notice.on_start(None)
    notice.on_start(None)   # a callee's compile inside the first: no second line
    notice.on_end(None)
    notice.on_end(None)
    notice.on_start(None)   # a later compile in the same run: still one line
    notice.on_end(None)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "`eval`" in err[0] and "10 s" in err[0] and "first run" in err[0]


def test_prune_keeps_the_current_the_recent_and_the_young(tmp_path):
    from lenet_numba.jit_cache import prune

    now = 1_000_000_000.0
    day = 86400.0
    ages = {"a" * 16: 10, "b" * 16: 9, "c" * 16: 8, "d" * 16: 7, "e" * 16: 6, "0" * 16: 30}
    for name, days in ages.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.nbi").write_text("cache")
        os.utime(tmp_path / name, (now - days * day, now - days * day))
    (tmp_path / "not-a-version").mkdir()
    os.utime(tmp_path / "not-a-version", (now - 99 * day, now - 99 * day))
    # current "0"*16 (oldest of all) stays; the 3 most recently used others (e, d, c) stay
    assert sorted(prune(str(tmp_path), "0" * 16, keep=3, min_age_days=1, now=now)) == ["a" * 16, "b" * 16]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["0" * 16, "c" * 16, "d" * 16, "e" * 16,
                                                                 "not-a-version"])
    # used within min_age_days: kept even beyond keep
    os.utime(tmp_path / ("c" * 16), (now - 0.5 * day, now - 0.5 * day))
    assert prune(str(tmp_path), "0" * 16, keep=0, min_age_days=1, now=now) == ["e" * 16, "d" * 16]
    assert (tmp_path / ("c" * 16)).exists() and (tmp_path / ("0" * 16)).exists()
    assert prune(str(tmp_path / "missing"), "0" * 16) == []


class FakeTerminal:
    def __init__(self):
        self.parts = []

    def isatty(self):
        return True

    def write(self, text):
        self.parts.append(text)

    def flush(self):
        pass


def test_on_a_terminal_a_ticker_counts_the_seconds_and_clears_its_line():
    import time

    from lenet_numba.compile_notice import CompileNotice

    term = FakeTerminal()
    notice = CompileNotice("train", cold=True, stream=term, tick=0.01)
    notice.load_per_core = 0.0
    notice.on_start(None)
    deadline = time.time() + 5
    while not any(p.startswith("\rcompiling...") for p in term.parts) and time.time() < deadline:
        time.sleep(0.01)
    notice.on_end(None)
    text = "".join(term.parts)
    assert "compiling the engine for `train`" in text and "40 s" in text
    assert "\rcompiling... " in text and text.endswith("\r\033[K")   # the ticker line is gone at the end


def test_commands_announce_the_compile_on_stderr(tmp_path):
    """A cold cache: `gradcheck` says what it is doing before the silent compile (the
    shipped compiled code off: it would leave nothing to compile)."""
    env = dict(os.environ, LENET_NUMBA_JIT_CACHE=str(tmp_path / "jit"), LENET_NUMBA_SHIPPED_CACHE="0")
    r = subprocess.run([sys.executable, "-m", "lenet_numba", "gradcheck", "--samples", "1"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("compiling the engine for `gradcheck` (first run of this version): up to about")
    from lenet_numba.compile_notice import read_times
    assert read_times(str(tmp_path / "jit"))["gradcheck"]["seconds"] > 0  # the next cold run's estimate
    again = subprocess.run([sys.executable, "-m", "lenet_numba", "gradcheck", "--samples", "1"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "compiling" not in again.stderr, again.stderr


def test_every_compiled_function_of_the_package_uses_its_cache():
    """numba's own njit/jit in the package would cache by one file's stamp (stale callees)
    or not at all: every compiled function comes from jit_cache.njit."""
    import re

    offenders = []
    for dirpath, _, names in os.walk(jit_cache.PACKAGE_DIR):
        for name in names:
            path = os.path.join(dirpath, name)
            if not name.endswith(".py") or path == jit_cache.__file__:
                continue
            text = open(path).read()
            if re.search(r"from numba import [^\n]*\b(njit|jit)\b|numba\.n?jit\(|@(numba\.)?jit\b", text):
                offenders.append(os.path.relpath(path, jit_cache.PACKAGE_DIR))
    assert not offenders, f"use `from lenet_numba.jit_cache import njit` in {offenders}"


def _save_in_step(tag, barrier, root, n):
    for i in range(n):
        files = numba_private._CheckedFiles(os.path.join(root, str(i)), "fn", ("stamp", 1), jit_cache._Policy)
        barrier.wait()
        files.save(("sig", tag), {"code_for": tag})


def test_two_processes_saving_one_function_at_once_keep_both_entries(tmp_path):
    """numba's save (read the index, take the next free data file, write both) is not atomic
    as a whole: without the lock, two processes saving two overloads in step lose one, or
    leave the index naming the other's code (compile_ahead and a sweep's workers do this)."""
    import multiprocessing as mp

    n, root = 60, str(tmp_path / "entries")
    for i in range(n):
        os.makedirs(os.path.join(root, str(i)))
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_save_in_step, args=(tag, barrier, root, n)) for tag in ("float32", "float64")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    for i in range(n):
        files = numba_private._CheckedFiles(os.path.join(root, str(i)), "fn", ("stamp", 1), jit_cache._Policy)
        index = files._load_index()
        assert len(index) == 2, i
        assert all(files.load(key)["code_for"] == key[1] for key in index), i


PRIVATE_NUMBA = re.compile(r"numba\.core\.caching|from numba\.core import [^\n]*\bcaching\b|\._cache\b"
                           r"|populate_array|_getvalue\(|numba\.np\.arrayobj")


def test_numba_private_names_are_used_in_one_module_only():
    """A Numba release that moves its internals must break one file (numba_private.py),
    not every run: no other module of the package reaches into them."""
    offenders = []
    for dirpath, _, names in os.walk(jit_cache.PACKAGE_DIR):
        for name in names:
            path = os.path.join(dirpath, name)
            if name.endswith(".py") and path != numba_private.__file__ and PRIVATE_NUMBA.search(open(path).read()):
                offenders.append(os.path.relpath(path, jit_cache.PACKAGE_DIR))
    assert not offenders, f"Numba's private names outside numba_private.py: {offenders}"


def test_a_cold_run_records_its_compile_time_and_the_next_cold_run_says_it(tmp_path, capsys):
    import time

    from lenet_numba.compile_notice import CompileNotice, read_times

    notice = CompileNotice("eval", cold=True, times_dir=str(tmp_path))
    notice.on_start(None)
    time.sleep(0.05)
    notice.on_end(None)
    notice.waited(7.0)  # compile_ahead's second process compiled meanwhile
    notice.save()
    seconds = read_times(str(tmp_path))["eval"]["seconds"]
    assert 7.0 <= seconds < 8.0, seconds
    later = CompileNotice("eval", cold=True, times_dir=str(tmp_path))
    later.load_per_core = 0.0
    assert "up to about 10 s (as timed on this machine)" in later.message()
    warm = CompileNotice("predict", cold=False, times_dir=str(tmp_path))  # a partial compile records nothing
    warm.on_start(None)
    warm.on_end(None)
    warm.save()
    assert "predict" not in read_times(str(tmp_path))
    capsys.readouterr()


def test_the_timed_estimate_grows_with_the_load_and_a_bad_record_is_ignored(tmp_path):
    from lenet_numba.compile_notice import ESTIMATES, estimate, record_time

    record_time(str(tmp_path), "train", 12.0, 0.5)
    assert estimate("train", str(tmp_path), load_per_core=0.2) == (15, True)   # never below the record
    assert estimate("train", str(tmp_path), load_per_core=3.0) == (40, True)   # 12 s x 3 = 36 -> 40
    assert estimate("eval", str(tmp_path), load_per_core=0.0) == (ESTIMATES["eval"], False)
    assert estimate("eval", str(tmp_path), load_per_core=2.5) == (25, False)   # untimed: the figure x load
    (tmp_path / "compile-times.json").write_text("{not json")
    assert estimate("train", str(tmp_path), load_per_core=0.0) == (ESTIMATES["train"], False)
