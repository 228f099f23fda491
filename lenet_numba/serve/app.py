"""The web app: the page, its static files and the JSON API (Starlette).

    GET  /                 the page (the per-launch token is written into it)
    GET  /static/...       style.css, app.js
    GET  /api/info         the network, its reject threshold, the networks and recipes to train
    POST /api/predict      {"image": [[grey 0-255, ...], ...]} -> digit, scores, reject, maps
    GET  /api/train        the training run: state, errors per pass, progress
    POST /api/train        {"arch", "recipe", "seed", "epochs"} starts a run (one at a time)
    POST /api/train/cancel
    POST /api/save         the run's network into --save-dir, under a name the server picks
    GET  /api/kernels      every conv layer's kernels (current weights)

Every /api/ request must carry the page's token in ``X-Lenet-Token``, come from this
origin (an ``Origin`` header, when sent, must be this host) and name an allowed host
(``Host``: against DNS rebinding); POSTs must be ``application/json`` and at most
``MAX_BODY_BYTES``, counted while reading. Every error is ``{"error": "one line"}``.
"""

import contextlib
import hmac
import html
import secrets
import time
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..architectures import ARCHITECTURES
from ..recipes import RECIPES
from . import requests as rq
from .requests import BadRequest

TOKEN_HEADER = "x-lenet-token"
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]


def error(status, message):
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


async def read_body(request):
    """The request body, refused (413) as soon as it passes MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise BadRequest(400, f"Content-Length: not a byte count ({declared[:20]!r})")
    if declared is not None and int(declared) > rq.MAX_BODY_BYTES:
        raise BadRequest(413, f"body: larger than {rq.MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > rq.MAX_BODY_BYTES:
            raise BadRequest(413, f"body: larger than {rq.MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request):
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise BadRequest(415, "body: send JSON with Content-Type: application/json")
    return rq.parse_json(await read_body(request))


def create_app(engine, trainer, token=None, allowed_hosts=("127.0.0.1", "localhost")):
    """The ASGI app serving ``engine`` (predictions) and ``trainer`` (training runs).

    allowed_hosts: host names the Host header may carry (any port)."""
    token = token or secrets.token_urlsafe(24)
    token_bytes = token.encode("ascii")
    allowed = {h.lower() for h in allowed_hosts}
    static = resources.files("lenet_numba.serve") / "static"
    page = (static / "index.html").read_text("utf-8").replace("{{TOKEN}}", html.escape(token))

    def host_of(value):
        value = value.lower()
        if value.startswith("["):  # [::1]:8000
            return value[:value.find("]") + 1]
        return value.rsplit(":", 1)[0] if value.count(":") == 1 else value

    def guard(request):
        """None if the request may go on, else the error response."""
        netloc = request.headers.get("host", "").lower()
        host = host_of(netloc)
        if host not in allowed:
            return error(403, f"host {host!r} not allowed (start the server with --host to serve another name)")
        if request.url.path.startswith("/api/"):
            origin = request.headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1].lower() != netloc:  # host and port
                return error(403, f"cross-origin request from {origin[:80]!r} refused")
            # bytes: compare_digest refuses str with non-ASCII characters (headers are latin-1)
            given = request.headers.get(TOKEN_HEADER, "").encode("latin-1")
            if not hmac.compare_digest(given, token_bytes):
                return error(403, f"missing or wrong {TOKEN_HEADER} header (the token is in the page)")
        return None

    async def index(request):
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def info(request):
        return JSONResponse({
            "model": engine.info(),
            "architectures": [{"name": a.name, "description": a.description} for a in ARCHITECTURES.values()],
            "recipes": [{"name": r.name, "description": r.description, "epochs": r.epochs} for r in RECIPES.values()],
            "can_save": trainer.save_dir is not None,
            "limits": {"max_image_side": rq.MAX_IMAGE_SIDE, "max_body_bytes": rq.MAX_BODY_BYTES,
                       "max_epochs": rq.MAX_EPOCHS},
        })

    async def predict(request):
        grey = rq.predict_image(await json_body(request))
        return JSONResponse(engine.predict(grey))

    async def train_status(request):
        return JSONResponse(trainer.status())

    async def train_start(request):
        job = rq.train_request(await json_body(request))
        trainer.start(job)
        return JSONResponse(trainer.status(), status_code=202)

    async def train_cancel(request):
        rq.empty_request(await json_body(request))
        trainer.cancel()
        return JSONResponse(trainer.status())

    async def save(request):
        rq.empty_request(await json_body(request))
        return JSONResponse({"saved": trainer.save()})

    async def kernels(request):
        return JSONResponse({"version": engine.version, "kernels": engine.kernels()})

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/train", train_status, methods=["GET"]),
        Route("/api/train", train_start, methods=["POST"]),
        Route("/api/train/cancel", train_cancel, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/kernels", kernels),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]

    async def bad_request(request, exc):
        return error(exc.status, exc.message)

    async def http_error(request, exc):
        return error(exc.status_code, exc.detail)

    async def server_error(request, exc):  # a bug: one line, no traceback to the client
        return error(500, f"internal error ({type(exc).__name__})")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        trainer.shutdown()  # a run in progress ends with the server

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={BadRequest: bad_request, HTTPException: http_error, Exception: server_error})

    async def guarded(scope, receive, send):
        """Plain ASGI (no per-request middleware objects): refuse, or pass on with two
        headers that keep the page out of other sites' frames and sniffers, and the time
        the request took here (Server-Timing)."""
        if scope["type"] == "http":
            t0 = time.perf_counter()
            refused = guard(Request(scope))
            if refused is not None:
                return await refused(scope, receive, send)

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    # Server-Timing: the time from the request's arrival to its answer, here
                    timing = f"app;dur={1e3 * (time.perf_counter() - t0):.3f}".encode()
                    message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS, (b"server-timing", timing)]
                await send(message)
            return await app(scope, receive, send_with_headers)
        return await app(scope, receive, send)

    guarded.token = token
    return guarded
