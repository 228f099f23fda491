"""Tests of the data layer: lookup, download, USPS/IDX parsing, resize, seeded split.

Real-data tests find the data as the program does (conftest.data_root); without it they
skip, except under CI where they fail so a missing data copy cannot pass silently.
Nothing here touches the network: downloads go to file:// URLs or a server on 127.0.0.1.
"""

import gzip
import hashlib
import http.server
import os
import re
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_numba.data import (
    USPS_FILES,
    DataError,
    data_info,
    fetch,
    load_mnist16,
    load_mnist16_all,
    load_usps,
    read_idx,
    read_usps_file,
    resize_to_16,
)
from lenet_numba.data import mnist as mnist_mod
from lenet_numba.data import usps as usps_mod
from lenet_numba.data.download import download
from lenet_numba.data.locate import cache_root, find_file, search_roots
from lenet_numba.data.mnist import split_indices
from lenet_numba.data.sources import MNIST_FILES

TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]  # labels 0..9 in zip.train
TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
FIXTURE_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# every test here: no data env var, no real ~/.cache, no proxy (conftest.isolated_data_env)
pytestmark = pytest.mark.usefixtures("isolated_data_env")


# --------------------------------------------------------------------------- helpers


def esl_text(labels, pixels, label_fmt="{:.4f}", pixel_fmt="{:.4f}"):
    rows = []
    for label, image in zip(labels, pixels):
        fields = [label_fmt.format(label)] + [pixel_fmt.format(v) for v in np.ravel(image)]
        rows.append(" ".join(fields))
    return ("\n".join(rows) + "\n").encode()


def write(path, data, compress):
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def assert_names(err, path, line=None):
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message, message
    if line is not None:
        assert re.search(rf"\bline {line}\b", message), message
    return message


def real_train_lines(data_root):
    return gzip.decompress((data_root / "usps" / "zip.train.gz").read_bytes()).split(b"\n")[:-1]


# --------------------------------------------------------------------------- real files


def test_real_usps_shapes_values_and_label_counts(data_root):
    for split, n, counts in (("train", 7291, TRAIN_COUNTS), ("test", 2007, TEST_COUNTS)):
        x, y = load_usps(split, data_dir=data_root, download=False)
        assert x.shape == (n, 16, 16) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() == -1.0 and x.max() == 1.0
        assert np.bincount(y, minlength=10).tolist() == counts
    x, y = load_usps("train", data_dir=data_root, download=False)
    assert y[0] == 6 and x[0, 0, 7] == np.float32(-0.631)  # first line: "6.0000 -1 ... -0.6310"


def test_real_usps_via_env_var(data_root, monkeypatch):
    monkeypatch.setenv("LENET_NUMBA_DATA", str(data_root))
    x, _ = load_usps("test", download=False)
    assert x.shape == (2007, 16, 16)


def test_real_usps_parse_time_under_half_a_second(data_root):
    load_usps("train", data_dir=data_root, download=False)  # warm the OS file cache and numpy
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        load_usps("train", data_dir=data_root, download=False)
        best = min(best, time.perf_counter() - start)
    assert best < 0.5, f"parsing zip.train.gz took {best:.3f} s"


def test_real_mnist16(mnist_data_root):
    data_root = mnist_data_root
    x_all, y_all = load_mnist16_all(data_dir=data_root, download=False)
    assert x_all.shape == (10000, 16, 16) and x_all.dtype == np.float32
    assert x_all.min() >= -1.0 and x_all.max() <= 1.0 and x_all.min() == -1.0
    assert y_all.dtype == np.int64 and set(np.unique(y_all)) == set(range(10))
    train_idx, test_idx = split_indices(10000, seed=0)
    xtr, ytr = load_mnist16(data_dir=data_root, split="train", download=False)
    xte, yte = load_mnist16(data_dir=data_root, split="test", download=False)
    assert xtr.shape == (7291, 16, 16) and xte.shape == (2007, 16, 16)
    np.testing.assert_array_equal(xtr, x_all[train_idx])
    np.testing.assert_array_equal(yte, y_all[test_idx])


def test_real_data_info_reports_all_files_ok(data_root, mnist_data_root):
    if mnist_data_root != data_root:
        pytest.skip("the USPS and MNIST files are in different data roots")
    info = data_info(data_root)
    assert [s["from"] for s in info["searched"]] == ["--data-dir", "cache"]
    assert {f["name"] for f in info["files"]} == set(USPS_FILES) | set(MNIST_FILES)
    assert all(f["ok"] and f["used"].startswith(str(data_root)) for f in info["files"])


# --------------------------------------------------------------------------- corrupt copies of the real file


def test_truncated_real_gzip_names_file_and_line(data_root, tmp_path):
    raw = (data_root / "usps" / "zip.train.gz").read_bytes()
    cut = raw[: len(raw) // 2]
    path = tmp_path / "zip.train.gz"
    path.write_bytes(cut)
    # Twin: what plain zlib recovers from the same bytes, in one go.
    expected_line = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n") + 1
    assert 1000 < expected_line < 7291
    with pytest.raises(DataError) as err:
        read_usps_file(path)
    assert "truncated" in assert_names(err, path, expected_line)


def first_changed_line(original_gz, damaged_gz):
    """Twin: inflate the damaged deflate stream raw (no CRC check) and diff it with the original."""
    header_end = damaged_gz.index(b"\0", 10) + 1 if damaged_gz[3] & 0x08 else 10  # skip FNAME
    text = zlib.decompressobj(wbits=-15).decompress(damaged_gz[header_end:])
    original = gzip.decompress(original_gz)
    n = min(len(text), len(original))
    first = int(np.argmax(np.frombuffer(text, np.uint8, n) != np.frombuffer(original, np.uint8, n)))
    return original[:first].count(b"\n") + 1


@pytest.mark.parametrize("where", [0.3, 0.5, 0.9])
def test_flipped_bytes_in_real_gzip_point_at_the_damage(data_root, tmp_path, where):
    raw = (data_root / "usps" / "zip.train.gz").read_bytes()
    damaged = bytearray(raw)
    at = int(len(raw) * where)
    damaged[at : at + 4] = bytes(b ^ 0xFF for b in damaged[at : at + 4])
    path = tmp_path / "zip.train.gz"
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataError) as err:
        read_usps_file(path)
    message = assert_names(err, path)
    assert "corrupt gzip" in message
    line = int(re.search(r"line (\d+)", message).group(1))
    first = first_changed_line(raw, bytes(damaged))
    assert first <= line <= first + 5, (first, message)


@pytest.mark.parametrize(
    "line, edit, words",
    [
        (5, lambda f: [b"11.0000"] + f[1:], "label 11"),
        (17, lambda f: [b"3.5000"] + f[1:], "label 3.5"),
        (100, lambda f: f[:-1], "found 256"),
        (7291, lambda f: f + [b"0.5"], "found 258"),
        (7, lambda f: f[:40] + [b"nan"] + f[41:], "nan"),
        (2000, lambda f: f[:3] + [b"1.0001"] + f[4:], "1.0001"),
        (3000, lambda f: f[:9] + [b"-inf"] + f[10:], "-inf"),
        (42, lambda f: f[:9] + [b"x.5"] + f[10:], "column 10"),
        (1, lambda f: [], "found 0"),
    ],
)
def test_edited_real_file_names_file_and_line(data_root, tmp_path, line, edit, words):
    lines = real_train_lines(data_root)
    lines[line - 1] = b" ".join(edit(lines[line - 1].split()))
    path = write(tmp_path / "zip.train.gz", b"\n".join(lines) + b"\n", compress=True)
    with pytest.raises(DataError) as err:
        read_usps_file(path)
    assert words in assert_names(err, path, line)


def test_recompressed_real_file_fails_checksum_but_parses(data_root, tmp_path):
    text = gzip.decompress((data_root / "usps" / "zip.train.gz").read_bytes())
    root = tmp_path / "root"
    (root / "usps").mkdir(parents=True)
    path = write(root / "usps" / "zip.train.gz", text, compress=True)  # same digits, other bytes
    with pytest.raises(DataError) as err:
        load_usps("train", data_dir=root, download=False)
    message = assert_names(err, path)
    assert "checksum" in message and USPS_FILES["zip.train.gz"][2] in message
    x, _ = read_usps_file(path)  # no checksum asked for: it parses
    assert x.shape == (7291, 16, 16)


# --------------------------------------------------------------------------- small generated ESL files

digits = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 9), min_size=n, max_size=n),
        st.lists(st.lists(st.integers(-10000, 10000), min_size=256, max_size=256), min_size=n, max_size=n),
    )
)


@FIXTURE_SETTINGS
@given(data=digits, compress=st.booleans(), label_fmt=st.sampled_from(["{:.4f}", "{:d}"]))
def test_generated_files_round_trip(tmp_path, data, compress, label_fmt):
    labels, ints = data
    pixels = np.array(ints) / 10000.0
    path = write(tmp_path / "digits.gz", esl_text(labels, pixels, label_fmt), compress)
    x, y = read_usps_file(path)
    assert y.tolist() == labels
    np.testing.assert_array_equal(x, pixels.reshape(-1, 16, 16).astype(np.float32))


CORRUPTIONS = {
    "label 11": lambda f: [b"11"] + f[1:],
    "label -1": lambda f: [b"-1"] + f[1:],
    "missing column": lambda f: f[:-1],
    "extra column": lambda f: f + [b"0"],
    "nan": lambda f: f[:5] + [b"nan"] + f[6:],
    "too big": lambda f: f[:5] + [b"2.5"] + f[6:],
    "not a number": lambda f: f[:5] + [b"--1"] + f[6:],
    "blank": lambda f: [],
}


@FIXTURE_SETTINGS
@given(data=digits, kind=st.sampled_from(sorted(CORRUPTIONS)), pick=st.integers(0, 100), compress=st.booleans())
def test_generated_corruption_names_the_line(tmp_path, data, kind, pick, compress):
    labels, ints = data
    lines = esl_text(labels, np.array(ints) / 10000.0).split(b"\n")[:-1]
    bad = pick % len(lines)
    lines[bad] = b" ".join(CORRUPTIONS[kind](lines[bad].split()))
    path = write(tmp_path / "bad.txt", b"\n".join(lines) + b"\n", compress)
    with pytest.raises(DataError) as err:
        read_usps_file(path)
    assert_names(err, path, bad + 1)


def test_gzip_members_and_trailing_garbage(tmp_path):
    first, second = esl_text([1, 2], np.zeros((2, 256))), esl_text([3], np.ones((1, 256)))
    path = write(tmp_path / "two.gz", gzip.compress(first) + gzip.compress(second), compress=False)
    assert read_usps_file(path)[1].tolist() == [1, 2, 3]  # concatenated members, as gzip allows
    path.write_bytes(gzip.compress(first) + b"<html>")
    with pytest.raises(DataError) as err:
        read_usps_file(path)
    assert "after the end of the gzip data" in assert_names(err, path, 3)


def test_read_usps_file_checks_an_expected_checksum(tmp_path):
    data = esl_text([3], np.zeros((1, 256)))
    path = write(tmp_path / "one.txt", data, compress=False)
    assert read_usps_file(path, expected_sha256=sha256(data))[1].tolist() == [3]
    with pytest.raises(DataError) as err:
        read_usps_file(path, expected_sha256="0" * 64)
    assert "checksum" in assert_names(err, path)


def test_empty_and_missing_files(tmp_path):
    empty = write(tmp_path / "empty.txt", b"", compress=False)
    with pytest.raises(DataError) as err:
        read_usps_file(empty)
    assert_names(err, empty)
    with pytest.raises(DataError) as err:
        read_usps_file(tmp_path / "nope.gz")
    assert_names(err, tmp_path / "nope.gz")


# --------------------------------------------------------------------------- lookup order


def put(root, name="zip.test.gz", content=b"x"):
    path = root / "usps" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    monkeypatch.setenv("LENET_NUMBA_DATA", str(env))
    assert search_roots(explicit) == [("--data-dir", explicit), ("LENET_NUMBA_DATA", env), ("cache", cache_root())]
    copies = [put(explicit), put(env), put(cache_root())]
    for expected in copies:
        assert find_file("usps", "zip.test.gz", data_dir=explicit, download=False) == expected
        expected.unlink()
    with pytest.raises(DataError) as err:
        find_file("usps", "zip.test.gz", data_dir=explicit, download=False)
    message = str(err.value)
    positions = [message.index(str(p)) for p in copies]
    assert positions == sorted(positions), "places must be listed in search order"
    for words in (USPS_FILES["zip.test.gz"][0], "--data-dir", "LENET_NUMBA_DATA", "downloading is off"):
        assert words in message


def test_cache_root_follows_xdg_and_home(tmp_path, monkeypatch):
    assert cache_root() == tmp_path / "xdg-cache" / "lenet-numba"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says: ignore
    assert cache_root() == tmp_path / "home" / ".cache" / "lenet-numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == tmp_path / "home" / ".cache" / "lenet-numba"


def test_data_info_lists_every_copy_and_flags_bad_ones(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    monkeypatch.setenv("LENET_NUMBA_DATA", str(env))
    put(explicit, content=b"not the real file")
    put(env)
    info = data_info(explicit)
    assert [s["from"] for s in info["searched"]] == ["--data-dir", "LENET_NUMBA_DATA", "cache"]
    entry = next(f for f in info["files"] if f["name"] == "zip.test.gz")
    assert [c["path"] for c in entry["found"]] == [str(explicit / "usps" / "zip.test.gz"), str(env / "usps" / "zip.test.gz")]
    assert entry["used"] == str(explicit / "usps" / "zip.test.gz")
    assert entry["found"][0]["size"] == 17 and not entry["ok"]
    assert [c["ok"] for c in entry["found"]] == [False, False]  # neither is the real file
    missing = next(f for f in info["files"] if f["name"] == "zip.train.gz")
    assert missing["found"] == [] and missing["used"] is None and not missing["ok"]


# --------------------------------------------------------------------------- parsed cache


def register_fake_usps(monkeypatch, root, labels, name="zip.test.gz"):
    body = gzip.compress(esl_text(labels, np.full((len(labels), 256), -0.25)))
    put(root, name, body)
    monkeypatch.setitem(USPS_FILES, name, ("http://127.0.0.1:9/" + name, len(body), sha256(body)))
    return body


def test_parsed_cache_is_keyed_by_the_source_checksum(monkeypatch, tmp_path):
    root = tmp_path / "root"
    register_fake_usps(monkeypatch, root, [4, 2])
    assert load_usps("test", root, download=False)[1].tolist() == [4, 2]
    (cache,) = (cache_root() / "usps").glob("*.npz")
    assert USPS_FILES["zip.test.gz"][2] in cache.name

    def no_parsing(path, expected_sha256=None):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(usps_mod, "read_usps_file", no_parsing)
    x, y = load_usps("test", root, download=False)
    assert y.tolist() == [4, 2] and x.dtype == np.float32 and (x == -0.25).all()
    monkeypatch.setattr(usps_mod, "read_usps_file", read_usps_file)

    register_fake_usps(monkeypatch, root, [7])  # new source bytes: the old cache must not answer
    assert load_usps("test", root, download=False)[1].tolist() == [7]
    for stale in (cache_root() / "usps").glob("*.npz"):
        stale.write_bytes(b"damaged")
    assert load_usps("test", root, download=False)[1].tolist() == [7]
    assert load_usps("test", root, download=False)[1].tolist() == [7]


def test_unwritable_cache_only_costs_speed(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    root = tmp_path / "root"
    register_fake_usps(monkeypatch, root, [5])
    assert load_usps("test", root, download=False)[1].tolist() == [5]


# --------------------------------------------------------------------------- downloads


@pytest.fixture
def served(tmp_path):
    """A throwaway HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (www, base_url)."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):
            if self.path.startswith("/cut/"):  # announce the full size, send half, hang up
                body = (www / self.path[5:]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def fake_usps(monkeypatch, base_url, www):
    """Point USPS_FILES at small fake files published in ``www``; returns {name: bytes}."""
    bodies = {}
    for i, name in enumerate(USPS_FILES):
        body = gzip.compress(esl_text([i], np.full((1, 256), 0.5)))
        (www / name).write_bytes(body)
        monkeypatch.setitem(USPS_FILES, name, (base_url + name, len(body), sha256(body)))
        bodies[name] = body
    return bodies


def only_final_files(folder):
    """All files in ``folder``: a failed download must leave no temp file either."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_over_http_into_data_dir_with_progress(served, monkeypatch, tmp_path):
    www, base = served
    bodies = fake_usps(monkeypatch, base, www)
    calls = []
    paths = fetch(tmp_path / "root", progress=lambda done, total: calls.append((done, total)))
    for name, body in bodies.items():
        assert paths[name] == tmp_path / "root" / "usps" / name
        assert paths[name].read_bytes() == body
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert all(a[0] <= b[0] or b[0] == 0 for a, b in zip(calls, calls[1:]))
    assert only_final_files(tmp_path / "root" / "usps") == sorted(USPS_FILES)
    assert not cache_root().exists()


def test_fetch_replaces_a_bad_existing_copy(served, monkeypatch, tmp_path):
    www, base = served
    bodies = fake_usps(monkeypatch, base, www)
    bad = put(tmp_path / "root", "zip.train.gz", b"stale")
    with pytest.raises(DataError) as err:  # the loaders reject it ...
        load_usps("train", tmp_path / "root", download=False)
    assert "checksum" in assert_names(err, bad, 1)
    reports = []
    paths = fetch(tmp_path / "root", report=lambda *a: reports.append(a))  # ... fetch replaces it
    assert paths["zip.train.gz"] == bad and bad.read_bytes() == bodies["zip.train.gz"]
    assert reports == [("zip.train.gz", bad, "replaced"),
                       ("zip.test.gz", tmp_path / "root" / "usps" / "zip.test.gz", "downloaded")]
    assert only_final_files(bad.parent) == sorted(USPS_FILES)
    bad.write_bytes(b"stale again")
    (www / "zip.train.gz").unlink()  # the server lost it: the old copy stays, one line says why
    with pytest.raises(DataError) as err:
        fetch(tmp_path / "root")
    assert "HTTP 404" in assert_names(err, bad) and "left in place" in str(err.value)
    assert bad.read_bytes() == b"stale again" and only_final_files(bad.parent) == sorted(USPS_FILES)


def test_load_usps_downloads_into_cache_then_reuses_it(served, monkeypatch):
    www, base = served
    fake_usps(monkeypatch, base, www)
    x, y = load_usps("test")
    assert y.tolist() == [1] and x.shape == (1, 16, 16)
    assert (cache_root() / "usps" / "zip.test.gz").is_file()
    (www / "zip.test.gz").unlink()  # a second load must not need the server
    assert load_usps("test", download=False)[1].tolist() == [1]


def test_file_url_download(tmp_path):
    body = os.urandom(5000)
    src = write(tmp_path / "src.bin", body, compress=False)
    dest = tmp_path / "out" / "file.bin"
    dest.parent.mkdir()
    download(src.as_uri(), dest, len(body), sha256(body))
    assert dest.read_bytes() == body


@pytest.mark.parametrize(
    "publish, expected",
    [
        ("html", "announces"),  # an error page of another size: refused from its header
        ("same-size", "expected"),  # right size, wrong bytes: caught by the hash
        ("missing", "HTTP 404"),
        ("cut", "downloaded 20 bytes"),  # connection dropped half way
    ],
)
def test_failed_download_leaves_nothing(served, monkeypatch, tmp_path, publish, expected):
    www, base = served
    body = gzip.compress(esl_text([1], np.zeros((1, 256))))
    url = base + ("cut/" if publish == "cut" else "") + "zip.test.gz"
    monkeypatch.setitem(USPS_FILES, "zip.test.gz", (url, len(body), sha256(body)))
    if publish == "html":
        (www / "zip.test.gz").write_bytes(b"<html><body>Moved</body></html>")
    elif publish == "same-size":
        (www / "zip.test.gz").write_bytes(bytes(b ^ 1 for b in body))
    elif publish == "cut":
        (www / "zip.test.gz").write_bytes(body)
    with pytest.raises(DataError) as err:
        load_usps("test", data_dir=tmp_path / "root")
    message = str(err.value)
    assert expected in message and url in message and "--data-dir" in message
    if publish == "same-size":
        assert sha256(body) in message and sha256(bytes(b ^ 1 for b in body)) in message
    assert only_final_files(cache_root() / "usps") == []


def test_offline_error_lists_places_url_and_hints(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/zip.train.gz"
    monkeypatch.setitem(USPS_FILES, "zip.train.gz", (url, 10, "0" * 64))
    monkeypatch.setenv("LENET_NUMBA_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        load_usps("train", data_dir=tmp_path / "explicit")
    message = str(err.value)
    assert "\n" not in message and url in message
    for place in (tmp_path / "explicit", tmp_path / "env", cache_root()):
        assert str(place / "usps" / "zip.train.gz") in message
    assert "--data-dir" in message and "LENET_NUMBA_DATA" in message
    assert only_final_files(cache_root() / "usps") == []


# --------------------------------------------------------------------------- IDX


def idx_bytes(array):
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, codes[array.dtype.str[1:]], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big.tobytes()


@FIXTURE_SETTINGS
@given(
    dtype=st.sampled_from(["u1", "i1", "i2", "i4", "f4", "f8"]),
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    compress=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_idx_round_trip(tmp_path, dtype, shape, compress, seed):
    array = (np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype)
    path = write(tmp_path / "a.idx", idx_bytes(array), compress)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize(
    "mangle, words",
    [
        (lambda b: b[:3], "not an IDX"),
        (lambda b: b"\x01" + b[1:], "not an IDX"),
        (lambda b: b[:2] + b"\x07" + b[3:], "not an IDX"),
        (lambda b: b[:4] + b"\x00\x00", "dimensions"),
        (lambda b: b[:-1], "3x4x5 uint8 = 60 bytes"),
        (lambda b: b + b"\x00", "holds 61"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_idx_errors_name_the_file(tmp_path, mangle, words, compress):
    good = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    path = write(tmp_path / "bad-idx", mangle(good), compress)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert words in assert_names(err, path)


def test_idx_truncated_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8)))
    path = write(tmp_path / "cut.gz", packed[: len(packed) // 2], compress=False)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert "truncated" in assert_names(err, path)


# --------------------------------------------------------------------------- resize


def naive_torch_bilinear(image, out_h=16, out_w=16):
    """Pixel-by-pixel twin of PyTorch's CPU upsample_bilinear2d (align_corners=False)."""
    x = image.astype(np.float64) / 127.5 - 1.0
    in_h, in_w = x.shape
    out = np.empty((out_h, out_w))
    for oh in range(out_h):
        h1r = max((in_h / out_h) * (oh + 0.5) - 0.5, 0.0)
        h1 = int(h1r)
        h1p = 1 if h1 < in_h - 1 else 0
        h1l = h1r - h1
        for ow in range(out_w):
            w1r = max((in_w / out_w) * (ow + 0.5) - 0.5, 0.0)
            w1 = int(w1r)
            w1p = 1 if w1 < in_w - 1 else 0
            w1l = w1r - w1
            out[oh, ow] = (1 - h1l) * ((1 - w1l) * x[h1, w1] + w1l * x[h1, w1 + w1p]) + h1l * (
                (1 - w1l) * x[h1 + h1p, w1] + w1l * x[h1 + h1p, w1 + w1p]
            )
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), h=st.integers(1, 40), w=st.integers(1, 40))
def test_resize_matches_naive_twin(seed, n, h, w):
    images = np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)
    got = resize_to_16(images)
    assert got.shape == (n, 16, 16) and got.dtype == np.float32
    for i in range(n):
        np.testing.assert_allclose(got[i], naive_torch_bilinear(images[i]), atol=1e-6, rtol=0)
    assert got.min() >= -1.0 and got.max() <= 1.0


def test_resize_known_values():
    # Constant images stay constant; 0 -> -1 and 255 -> +1 exactly.
    assert (resize_to_16(np.zeros((1, 28, 28), np.uint8)) == -1).all()
    assert (resize_to_16(np.full((1, 28, 28), 255, np.uint8)) == 1).all()
    # Halving (32 -> 16) with align_corners=False averages each 2x2 block.
    img = np.random.default_rng(1).integers(0, 256, (1, 32, 32), dtype=np.uint8)
    blocks = (img[0] / 127.5 - 1).reshape(16, 2, 16, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(resize_to_16(img)[0], blocks, atol=1e-6)
    # 28 -> 16: output (0, 0) samples source (0.375, 0.375).
    one = np.zeros((1, 28, 28), np.uint8)
    one[0, 0, 0] = 255  # +1 at (0,0), -1 elsewhere: value = -1 + 2 * 0.625**2
    assert resize_to_16(one)[0, 0, 0] == pytest.approx(-1 + 2 * 0.625**2, abs=1e-6)


# --------------------------------------------------------------------------- seeded split and MNIST loaders


@given(n_total=st.integers(0, 300), a=st.integers(0, 300), b=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_split_is_seeded_and_disjoint(n_total, a, b, seed):
    if a + b > n_total:
        with pytest.raises(ValueError):
            split_indices(n_total, seed, a, b)
        return
    train, test = split_indices(n_total, seed, a, b)
    again = split_indices(n_total, seed, a, b)
    assert len(train) == a and len(test) == b
    assert not set(train.tolist()) & set(test.tolist())
    assert set(train.tolist()) | set(test.tolist()) <= set(range(n_total))
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(test, again[1])


def test_split_depends_on_seed():
    assert not np.array_equal(split_indices(10000, 0)[0], split_indices(10000, 1)[0])


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A 60-digit IDX pair in ``tmp_path/root/mnist`` registered with matching checksums."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 60).astype(np.uint8)
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    for name, array in ((mnist_mod.IMAGES, images), (mnist_mod.LABELS, labels)):
        body = gzip.compress(idx_bytes(array))
        (root / "mnist" / name).write_bytes(body)
        monkeypatch.setitem(MNIST_FILES, name, ("http://127.0.0.1:9/" + name, len(body), sha256(body)))
    return root, images, labels


def test_load_mnist16_split_from_one_idx_set(fake_mnist):
    root, images, labels = fake_mnist
    x_all, y_all = load_mnist16_all(data_dir=root, download=False)
    np.testing.assert_array_equal(x_all, resize_to_16(images))
    np.testing.assert_array_equal(y_all, labels)
    train_idx, test_idx = split_indices(60, seed=3, n_train=40, n_test=15)
    xtr, ytr = load_mnist16(data_dir=root, split="train", seed=3, n_train=40, n_test=15, download=False)
    xte, yte = load_mnist16(data_dir=root, split="test", seed=3, n_train=40, n_test=15, download=False)
    np.testing.assert_array_equal(xtr, x_all[train_idx])
    np.testing.assert_array_equal(yte, y_all[test_idx])
    assert len(ytr) == 40 and len(xte) == 15
    with pytest.raises(DataError) as err:
        load_mnist16(data_dir=root, download=False)  # 7291 + 2007 > 60
    assert "60" in str(err.value)


def test_mnist_checksum_and_label_checks(fake_mnist, tmp_path):
    root, images, labels = fake_mnist
    labels_path = root / "mnist" / mnist_mod.LABELS
    labels_path.write_bytes(gzip.compress(idx_bytes(labels[:-1])))
    with pytest.raises(DataError) as err:
        load_mnist16_all(data_dir=root, download=False)
    assert "checksum" in assert_names(err, labels_path)
    with pytest.raises(DataError) as err:
        mnist_mod.read_mnist(root / "mnist" / mnist_mod.IMAGES, labels_path)
    assert "59 labels for 60 images" in assert_names(err, labels_path)
    bad = labels.copy()
    bad[4] = 12
    labels_path.write_bytes(idx_bytes(bad))
    with pytest.raises(DataError) as err:
        mnist_mod.read_mnist(root / "mnist" / mnist_mod.IMAGES, labels_path)
    assert "label 12 at index 4" in assert_names(err, labels_path)

