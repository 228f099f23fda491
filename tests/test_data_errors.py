"""What the CLI says about a damaged, uncompressed or replaceable data file.

Every case starts from copies of the real files (``data_root``, i.e. ``$LENET_NUMBA_DATA``)
in a temp data root; the real files are only read. Nothing here touches the network: the
download function is replaced by a fake, or the network is made to fail like it does offline.
"""

import gzip
import hashlib
import json
import re
import shutil
import socket
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clitools import assert_ok, assert_user_error, invoke
from lenet_numba.data import DataError, data_info, fetch, load_mnist16_all, load_usps
from lenet_numba.data import locate as locate_mod
from lenet_numba.data.download import download as real_download
from lenet_numba.data.sources import MNIST_FILES, RAW_ALTERNATIVES, USPS_FILES

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
RAW_IMAGES, RAW_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


# every test here: no data env var, no real ~/.cache, no proxy (conftest.isolated_data_env)
pytestmark = pytest.mark.usefixtures("isolated_data_env")


def usps_root(data_root, tmp_path):
    """A writable data root holding copies of both real USPS files."""
    root = tmp_path / "root"
    (root / "usps").mkdir(parents=True)
    for name in USPS_FILES:
        shutil.copyfile(data_root / "usps" / name, root / "usps" / name)
    return root


def real_train_lines(data_root):
    return gzip.decompress((data_root / "usps" / "zip.train.gz").read_bytes()).split(b"\n")[:-1]


def edited_train_file(data_root, tmp_path, line, edit):
    """The real training file with line ``line`` (1-based) edited, recompressed in a root."""
    root = usps_root(data_root, tmp_path)
    lines = real_train_lines(data_root)
    lines[line - 1] = b" ".join(edit(lines[line - 1].split()))
    path = root / "usps" / "zip.train.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return root, path


def train_fails(root):
    """``train`` on ``root``: it must stop at the data, before any training."""
    return invoke("train", "--epochs", 1, "--data-dir", root, "--no-download")


def line_of(message):
    return int(re.search(r": line (\d+): ", message).group(1))


# --------------------------------------------------------------------------- specific errors through the CLI


@pytest.mark.parametrize(
    "line, edit, problem",
    [
        (5, lambda f: [b"11.0000"] + f[1:], "label 11 is not an integer 0-9"),
        (17, lambda f: [b"3.5000"] + f[1:], "label 3.5 is not an integer 0-9"),
        (2000, lambda f: f[:3] + [b"1.0001"] + f[4:], "pixel value 1.0001 (column 4) is not a finite number in [-1, 1]"),
        (3000, lambda f: f[:9] + [b"-inf"] + f[10:], "pixel value -inf (column 10)"),
        (100, lambda f: f[:-1], "expected 257 columns (label + 16x16 pixels), found 256"),
        (7291, lambda f: f + [b"0.5"], "expected 257 columns (label + 16x16 pixels), found 258"),
    ],
    ids=["label-11", "label-3.5", "value-1.0001", "value-inf", "256-columns", "258-columns"],
)
def test_edited_file_error_names_file_line_and_problem(data_root, tmp_path, line, edit, problem):
    root, path = edited_train_file(data_root, tmp_path, line, edit)
    message = assert_user_error(train_fails(root), 1, f"{path}: line {line}: {problem}", "checksum mismatch")
    assert "data fetch" in message  # how to get a good copy


def test_truncated_gzip_names_the_line_where_it_ends(data_root, tmp_path):
    root = usps_root(data_root, tmp_path)
    path = root / "usps" / "zip.train.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    # Twin: what plain zlib recovers from the same bytes: the next line is the broken one.
    line = zlib.decompressobj(wbits=31).decompress(raw[: len(raw) // 3]).count(b"\n") + 1
    assert 100 < line < 7291
    assert_user_error(train_fails(root), 1, f"{path}: line {line}: gzip data ends early (file truncated?)",
                      "checksum mismatch")


def test_flipped_bytes_in_gzip_say_corrupt(data_root, tmp_path):
    root = usps_root(data_root, tmp_path)
    path = root / "usps" / "zip.train.gz"
    damaged = bytearray(path.read_bytes())
    at = len(damaged) // 2
    damaged[at : at + 4] = bytes(b ^ 0xFF for b in damaged[at : at + 4])
    path.write_bytes(bytes(damaged))
    message = assert_user_error(train_fails(root), 1, str(path), "corrupt gzip data", "checksum mismatch")
    assert 1 < line_of(message) < 7291


@pytest.mark.parametrize("content", [b"", gzip.compress(b"")], ids=["empty", "empty-gzip"])
def test_empty_file(data_root, tmp_path, content):
    root = usps_root(data_root, tmp_path)
    path = root / "usps" / "zip.train.gz"
    path.write_bytes(content)
    assert_user_error(train_fails(root), 1, f"{path}: line 1: no data, the file is empty", "checksum mismatch")


def test_empty_test_file_through_load_usps(data_root, tmp_path):
    root = usps_root(data_root, tmp_path)
    path = root / "usps" / "zip.test.gz"
    path.write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_usps("test", data_dir=root, download=False)
    assert str(err.value).startswith(f"{path}: line 1: ")


def test_same_digits_other_bytes_is_the_checksum_mismatch(data_root, tmp_path):
    """Nothing wrong in any line: the error is the mismatch, with both hashes and sizes."""
    root = usps_root(data_root, tmp_path)
    path = root / "usps" / "zip.train.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    _, size, expected = USPS_FILES["zip.train.gz"]
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    message = assert_user_error(train_fails(root), 1, f"{path}: checksum mismatch", f"expected {size} bytes",
                                expected, got, f"got {path.stat().st_size} bytes")
    assert "line" not in message.split("checksum mismatch")[0]


def test_good_file_is_not_parsed_for_the_check(data_root, tmp_path, monkeypatch):
    """The failure-path diagnosis never runs on a good file: the parsed cache answers."""
    from lenet_numba.data import usps as usps_mod

    root = usps_root(data_root, tmp_path)
    expected = load_usps("test", data_dir=root, download=False)  # fills the parsed cache

    def no_parsing(path, expected_sha256=None):
        raise AssertionError("a good file must not be parsed again")

    monkeypatch.setattr(usps_mod, "read_usps_file", no_parsing)
    x, y = load_usps("test", data_dir=root, download=False)
    np.testing.assert_array_equal(x, expected[0])
    np.testing.assert_array_equal(y, expected[1])


# --------------------------------------------------------------------------- MNIST as raw IDX


def mnist_root(data_root, tmp_path, raw=True, gz=False, name="root"):
    root = tmp_path / name
    (root / "mnist").mkdir(parents=True)
    for gz_name in (IMAGES, LABELS):
        if gz:
            shutil.copyfile(data_root / "mnist" / gz_name, root / "mnist" / gz_name)
        if raw:
            raw_name = RAW_ALTERNATIVES[gz_name][0]
            (root / "mnist" / raw_name).write_bytes(gzip.decompress((data_root / "mnist" / gz_name).read_bytes()))
    return root


def test_raw_pins_match_the_decompressed_real_files(mnist_data_root):
    for gz_name, (raw_name, size, sha) in RAW_ALTERNATIVES.items():
        assert gz_name in MNIST_FILES and raw_name + ".gz" == gz_name
        body = gzip.decompress((mnist_data_root / "mnist" / gz_name).read_bytes())
        assert len(body) == size and hashlib.sha256(body).hexdigest() == sha


def test_raw_idx_root_loads_the_same_digits(mnist_data_root, tmp_path):
    root = mnist_root(mnist_data_root, tmp_path)
    x, y = load_mnist16_all(data_dir=root, download=False)
    x0, y0 = load_mnist16_all(data_dir=mnist_data_root, download=False)
    assert x.shape == (10000, 16, 16)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_raw_idx_shown_by_data_info(mnist_data_root, tmp_path):
    root = mnist_root(mnist_data_root, tmp_path)
    rep = json.loads(assert_ok(invoke("data", "info", "--data-dir", root, "--json")).stdout)
    files = {f["name"]: f for f in rep["files"]}
    for gz_name in (IMAGES, LABELS):
        raw_name, size, sha = RAW_ALTERNATIVES[gz_name]
        f = files[gz_name]
        assert f["ok"] is True and f["used"] == str(root / "mnist" / raw_name)
        assert f["found"] == [{"path": str(root / "mnist" / raw_name), "size": size, "ok": True, "compressed": False}]
        assert f["also_accepted"] == [{"name": raw_name, "size": size, "sha256": sha}]
    human = assert_ok(invoke("data", "info", "--data-dir", root)).stdout
    assert "mnist/t10k-images-idx3-ubyte.gz: ok" in human
    assert f"{root / 'mnist' / RAW_IMAGES}  7,840,016 bytes  sha256 ok  (uncompressed)" in human
    assert f"or uncompressed {RAW_LABELS}: 10,008 bytes" in human


def test_gz_preferred_in_a_root_with_both_and_roots_keep_their_order(mnist_data_root, tmp_path, monkeypatch):
    both = mnist_root(mnist_data_root, tmp_path, raw=True, gz=True, name="both")
    info = {f["name"]: f for f in data_info(both)["files"]}
    assert info[IMAGES]["used"] == str(both / "mnist" / IMAGES)
    assert [c["compressed"] for c in info[IMAGES]["found"]] == [True, False]
    assert locate_mod.find_file("mnist", IMAGES, data_dir=both, download=False) == both / "mnist" / IMAGES
    # A raw copy in --data-dir comes before a .gz in $LENET_NUMBA_DATA.
    raw_only = mnist_root(mnist_data_root, tmp_path, name="raw-only")
    monkeypatch.setenv("LENET_NUMBA_DATA", str(both))
    assert locate_mod.find_file("mnist", LABELS, data_dir=raw_only, download=False) == raw_only / "mnist" / RAW_LABELS


def test_damaged_raw_idx_is_checked_against_its_own_pin(mnist_data_root, tmp_path):
    root = mnist_root(mnist_data_root, tmp_path)
    path = root / "mnist" / RAW_LABELS
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError) as err:
        load_mnist16_all(data_dir=root, download=False)
    message = str(err.value)
    assert message.startswith(f"{path}: IDX header says 10000 uint8") and "checksum mismatch" in message
    body = bytearray(gzip.decompress((mnist_data_root / "mnist" / LABELS).read_bytes()))
    body[100] ^= 1  # still a valid IDX file: the error is the mismatch against the raw pin
    path.write_bytes(bytes(body))
    with pytest.raises(DataError) as err:
        load_mnist16_all(data_dir=root, download=False)
    assert str(err.value).startswith(f"{path}: checksum mismatch") and RAW_ALTERNATIVES[LABELS][2] in str(err.value)


def test_missing_mnist_lists_both_names(tmp_path):
    with pytest.raises(DataError) as err:
        load_mnist16_all(data_dir=tmp_path / "none", download=False)
    message = str(err.value)
    assert str(tmp_path / "none" / "mnist" / IMAGES) in message
    assert str(tmp_path / "none" / "mnist" / RAW_IMAGES) in message


# --------------------------------------------------------------------------- data fetch replaces a bad copy


@pytest.fixture
def fake_downloader(monkeypatch, data_root):
    """Downloads served from the real files (via file:// through the real download code)."""
    calls = []

    def fake(url, dest, size, sha256, progress=None, timeout=60.0):
        calls.append((url, dest))
        name = url.rsplit("/", 1)[1]
        return real_download((data_root / "usps" / name).as_uri(), dest, size, sha256, progress=progress)

    monkeypatch.setattr(locate_mod, "_download", fake)
    return calls


def folder_files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_fetch_replaces_a_corrupt_copy(data_root, tmp_path, fake_downloader):
    root, path = edited_train_file(data_root, tmp_path, 5, lambda f: [b"11.0000"] + f[1:])
    assert_user_error(train_fails(root), 1, f"{path}: line 5: label 11")
    res = assert_ok(invoke("data", "fetch", "--data-dir", root))
    assert res.stdout.splitlines() == [
        f"zip.train.gz: {path} (replaced: the old copy failed its sha256 check)",
        f"zip.test.gz: {root / 'usps' / 'zip.test.gz'}",
    ]
    assert path.read_bytes() == (data_root / "usps" / "zip.train.gz").read_bytes()
    assert [dest for _, dest in fake_downloader] == [path]  # the good file was not downloaded again
    assert folder_files(root / "usps") == ["zip.test.gz", "zip.train.gz"]  # no temp file left
    x, y = load_usps("train", data_dir=root, download=False)
    assert x.shape == (7291, 16, 16) and y[4] != 11


def test_fetch_replaces_an_empty_copy_found_through_the_env_var(data_root, tmp_path, fake_downloader, monkeypatch):
    root = usps_root(data_root, tmp_path)
    path = root / "usps" / "zip.test.gz"
    path.write_bytes(b"")
    monkeypatch.setenv("LENET_NUMBA_DATA", str(root))
    reports = []
    paths = fetch(report=lambda *a: reports.append(a))
    assert paths["zip.test.gz"] == path and path.read_bytes() == (data_root / "usps" / "zip.test.gz").read_bytes()
    assert [(n, a) for n, _, a in reports] == [("zip.train.gz", "present"), ("zip.test.gz", "replaced")]


def test_fetch_downloads_a_missing_file(data_root, tmp_path, fake_downloader):
    root = usps_root(data_root, tmp_path)
    (root / "usps" / "zip.test.gz").unlink()
    res = assert_ok(invoke("data", "fetch", "--data-dir", root))
    assert res.stdout.splitlines()[1] == f"zip.test.gz: {root / 'usps' / 'zip.test.gz'}"
    assert (root / "usps" / "zip.test.gz").read_bytes() == (data_root / "usps" / "zip.test.gz").read_bytes()


def offline(monkeypatch):
    """The network fails the way it does with no connection (name lookup fails)."""
    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_fetch_offline_keeps_the_old_file_and_says_so_in_one_line(data_root, tmp_path, monkeypatch):
    offline(monkeypatch)
    root, path = edited_train_file(data_root, tmp_path, 2000, lambda f: f[:3] + [b"1.0001"] + f[4:])
    before = path.read_bytes()
    url = USPS_FILES["zip.train.gz"][0]
    assert_user_error(invoke("data", "fetch", "--data-dir", root), 1,
                      f"{path}: checksum mismatch and no replacement could be downloaded",
                      url, "Temporary failure in name resolution", "the old file is left in place")
    assert path.read_bytes() == before
    assert folder_files(root / "usps") == ["zip.test.gz", "zip.train.gz"]


def test_fetch_with_a_failing_fake_downloader_leaves_the_file(data_root, tmp_path, monkeypatch):
    """A download that fails its own check (a wrong file served) replaces nothing either."""
    root, path = edited_train_file(data_root, tmp_path, 5, lambda f: [b"11.0000"] + f[1:])
    before = path.read_bytes()

    def wrong_file(url, dest, size, sha256, progress=None, timeout=60.0):
        return real_download((data_root / "usps" / "zip.test.gz").as_uri(), dest, size, sha256, progress=progress)

    monkeypatch.setattr(locate_mod, "_download", wrong_file)
    assert_user_error(invoke("data", "fetch", "--data-dir", root), 1, str(path), "the old file is left in place",
                      "nothing was written")
    assert path.read_bytes() == before
    assert folder_files(root / "usps") == ["zip.test.gz", "zip.train.gz"]


# --------------------------------------------------------------------------- memory bombs and fuzz


def gzip_bomb(path, declared_bytes, member_bytes=64 << 20):
    """A small file that inflates to ``declared_bytes`` zeros: one member repeated."""
    member = gzip.compress(b"0" * member_bytes, compresslevel=9)
    path.write_bytes(member * (declared_bytes // member_bytes))
    return path


def test_gzip_bomb_named_zip_train_is_refused_with_bounded_memory(tmp_path):
    import tracemalloc

    root = tmp_path / "root"
    (root / "usps").mkdir(parents=True)
    bomb = gzip_bomb(root / "usps" / "zip.train.gz", 1 << 30)   # 1 GiB inflated, ~1 MB on disk
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as err:
            load_usps("train", data_dir=root, download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value).startswith(f"{bomb}: ") and "\n" not in str(err.value)
    assert peak < 400 << 20, f"peak {peak >> 20} MiB while refusing a 1 GiB bomb"


def test_a_bomb_of_any_name_is_refused_by_both_readers(tmp_path):
    from lenet_numba.data import read_idx, read_usps_file

    bomb = gzip_bomb(tmp_path / "digits.gz", 256 << 20)
    for reader in (read_usps_file, read_idx):
        with pytest.raises(DataError, match="decompresses to more than"):
            reader(bomb)


def test_a_plain_file_larger_than_any_digit_file_is_not_read_whole(tmp_path):
    from lenet_numba.data import gzipped, read_usps_file

    big = tmp_path / "zip.train"
    with open(big, "wb") as f:
        f.truncate(gzipped.MAX_BYTES + 10)  # sparse: no disk used
    with pytest.raises(DataError, match="larger than"):
        read_usps_file(big)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=3000), form=st.sampled_from(["raw", "gzip", "gzip-cut", "gzip-flip"]),
       where=st.integers(0, 10_000))
def test_fuzzed_data_files_end_in_data_error_or_digits(tmp_path, body, form, where):
    """Whatever the bytes, reading a USPS or IDX file returns arrays or raises DataError."""
    from lenet_numba.data import read_idx, read_usps_file

    data = body if form == "raw" else gzip.compress(body)
    if form == "gzip-cut":
        data = data[: where % (len(data) + 1)]
    elif form == "gzip-flip" and data:
        flipped = bytearray(data)
        flipped[where % len(data)] ^= 1 << (where % 8)
        data = bytes(flipped)
    path = tmp_path / "fuzz.gz"
    path.write_bytes(data)
    for reader in (read_usps_file, read_idx):
        try:
            reader(path)
        except DataError as e:
            assert "\n" not in str(e) and str(path) in str(e)
