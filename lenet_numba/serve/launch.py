"""Assemble the app (network, test set, trainer) and run it under uvicorn."""

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import threading

from ..errors import LenetError, MissingDependency, UsageError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def require_web():
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingDependency("serve needs the web extra: pip install 'lenet-numba[web]'") from None


def initial_model(checkpoint):
    """(model, description): the checkpoint's network, or an untrained LeNet-1."""
    from ..run_checkpoint import model_from_checkpoint
    from ..model import Model

    if checkpoint is None:
        return Model("lenet1", seed=0), "untrained lenet1 (random weights, seed 0): train one on the page"
    model, meta = model_from_checkpoint(checkpoint)
    recipe = (meta.get("recipe") or {}).get("name", "?")
    # the file's name only: the page may be shared, the server's folders are not its business
    return model, f"checkpoint {os.path.basename(checkpoint)} ({model.arch.name}, recipe {recipe}, {meta.get('epoch', '?')} passes)"


def test_set_or_none(data_dir):
    """The USPS test digits if they are here (never downloads), else None."""
    from ..experiment import load_test_set

    try:
        return load_test_set("usps", data_dir, download=False)
    except LenetError:
        return None


def build_app(checkpoint=None, data_dir=None, save_dir=None, allowed_hosts=LOCAL_HOSTS, token=None, secret=None):
    """(app, engine, trainer) ready to serve; ``secret``: what every client must show first."""
    require_web()
    from .app import create_app
    from .engine import Engine
    from .training import Trainer

    model, source = initial_model(checkpoint)
    engine = Engine(model, source, test_set_or_none(data_dir))
    trainer = Trainer(engine, data_dir=data_dir, save_dir=save_dir)
    return create_app(engine, trainer, token=token, allowed_hosts=allowed_hosts, secret=secret), engine, trainer


def bind(host, port):
    """A listening socket (port 0: any free port), or a one-line UsageError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: cannot resolve ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    # proto IPPROTO_TCP, not 0: only then does asyncio set TCP_NODELAY on each connection
    # (without it a response written in two parts waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise UsageError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None
    sock.listen(128)
    return sock


def beyond_loopback(sock):
    """True when ``sock`` listens on an address other machines may reach (0.0.0.0, ::, a LAN address)."""
    address = sock.getsockname()[0].split("%")[0]
    return not ipaddress.ip_address(address).is_loopback


def url_of(sock, host, secret=None):
    port = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
    return url + (f"?secret={secret}" if secret else "")


def allowed_hosts(host, extra=()):
    """The names the Host header may carry: loopback's, the one listened on, and ``extra``."""
    return LOCAL_HOSTS + ((host,) if host not in ("0.0.0.0", "::") else ()) + tuple(extra)


def start(checkpoint, host, port, save_dir=None, extra_hosts=(), data_dir=None, say=print):
    """``lenet-numba serve``: listen, load, print the address (with a secret when listening
    beyond loopback), serve until Ctrl-C or SIGTERM."""
    require_web()
    sock = bind(host, port)
    try:
        secret = secrets.token_urlsafe(24) if beyond_loopback(sock) else None
        app, _, _ = build_app(checkpoint, data_dir, save_dir, allowed_hosts=allowed_hosts(host, extra_hosts),
                              secret=secret)
    except BaseException:
        sock.close()
        raise
    say(f"lenet-numba serve: {url_of(sock, host, secret)}  (Ctrl-C to stop)")
    if secret:
        say("  listening beyond this computer: the page opens only with the secret in this address; "
            "other machines reach it by a name given with --allow-host")
    serve(app, sock)
    say("lenet-numba serve: stopped")


def serve(app, sock, limits=None):
    """Run until Ctrl-C or SIGTERM, with bounded connections and a bounded log."""
    import uvicorn

    from .connections import ConnectionLimits, bound_logs, limited_protocol

    limits = limits or ConnectionLimits()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            http=limited_protocol(limits), timeout_keep_alive=limits.idle_timeout,
                            timeout_graceful_shutdown=5)
    bound_logs(limits)
    server_class(uvicorn.Server)(config).run(sockets=[sock])


def server_class(base):
    """uvicorn's Server, but it does not raise the stop signal again once it has stopped:
    raised again, SIGTERM kills the process before exit handlers run (multiprocessing's
    semaphores leak) and SIGINT ends in a KeyboardInterrupt. It exits normally instead."""

    class Server(base):
        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server
