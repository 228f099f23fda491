"""Atomic writes: what a killed writer leaves behind is cleaned by the next write, and nothing
that may still be in use is touched."""

import os
import subprocess
import sys

from lenet_numba.atomic import _owner_tag, atomic_open, remove_stale_temps


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp(tmp_path, base, tag):
    p = tmp_path / f".{base}.{tag}.abc123_x.tmp"
    p.write_bytes(b"half a checkpoint")
    return p


def test_next_write_removes_a_dead_writers_temp_file_only(tmp_path):
    host = _owner_tag().rsplit("-", 1)[0]
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _temp(tmp_path, "m.npz", f"{host}-{_dead_pid()}")
        alive = _temp(tmp_path, "m.npz", f"{host}-{live.pid}")            # a writer still running
        mine = _temp(tmp_path, "m.npz", _owner_tag())                     # this process's own
        elsewhere = _temp(tmp_path, "m.npz", f"other{host}-{_dead_pid()}")  # another machine, shared disk
        other_file = _temp(tmp_path, "n.npz", f"{host}-{_dead_pid()}")    # another file's temp
        unrelated = tmp_path / ".m.npz.notes.tmp"
        unrelated.write_text("not ours")
        with atomic_open(tmp_path / "m.npz") as f:
            f.write(b"new")
        assert not dead.exists()
        for p in (alive, mine, elsewhere, other_file, unrelated):
            assert p.exists(), p.name
        assert (tmp_path / "m.npz").read_bytes() == b"new"
    finally:
        live.kill()
        live.wait()


def test_remove_stale_temps_reports_what_it_removed(tmp_path):
    host = _owner_tag().rsplit("-", 1)[0]
    dead = _temp(tmp_path, "c.npz", f"{host}-{_dead_pid()}")
    assert remove_stale_temps(tmp_path / "c.npz") == [dead.name]
    assert remove_stale_temps(tmp_path / "c.npz") == []
    assert remove_stale_temps(tmp_path / "missing-dir" / "c.npz") == []


def test_temp_files_carry_host_and_pid(tmp_path):
    seen = []
    with atomic_open(tmp_path / "x.bin") as f:
        seen = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        f.write(b"1")
    assert len(seen) == 1 and seen[0].startswith(f".x.bin.{_owner_tag()}."), seen
    assert os.listdir(tmp_path) == ["x.bin"]
