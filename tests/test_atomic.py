"""Atomic writes: what a killed writer leaves behind is cleaned by the next write, and nothing
that may still be in use is touched."""

import os
import subprocess
import sys

import pytest

from lenet_numba.atomic import _owner_tag, _temp_stem, atomic_open, check_output_path, remove_stale_temps
from lenet_numba.errors import UsageError


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


def _name(length, char="m", ext=".npz"):
    """A file name of exactly ``length`` bytes in the file system's encoding."""
    stem = char * ((length - len(ext)) // len(os.fsencode(char)))
    return stem + "m" * (length - len(ext) - len(os.fsencode(stem))) + ext


@pytest.mark.parametrize("length, char", [(240, "m"), (255, "m"), (255, "é")])
def test_a_legal_long_name_is_checked_and_written_with_a_temp_name_that_fits(tmp_path, length, char):
    """A name of up to 255 bytes (the usual NAME_MAX) is legal: the temp file beside it
    carries a cut form of it (marked with a hash), short enough to be created."""
    target = tmp_path / _name(length, char)
    assert len(os.fsencode(target.name)) == length
    check_output_path(target, "--out")
    with atomic_open(target) as f:
        temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        f.write(b"complete")
    assert len(temps) == 1 and len(os.fsencode(temps[0])) <= 255 and _owner_tag() in temps[0], temps
    assert os.listdir(tmp_path) == [target.name] and target.read_bytes() == b"complete"


def test_a_name_longer_than_the_file_system_takes_is_refused_up_front(tmp_path):
    with pytest.raises(UsageError, match=r"too long for the file system \(256 bytes, at most 255\)"):
        check_output_path(tmp_path / _name(256), "--out")
    assert os.listdir(tmp_path) == []


def test_long_names_sharing_a_start_keep_their_own_stale_temps_apart(tmp_path):
    """Cut temp names still tell two long targets apart: the next write of one removes its
    dead writer's temp file and not the other's."""
    host = _owner_tag().rsplit("-", 1)[0]
    a, b = (tmp_path / ("x" * 230 + suffix + ".npz") for suffix in ("aaaa", "bbbb"))
    assert _temp_stem(a) != _temp_stem(b) and _temp_stem(a)[:200] == _temp_stem(b)[:200]
    dead_a = _temp(tmp_path, _temp_stem(a), f"{host}-{_dead_pid()}")
    dead_b = _temp(tmp_path, _temp_stem(b), f"{host}-{_dead_pid()}")
    with atomic_open(a) as f:
        f.write(b"new")
    assert not dead_a.exists() and dead_b.exists()
