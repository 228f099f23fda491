"""`lenet-numba serve` when shared: the secret beyond loopback, bounded connections and log,
runs that end when told (even a stopped worker), clean exits on Ctrl-C and SIGTERM.

Every client here is on loopback and every flood is bounded in count and time: a server
bound to 0.0.0.0 is reached through 127.0.0.1 with forged Host headers, which is what a
client on another machine could send.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from optional import require

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
CLI = [sys.executable, "-c", "from lenet_numba_cli.main import main; main()", "serve"]


@pytest.fixture(scope="module")
def web():
    for name in ("starlette", "uvicorn", "httpx"):
        require(name, "pip install 'lenet-numba[web]' httpx")


class Server:
    """A server process; ``lines`` collects what it prints (both streams), read as it goes."""

    def __init__(self, cmd, **popen):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"}, **popen)
        self.first = self.proc.stdout.readline()
        self.lines, self.readers = [], []
        for stream in (self.proc.stdout, self.proc.stderr):
            t = threading.Thread(target=lambda f=stream: self.lines.extend(f), daemon=True)
            t.start()
            self.readers.append(t)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/(\S*)", self.first)
        if not m:
            self.stop()
            raise AssertionError(f"server did not start: {self.first!r} {''.join(self.lines)[-2000:]}")
        self.port, self.query = int(m.group(1)), m.group(2)

    def printed(self, timeout=20):
        """Everything printed, once the process and every holder of its pipes have ended."""
        for t in self.readers:
            t.join(timeout)
        return "".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def nodata(tmp_path, monkeypatch):
    monkeypatch.delenv("LENET_NUMBA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "empty").mkdir()
    return str(tmp_path / "empty")


def request(port, method, path, host=None, body=None, headers=None, timeout=10):
    """(status, headers, body text) over a fresh loopback connection, Host as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read().decode("utf-8", "replace")
    finally:
        conn.close()


TOKEN = re.compile(r'name="lenet-token" content="([^"]+)"')


def test_beyond_loopback_every_client_needs_the_secret(web, nodata, tmp_path):
    save_dir = tmp_path / "saved"
    server = Server([*CLI, "--host", "0.0.0.0", "--port", "0", "--data-dir", nodata, "--save-dir", str(save_dir)])
    try:
        assert server.query.startswith("?secret="), server.first  # the printed URL carries it
        secret = server.query.split("=", 1)[1]
        port = server.port
        image = {"image": [[0, 255, 0], [255, 0, 255], [0, 255, 0]]}
        for host in (f"127.0.0.1:{port}", "localhost", f"[::1]:{port}", "evil.example"):
            status, _, page = request(port, "GET", "/", host)
            assert status in (401, 403) and not TOKEN.search(page), (host, status)
            if status == 401:
                assert "secret" in page and "<form" in page  # the login page, nothing else
            for method, path, body in (("GET", "/static/app.js", None), ("GET", "/api/info", None),
                                       ("POST", "/api/predict", image), ("POST", "/api/train", {"epochs": 1}),
                                       ("POST", "/api/save", {}), ("GET", "/api/kernels", None),
                                       ("GET", "/favicon.ico", None)):
                status, _, text = request(port, method, path, host, body, {"X-Lenet-Token": "guess"})
                assert status in (401, 403), (host, path, status, text[:200])
                assert list(json.loads(text)) == ["error"]
        status, headers, page = request(port, "GET", "/?secret=wrong")
        assert status == 401 and "Wrong secret" in page and not TOKEN.search(page)
        assert headers["x-frame-options"] == "DENY"
        assert not save_dir.exists() or not os.listdir(save_dir)

        # the printed URL: a cookie, and the page without the secret in the address bar
        status, headers, _ = request(port, "GET", f"/?secret={secret}")
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"].split(";")[0]
        assert "httponly" in headers["set-cookie"].lower() and "samesite=strict" in headers["set-cookie"].lower()
        assert secret not in cookie
        status, _, page = request(port, "GET", "/", headers={"Cookie": cookie})
        token = TOKEN.search(page).group(1)
        status, _, text = request(port, "GET", "/api/info", headers={"Cookie": cookie, "X-Lenet-Token": token})
        assert status == 200 and json.loads(text)["loaded"]["arch"] == "lenet1"
        # a program sends the secret in a header instead; a forged Host is still refused
        assert request(port, "POST", "/api/predict", body=image,
                       headers={"X-Lenet-Secret": secret, "X-Lenet-Token": token}, timeout=120)[0] == 200
        assert request(port, "GET", "/", "evil.example", headers={"X-Lenet-Secret": secret})[0] == 403
    finally:
        server.stop()


def test_loopback_prints_no_secret(web, nodata):
    server = Server([*CLI, "--port", "0", "--data-dir", nodata])
    try:
        assert server.query == ""
        status, _, page = request(server.port, "GET", "/")
        assert status == 200 and TOKEN.search(page)
        assert request(server.port, "GET", "/favicon.ico")[0] == 200
    finally:
        server.stop()


LIMITED = """
import sys
from lenet_numba.serve.connections import ConnectionLimits
from lenet_numba.serve.launch import bind, build_app, serve
sock = bind("127.0.0.1", 0)
app, _, _ = build_app(None, data_dir=sys.argv[1])
print("lenet-numba serve: http://127.0.0.1:%d/" % sock.getsockname()[1], flush=True)
serve(app, sock, ConnectionLimits(max_connections=8, header_timeout=1.5, idle_timeout=1.0, log_lines=5))
"""


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc")
def test_idle_connections_are_bounded_closed_and_the_log_stays_short(web, nodata):
    server = Server([sys.executable, "-c", LIMITED, nodata])
    idle = []
    try:
        port, pid = server.port, server.proc.pid
        assert request(port, "GET", "/")[0] == 200
        before = open_fds(pid)
        for _ in range(40):  # never send a byte
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        slow = socket.create_connection(("127.0.0.1", port), timeout=5)
        slow.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.3)
        assert open_fds(pid) <= before + 8 + 2  # the oldest idle ones make room
        t0 = time.monotonic()
        assert request(port, "GET", "/")[0] == 200  # a real client still gets in
        assert time.monotonic() - t0 < 2
        # a head fed a byte at a time is closed at the header timeout, not kept alive by the bytes
        closed_after = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6:
            try:
                slow.sendall(b"X")
            except OSError:
                closed_after = time.monotonic() - t0
                break
            time.sleep(0.2)
        assert closed_after is not None and closed_after < 4, closed_after
        for s in idle:  # every connection that never sent a request is closed by now
            s.settimeout(3)
            try:
                assert s.recv(1) == b""
            except ConnectionResetError:
                pass
        assert open_fds(pid) <= before + 1
        for _ in range(100):  # bad requests: each would log a warning
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"NOT HTTP\r\n\r\n")
                s.recv(1000)
        assert request(port, "GET", "/")[0] == 200
    finally:
        for s in idle:
            s.close()
        server.stop()
    log = server.printed()
    assert log.count("Invalid HTTP request") <= 5 + 1, log[-2000:]


# ---------------------------------------------------------------- stopping runs (real data)


def wait_state(get, states, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = get()
        if st["state"] in states:
            return st, time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"still {st['state']} after {timeout} s")


FEW_SECONDS = 7   # a cancel or a shutdown ends a run that ignores it within this


def test_cancel_and_shutdown_end_a_stopped_worker(web, data_root):
    from starlette.testclient import TestClient

    from lenet_numba.serve.launch import build_app

    app, _, trainer = build_app(None, data_dir=str(data_root))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["X-Lenet-Token"] = app.token
        get = lambda: client.get("/api/train").json()  # noqa: E731
        run = {"arch": "zipcode1989", "recipe": "1989", "epochs": 50}
        assert client.post("/api/train", json=run).status_code == 202
        wait_state(get, ("running",), 300)
        proc = trainer._proc
        os.kill(proc.pid, signal.SIGSTOP)
        assert client.post("/api/train/cancel", json={}).status_code == 200
        st, took = wait_state(get, ("cancelled", "failed", "done"), FEW_SECONDS)
        assert st["state"] == "cancelled" and not proc.is_alive(), st
        assert client.post("/api/train", json=run).status_code == 202  # a new run may start
        wait_state(get, ("running",), 300)
        proc = trainer._proc
        os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        trainer.shutdown()
        assert time.monotonic() - t0 < FEW_SECONDS and not proc.is_alive()
        assert get()["state"] == "cancelled"


def start_training(server):
    status, _, page = request(server.port, "GET", "/")
    token = TOKEN.search(page).group(1)
    status, _, text = request(server.port, "POST", "/api/train", body={"arch": "zipcode1989", "epochs": 50},
                              headers={"X-Lenet-Token": token})
    assert status == 202, text
    t0 = time.monotonic()
    while time.monotonic() - t0 < 300:
        st = json.loads(request(server.port, "GET", "/api/train", headers={"X-Lenet-Token": token})[2])
        if st["state"] == "running" and st["progress"]:
            return
        assert st["state"] in ("starting", "running"), st
        time.sleep(0.1)
    raise AssertionError("the run did not start")


@pytest.mark.parametrize("how", ["ctrl-c to the process group", "sigterm to the server"])
def test_stopping_the_server_mid_run_is_clean(web, data_root, how):
    server = Server([*CLI, "--port", "0", "--data-dir", str(data_root)], start_new_session=True)
    try:
        start_training(server)
        if how.startswith("ctrl-c"):
            os.killpg(server.proc.pid, signal.SIGINT)  # what the terminal does
        else:
            server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=15)
    finally:
        server.stop()
    printed = server.printed()
    assert code == 0, printed[-3000:]
    for bad in ("Traceback", "KeyboardInterrupt", "Aborted", "leaked semaphore", "resource_tracker"):
        assert bad not in printed, printed[-3000:]
    assert "stopped" in printed
