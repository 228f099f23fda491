"""The web API through Starlette's test client: answers, refusals, cross-origin guard, training.

Without the web extra (starlette, uvicorn, httpx) these tests skip, except under CI (env CI
set), where they fail. Training and the reject threshold use the real USPS files.
"""

import json
import os
import time
import warnings

import numpy as np
import pytest

from lenet_numba.images import preprocess
from lenet_numba.serve.strokes import draw_strokes
from optional import require
from clitools import assert_user_error, invoke


@pytest.fixture(scope="module")
def web():
    for name in ("starlette", "uvicorn", "httpx"):
        require(name, "pip install 'lenet-numba[web]' httpx")


pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
BASE = "http://127.0.0.1:8000"


def client_for(app):
    from starlette.testclient import TestClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TestClient(app, base_url=BASE, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def served(web, tmp_path_factory):
    """An untrained LeNet-1, no test set (an empty data folder), no save folder."""
    from lenet_numba.serve.launch import build_app

    with pytest.MonkeyPatch.context() as mp:  # no data anywhere: the threshold is off
        mp.delenv("LENET_NUMBA_DATA", raising=False)
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        app, engine, trainer = build_app(None, data_dir=str(tmp_path_factory.mktemp("nodata")))
    with client_for(app) as client:
        client.headers["X-Lenet-Token"] = app.token
        yield client, engine


def post(client, path, body, **kw):
    return client.post(path, content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                       headers={"Content-Type": "application/json", **kw.pop("headers", {})}, **kw)


def assert_refused(res, status, fragment=""):
    assert res.status_code == status, (res.status_code, res.text)
    body = res.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in res.text, body
    assert fragment in body["error"], body
    return body["error"]


def test_page_and_static_files_carry_the_token(served):
    client, _ = served
    page = client.get("/")
    assert page.status_code == 200 and client.headers["X-Lenet-Token"] in page.text
    for f in ("app.js", "style.css"):
        assert client.get(f"/static/{f}").status_code == 200


def test_predict_answers_with_every_layer(served):
    client, engine = served
    grey = draw_strokes()
    res = post(client, "/api/predict", {"image": grey.tolist()})
    assert res.status_code == 200, res.text
    r = res.json()
    assert {"digit", "scores", "rejected", "input16", "layers"} <= set(r)
    x = preprocess(grey / 255.0)  # the same path as `lenet-numba predict`
    np.testing.assert_allclose(r["input16"], x, atol=1e-5)
    want = engine.loaded.model.layer_outputs(x)
    assert [(l["name"], l["shape"]) for l in r["layers"]] == [(n, list(a.shape)) for n, a in want]
    for l, (_, a) in zip(r["layers"], want):
        np.testing.assert_allclose(l["maps"], a, atol=1e-5)
    np.testing.assert_allclose(r["scores"], engine.loaded.model.predict(x)[0], atol=1e-6)
    assert r["digit"] == int(np.argmax(r["scores"]))
    assert r["threshold"] is None and r["rejected"] is False  # no test set here: no reject
    assert engine.info()["loaded"]["threshold_note"].startswith("no test set")
    timing = res.headers["server-timing"]  # the server's own share of the round trip
    assert timing.startswith("app;dur=") and float(timing.split("=")[1]) > 0
    assert res.headers["x-frame-options"] == "DENY"
    # light ink on dark paper reads the same
    light = post(client, "/api/predict", {"image": (255 - grey).tolist()}).json()
    assert light["input16"] == r["input16"] and light["digit"] == r["digit"]


BAD_BODIES = [
    (b"{not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b'{"image": [[1, NaN]]}', 400, "NaN"),
    (b'{"image": [[1, Infinity]]}', 400, "Infinity"),
    (b'{"image": [[1, 1e999]]}', 400, "non-finite"),
    (b"[" * 100000 + b"]" * 100000, 400, "nested too deeply"),
    ({}, 400, "missing field"),
    ({"image": [[0, 255]], "model": "x"}, 400, "model"),
    ({"image": [[0, 255]], "net": "x"}, 400, "unknown field"),
    ({"image": [[0, 255]], "model": "live"}, 409, "no training run"),
    ({"image": []}, 400, "non-empty 2-D list"),
    ({"image": [1, 2, 3]}, 400, "2-D list"),
    ({"image": [[0, 255], [0]]}, 400, "same length"),
    ({"image": [[]]}, 400, "same length"),
    ({"image": [[[0, 255]], [[0, 255]]]}, 400, "numbers"),
    ({"image": [[0, [1]], [0, 1]]}, 400, "numbers"),
    ({"image": [["0", "255"]]}, 400, "numbers"),
    ({"image": [[True, False]]}, 400, "numbers"),
    ({"image": [[255, True, 0]]}, 400, "numbers"),   # NumPy would read true as 1 beside numbers
    ({"image": [[0.5, 255], [False, 0]]}, 400, "numbers"),
    ({"image": [[None, 255]]}, 400, "numbers"),
    ({"image": [[0, 256]]}, 400, "0..255"),
    ({"image": [[-1, 255]]}, 400, "0..255"),
    ({"image": [[0] * 513]}, 413, "larger than 512x512"),
    ({"image": [[0]] * 513}, 413, "larger than 512x512"),
    ({"image": [[128] * 20] * 20}, 422, "no ink"),
    ({"image": [[0]]}, 422, "no ink"),
]


@pytest.mark.parametrize("body,status,fragment", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_predict_requests_are_one_line_4xx(served, body, status, fragment):
    client, _ = served
    assert_refused(post(client, "/api/predict", body), status, fragment)


def test_booleans_are_refused_whatever_the_request_bytes_say():
    """The scan for booleans is skipped only for bodies without the words true/false."""
    from lenet_numba.serve.requests import BadRequest, predict_image

    for rows in ([[255, True, 0]], [[1.5, 2], [3, False]]):
        with pytest.raises(BadRequest, match="numbers"):
            predict_image(rows)
        with pytest.raises(BadRequest, match="numbers"):
            predict_image(rows, raw=json.dumps({"image": rows}).encode())


@pytest.mark.parametrize("body", [{"recipe": "a" * 8_000_000}, {f"field{i}": 0 for i in range(20_000)},
                                  {"arch": "x" * 100_000, "seed": -1}])
def test_errors_quoting_a_huge_request_are_one_short_line(served, body):
    client, _ = served
    res = post(client, "/api/train", body)
    message = assert_refused(res, 400)
    assert len(message) <= 240 and len(res.content) < 300, len(res.content)


def test_favicon_is_served(served):
    client, _ = served
    res = client.get("/favicon.ico")
    assert res.status_code == 200 and res.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon"' in client.get("/").text


def test_body_limit_is_enforced_while_reading(served):
    from lenet_numba.serve.requests import MAX_BODY_BYTES

    client, _ = served
    big = b'{"image": [[' + b"0, " * (MAX_BODY_BYTES // 3) + b"0]]}"
    assert_refused(post(client, "/api/predict", big), 413, "larger than")
    sent = []

    def stream():  # no Content-Length: the limit must trip on the bytes read so far
        for _ in range(64):
            sent.append(1)
            yield b" " * (MAX_BODY_BYTES // 16)

    res = client.post("/api/predict", content=stream(), headers={"Content-Type": "application/json"})
    assert_refused(res, 413, "larger than")
    assert_refused(post(client, "/api/predict", b"{}", headers={"Content-Length": "abc"}), 400, "Content-Length")
    assert_refused(client.post("/api/predict", content=b"{}", headers={"Content-Type": "text/plain"}), 415)


def test_cross_origin_and_token_guard(served):
    client, _ = served
    body = {"image": draw_strokes().tolist()}
    assert post(client, "/api/predict", body).status_code == 200
    assert post(client, "/api/predict", body, headers={"Origin": BASE}).status_code == 200
    assert_refused(post(client, "/api/predict", body, headers={"Origin": "http://evil.example"}), 403, "cross-origin")
    other_port = {"Origin": "http://127.0.0.1:9999"}  # another local server is another origin
    assert_refused(post(client, "/api/predict", body, headers=other_port), 403, "cross-origin")
    assert_refused(post(client, "/api/predict", body, headers={"Origin": "null"}), 403, "cross-origin")
    assert_refused(post(client, "/api/predict", body, headers={"X-Lenet-Token": "guess"}), 403, "token")
    latin1 = "caf\xe9".encode("latin-1")  # not ASCII: must be a 403, not a crash in the comparison
    assert_refused(post(client, "/api/predict", body, headers={"X-Lenet-Token": latin1}), 403, "token")
    assert_refused(client.get("/api/info", headers={"X-Lenet-Token": ""}), 403, "token")
    assert_refused(client.get("/", headers={"Host": "evil.example:8000"}), 403, "host")  # DNS rebinding
    assert_refused(client.get("/api/nope"), 404)
    assert_refused(client.get("/api/predict"), 405)


@pytest.mark.parametrize("body,fragment", [
    ({"arch": "lenet9"}, "arch"), ({"recipe": "nope"}, "recipe"), ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"), ({"epochs": 0}, "epochs"), ({"epochs": 10 ** 6}, "epochs"),
    ({"epochs": True}, "epochs"), ({"lr": 1}, "unknown field")])
def test_bad_train_requests(served, body, fragment):
    client, _ = served
    assert_refused(post(client, "/api/train", body), 400, fragment)


def test_nothing_to_cancel_or_save(served):
    client, _ = served
    assert_refused(post(client, "/api/train/cancel", {}), 409, "no training run")
    assert_refused(post(client, "/api/save", {}), 403, "--save-dir")
    assert_refused(post(client, "/api/save", {"path": "/tmp/x"}), 400, "unknown field")


def test_info_lists_every_network_and_recipe(served):
    from lenet_numba.architectures import ARCHITECTURES
    from lenet_numba.recipes import RECIPES

    client, _ = served
    info = client.get("/api/info").json()
    assert [a["name"] for a in info["architectures"]] == list(ARCHITECTURES)
    assert [r["name"] for r in info["recipes"]] == list(RECIPES)
    assert info["loaded"]["arch"] == "lenet1" and info["live"] is None and info["can_save"] is False


# ---------------------------------------------------------------- real data


def wait_for(client, states, timeout=300):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = client.get("/api/train").json()
        if st["state"] in states:
            return st
        time.sleep(0.05)
    raise AssertionError(f"training still {st['state']} after {timeout} s")


def test_threshold_from_the_test_set(web, data_root):
    from lenet_numba import metrics
    from lenet_numba.data import read_usps_file
    from lenet_numba.serve.engine import Engine
    from lenet_numba.model import Model

    x, y = read_usps_file(data_root / "usps" / "zip.test.gz")
    m = Model("lenet1", seed=1)
    engine = Engine(m, "test", (x, y))
    assert engine.loaded.threshold == metrics.reject_threshold(m.predict(x), y, 0.01) > 0
    gaps = metrics.confidence_gap(m.predict(x))
    kept = gaps >= engine.loaded.threshold
    assert np.mean(m.predict(x)[kept].argmax(axis=1) != y[kept]) <= 0.01


def test_train_live_predict_meanwhile_cancel_and_save(web, data_root, tmp_path):
    """A run trains the live network; predictions read the loaded one unless they ask for
    the live one, so a run never changes what another reader sees."""
    from lenet_numba.experiment import model_from_checkpoint
    from lenet_numba.serve.launch import build_app

    save_dir = tmp_path / "saved"
    save_dir.mkdir()
    app, engine, _ = build_app(None, data_dir=str(data_root), save_dir=str(save_dir))
    with client_for(app) as client:
        client.headers["X-Lenet-Token"] = app.token
        loaded_params = engine.loaded.model.params.copy()
        loaded_info = client.get("/api/info").json()["loaded"]
        res = post(client, "/api/train", {"arch": "zipcode1989", "recipe": "1989", "seed": 1, "epochs": 2})
        assert res.status_code == 202, res.text
        assert_refused(post(client, "/api/train", {}), 409, "going")
        image = draw_strokes().tolist()
        answered = []
        while client.get("/api/train").json()["state"] in ("starting", "running"):
            for which in ("live", "loaded"):
                r = post(client, "/api/predict", {"image": image, "model": which})
                answered.append((which, r.status_code, r.json().get("arch")))
        st = wait_for(client, ("done", "failed"))
        assert st["state"] == "done", st
        assert [h["epoch"] for h in st["history"]] == [1, 2]
        assert all(0 <= h["test_error"] < 0.5 and 0 <= h["train_error"] < 0.5 for h in st["history"])
        assert {(which, arch) for which, code, arch in answered if code == 200} >= {("live", "zipcode1989"),
                                                                                   ("loaded", "lenet1")}
        assert all(code == 200 for which, code, _ in answered if which == "loaded")
        assert all(arch == "lenet1" for which, _, arch in answered if which == "loaded")
        info = client.get("/api/info").json()
        assert info["loaded"] == loaded_info  # the run left the loaded network alone
        np.testing.assert_array_equal(engine.loaded.model.params, loaded_params)
        assert info["live"]["arch"] == "zipcode1989" and info["version"] > 0
        assert info["live"]["threshold"] is not None and "test digits" in info["live"]["threshold_note"]
        assert post(client, "/api/predict", {"image": image, "model": "live"}).json()["arch"] == "zipcode1989"
        assert post(client, "/api/predict", {"image": image}).json()["arch"] == "lenet1"
        kernels = client.get("/api/kernels?model=live").json()["kernels"]
        assert list(kernels) == ["h1", "h2"] and np.array(kernels["h2"]["connected"]).sum(axis=1).tolist() == [8] * 12
        assert list(client.get("/api/kernels").json()["kernels"]) == ["conv1", "conv2"]
        assert_refused(client.get("/api/kernels?model=other"), 400, "model")

        saved = post(client, "/api/save", {}).json()["saved"]
        assert os.listdir(save_dir) == [saved] and "/" not in saved
        model, meta = model_from_checkpoint(save_dir / saved)
        np.testing.assert_array_equal(model.params, engine.live.model.params)
        assert meta["epoch"] == 2 and meta["arch"] == "zipcode1989"
        time.sleep(1.1)  # file names carry the second: saving again must not write another file
        assert post(client, "/api/save", {}).json()["saved"] == saved
        assert os.listdir(save_dir) == [saved]
        os.remove(save_dir / saved)
        os.rmdir(save_dir)  # the folder removed under the running server
        error = assert_refused(post(client, "/api/save", {}), 500, "--save-dir")
        assert str(tmp_path) not in error and not os.path.exists(save_dir)

        # no epochs: the recipe's number for this network
        assert post(client, "/api/train", {"arch": "lenet1", "recipe": "1989", "epochs": None}).status_code == 202
        st = wait_for(client, ("running",))
        assert isinstance(st["job"]["epochs"], int) and st["job"]["epochs"] > 1
        assert post(client, "/api/train/cancel", {}).status_code == 200
        st = wait_for(client, ("cancelled", "done", "failed"), timeout=60)
        assert st["state"] == "cancelled" and len(st["history"]) < st["job"]["epochs"]


def test_training_without_data_fails_in_one_line(web, tmp_path, isolated_data_env):
    from lenet_numba.serve.launch import build_app

    app, _, _ = build_app(None, data_dir=str(tmp_path))
    with client_for(app) as client:
        client.headers["X-Lenet-Token"] = app.token
        assert post(client, "/api/train", {"epochs": 1}).status_code == 202
        st = wait_for(client, ("failed", "done"), timeout=120)
        assert st["state"] == "failed" and "\n" not in st["error"] and str(tmp_path) in st["error"], st


# ---------------------------------------------------------------- the command


def test_serve_command_errors(web, tmp_path, monkeypatch):
    import socket

    assert_user_error(invoke("serve", tmp_path / "nope.npz", "--port", 0), 1, "nope.npz")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        assert_user_error(invoke("serve", "--port", taken.getsockname()[1], "--data-dir", tmp_path), 2,
                          "cannot listen")
    finally:
        taken.close()
    assert_user_error(invoke("serve", "--save-dir", tmp_path / "no" / "deeper"), 2, "--save-dir", "does not exist")
    monkeypatch.setitem(__import__("sys").modules, "starlette", None)
    assert_user_error(invoke("serve"), 1, "pip install 'lenet-numba[web]'")


def test_listening_socket_is_tcp_so_responses_are_not_delayed(web):
    """asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets; a socket made with proto 0
    added a ~40 ms delayed-ACK stall to every response written in two parts."""
    import socket

    from lenet_numba.serve.launch import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_core_and_cli_never_import_the_extras():
    """Importing the package, the engine side of serve, the export module and the whole CLI
    pulls in none of starlette, uvicorn, onnx, onnxruntime."""
    import subprocess
    import sys

    code = ("import sys, lenet_numba.model, lenet_numba.export, lenet_numba.serve.engine, "
            "lenet_numba.serve.training, lenet_numba_cli.main; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'onnx', 'onnxruntime') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_page_files_ship_with_the_package():
    """pyproject declares the web/onnx extras and every static file as package data, so a
    non-editable install serves the same page."""
    import fnmatch
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib")

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    assert {"starlette", "uvicorn"} <= {d.split(">")[0].split("=")[0] for d in extras["web"]}
    assert any(d.startswith("onnxruntime") for d in extras["onnx"])
    patterns = project["tool"]["setuptools"]["package-data"]["lenet_numba.serve"]
    static = [p.relative_to(root / "lenet_numba" / "serve").as_posix()
              for p in (root / "lenet_numba" / "serve" / "static").iterdir()]
    assert {"static/index.html", "static/app.js", "static/style.css"} <= set(static)
    assert all(any(fnmatch.fnmatch(f, p) for p in patterns) for f in static), (static, patterns)
