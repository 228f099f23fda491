"""Assemble the app (network, test set, trainer) and run it under uvicorn."""

import socket

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
    return model, f"checkpoint {checkpoint} ({model.arch.name}, recipe {recipe}, {meta.get('epoch', '?')} passes)"


def test_set_or_none(data_dir):
    """The USPS test digits if they are here (never downloads), else None."""
    from ..experiment import load_test_set

    try:
        return load_test_set("usps", data_dir, download=False)
    except LenetError:
        return None


def build_app(checkpoint=None, data_dir=None, save_dir=None, allowed_hosts=LOCAL_HOSTS, token=None):
    """(app, engine, trainer) ready to serve."""
    require_web()
    from .app import create_app
    from .engine import Engine
    from .training import Trainer

    model, source = initial_model(checkpoint)
    engine = Engine(model, source, test_set_or_none(data_dir))
    trainer = Trainer(engine, data_dir=data_dir, save_dir=save_dir)
    return create_app(engine, trainer, token=token, allowed_hosts=allowed_hosts), engine, trainer


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


def url_of(sock, host):
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def serve(app, sock):
    """Run until Ctrl-C."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
