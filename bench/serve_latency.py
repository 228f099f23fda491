"""Round trip of one prediction through `lenet-numba serve` on localhost.

    python bench/serve_latency.py [--out bench/results/serve.json] [--repeats 300] [--data-dir DIR]
    python bench/serve_latency.py --render bench/results/serve.json    # the docs' tables

The server runs as the real command (`lenet-numba serve CHECKPOINT --port 0`, uvicorn) in
its own process; this process is the client: one kept-alive HTTP connection (stdlib
http.client), a JSON body encoded once beforehand, and per request the time from sending it
to having the answer parsed (json.loads): digit, scores, reject, the 16x16 input and every
layer's maps. Images: a drawn 7 at 140x140 (what the page sends) and at 512x512 (the
largest the API takes). Networks: lenet1 and zipcode1989 (random weights: the work per
request does not depend on them); with ``--data-dir``, also the page's request while the
server trains zipcode1989 in its worker process (the page then reads with those weights).
30 warm-up requests, then ``--repeats``; median, 90th percentile and max in milliseconds
(wall clock: a round trip is wall time), and the median of the server's own Server-Timing
(arrival to answer) beside them. Then the load: 1, 8 and 32 clients at once (threads of
this process, each on its own kept-alive connection) send ``--load-requests`` 140x140
predictions in all to the lenet1 server; predictions per second over the wall time, and
the median and 99th percentile of the round trips.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from provenance import git_rev  # noqa: E402

ARCHS = ("lenet1", "zipcode1989")
SIDES = (140, 512)
LIMIT_MS = 20.0
WARMUP = 30
CLIENTS = (1, 8, 32)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(map(str.strip, line.split(":", 1)) for line in f.read().split("\n\n")[0].splitlines()
                          if ":" in line)
        return f"{fields['model name']} (family {fields['cpu family']} model {fields['model']})"
    except (OSError, KeyError):
        return "unknown"


def start_server(checkpoint, data_dir):
    cmd = [sys.executable, "-c", "from lenet_numba_cli.main import main; main()", "serve", checkpoint, "--port", "0"]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(m.group(1))


def connect(port):
    """(kept-alive connection, API headers with the page's token)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/")
    token = re.search(r'name="lenet-token" content="([^"]+)"', conn.getresponse().read().decode()).group(1)
    return conn, {"Content-Type": "application/json", "X-Lenet-Token": token}


def call(conn, headers, method, path, body=None):
    conn.request(method, path, body, headers)
    res = conn.getresponse()
    return res.status, json.loads(res.read())


def measure_while_training(port, body, repeats, arch):
    """The same round trips while the server trains ``arch`` (1989 recipe) in its worker."""
    conn, headers = connect(port)
    status, st = call(conn, headers, "POST", "/api/train", json.dumps({"arch": arch, "epochs": 200}).encode())
    if status != 202:
        raise SystemExit(f"could not start training: {st}")
    while st["state"] != "running" or not st["progress"]:
        time.sleep(0.1)
        _, st = call(conn, headers, "GET", "/api/train")
    conn.close()
    try:
        r = measure(port, body, repeats)
    finally:
        conn, headers = connect(port)  # a new connection: the server drops idle ones after 5 s
        _, st = call(conn, headers, "GET", "/api/train")
        call(conn, headers, "POST", "/api/train/cancel", b"{}")
        conn.close()
    if st["state"] != "running":
        raise SystemExit(f"training ended during the measurement: {st['state']} {st['error']}")
    return r


def measure(port, body, repeats):
    conn, headers = connect(port)
    times, server, answer = [], [], None
    for i in range(WARMUP + repeats):
        t0 = time.perf_counter()
        conn.request("POST", "/api/predict", body, headers)
        res = conn.getresponse()
        answer = json.loads(res.read())
        dt = time.perf_counter() - t0
        if res.status != 200:
            raise SystemExit(f"predict answered {res.status}: {answer}")
        if i >= WARMUP:
            times.append(dt * 1e3)
            server.append(float(res.getheader("server-timing").split("dur=")[1]))
    conn.close()
    if not repeats:
        return None
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
            "max_ms": times[-1], "server_median_ms": statistics.median(server), "repeats": repeats,
            "request_bytes": len(body),
            "maps": sum(len(layer["maps"]) for layer in answer["layers"]), "digit": answer["digit"]}


def measure_load(port, body, clients, total):
    """``clients`` threads, each on its own connection, send ``total`` predictions in all."""
    times, errors = [], []
    per_client = [total // clients + (k < total % clients) for k in range(clients)]
    conns = [connect(port) for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(conn, headers, n):
        start.wait()
        mine = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("POST", "/api/predict", body, headers)
            res = conn.getresponse()
            res.read()
            mine.append((time.perf_counter() - t0) * 1e3)
            if res.status != 200:
                errors.append(res.status)
        times.extend(mine)

    threads = [threading.Thread(target=client, args=(*c, n)) for c, n in zip(conns, per_client)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for conn, _ in conns:
        conn.close()
    if errors:
        raise SystemExit(f"{len(errors)} predictions failed under load: {sorted(set(errors))}")
    times.sort()
    return {"clients": clients, "requests": total, "per_second": total / wall, "median_ms": statistics.median(times),
            "p99_ms": times[int(0.99 * (len(times) - 1))], "max_ms": times[-1]}


def run(out, repeats, data_dir, load_requests):
    from lenet_numba.checkpoint import save_checkpoint
    from lenet_numba.model import Model
    from lenet_numba.serve.strokes import draw_strokes

    results, load_results, load = [], [], [round(v, 1) for v in os.getloadavg()]  # the machine is shared: say how busy
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            m = Model(arch, seed=0)
            path = os.path.join(tmp, f"{arch}.npz")
            save_checkpoint(path, m.state_dict(), {"arch": arch, "activation": m.activation,
                                                   "output_activation": m.output_activation, "dtype": "float32"})
            proc, port = start_server(path, data_dir)
            try:
                for side in SIDES:
                    image = draw_strokes(side=side, width=side // 14)
                    body = json.dumps({"image": image.tolist()}).encode()
                    r = measure(port, body, repeats)
                    results.append({"arch": arch, "side": side, **r})
                    print(f"{arch} {side}x{side}: median {r['median_ms']:.2f} ms, p90 {r['p90_ms']:.2f}, "
                          f"max {r['max_ms']:.2f} ({r['request_bytes']} bytes)", flush=True)
                if arch == ARCHS[0]:  # many clients at once: the server answers one at a time
                    body = json.dumps({"image": draw_strokes().tolist()}).encode()
                    measure(port, body, 0)  # warm
                    for clients in CLIENTS:
                        r = measure_load(port, body, clients, load_requests)
                        load_results.append({"arch": arch, "side": 140, **r})
                        print(f"{clients} clients: {r['per_second']:.0f}/s, median {r['median_ms']:.1f} ms, "
                              f"p99 {r['p99_ms']:.1f} ms", flush=True)
                if data_dir and arch == ARCHS[-1]:  # predictions keep answering while a run trains
                    body = json.dumps({"image": draw_strokes().tolist()}).encode()
                    r = measure_while_training(port, body, repeats, arch)
                    results.append({"arch": f"{arch}, while it trains", "side": 140, **r})
                    print(f"{arch} 140x140 while training: median {r['median_ms']:.2f} ms", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    doc = {"results": results, "load": load_results, "cpu": cpu_name(), "python": sys.version.split()[0], "commit": git_rev(),
           "load_average": load, "cpus": os.cpu_count(),
           "limit_ms": LIMIT_MS, "date": time.strftime("%Y-%m-%d")}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(render(doc))


def render(doc):
    lines = ["| network | image sent | request | round trip median | 90th pct. | max | of which in the server |",
             "|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        lines.append(f"| {r['arch']} | {r['side']}x{r['side']} | {r['request_bytes'] / 1024:.0f} KiB | "
                     f"{r['median_ms']:.2f} ms | {r['p90_ms']:.2f} ms | {r['max_ms']:.2f} ms | "
                     f"{r['server_median_ms']:.2f} ms |")
    lines.append("")
    lines.append(f"Round trip of `POST /api/predict` (request -> parsed JSON with every layer's maps) on "
                 f"localhost, {doc['results'][0]['repeats']} requests after {WARMUP} warm-up, one kept-alive "
                 f"connection; {doc['cpu']}, Python {doc['python']}, commit {doc['commit']}, load average "
                 f"{doc['load_average'][0]} on {doc['cpus']} CPUs (shared machine: waiting for a CPU adds to "
                 f"the round trip). \"In the server\": median of its Server-Timing header, from the request's "
                 f"arrival to its answer. The page sends 140x140; a 512x512 request is 262,144 numbers of JSON, "
                 f"and parsing them dominates its time.")
    if doc.get("load"):
        lines += ["", "| clients at once | predictions/s | round trip median | 99th pct. | max |", "|---|---|---|---|---|"]
        for r in doc["load"]:
            lines.append(f"| {r['clients']} | {r['per_second']:.0f} | {r['median_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
                         f"{r['max_ms']:.1f} ms |")
        lines += ["", f"Load: {doc['load'][0]['requests']} predictions of a 140x140 drawing ({doc['load'][0]['arch']}) "
                      f"sent by that many client threads of one process at once, each on its own kept-alive "
                      f"connection; predictions per second over the wall time. The server answers one request at a "
                      f"time, so more clients share the same rate and wait longer."]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("bench", "results", "serve.json"))
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--data-dir", default=None,
                    help="data root: then also time predictions while the server trains (its worker process)")
    ap.add_argument("--load-requests", type=int, default=600, help="predictions per load setting (1, 8, 32 clients)")
    ap.add_argument("--render", metavar="FILE", help="print the docs' tables from a results file and stop")
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            print(render(json.load(f)))
        return
    run(a.out, a.repeats, a.data_dir, a.load_requests)


if __name__ == "__main__":
    main()
