"""The web app: the page, its static files and the JSON API (Starlette).

    GET  /                 the page (the per-launch token is written into it)
    GET  /static/...       style.css, app.js
    GET  /favicon.ico      the page's icon (SVG)
    GET  /api/info         the loaded and the live network, their reject thresholds, the
                           networks and recipes to train
    POST /api/predict      {"image": [[grey 0-255, ...], ...], "model": "loaded"|"live"}
                           -> digit, scores, reject, maps
    GET  /api/train        the training run: state, errors per pass, progress
    POST /api/train        {"arch", "recipe", "seed", "epochs"} starts a run (one at a time)
    POST /api/train/cancel
    POST /api/save         the run's network into --save-dir, under a name the server picks
    GET  /api/kernels      every conv layer's kernels (?model=loaded|live)

With a ``secret`` (the server listens beyond loopback) every request, whatever its Host,
must first show it: ``GET /?secret=S`` sets a cookie (HttpOnly, SameSite=Strict) and
redirects to the page; a client may instead send ``X-Lenet-Secret: S`` on each request.
Without it ``GET /`` is a login page and everything else a 401: no page, no token, no
prediction (read-only use is closed too: the network and its maps are someone's work).

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
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..architectures import ARCHITECTURES
from ..recipes import RECIPES
from . import requests as rq
from .requests import MODELS, BadRequest, one_line

TOKEN_HEADER = "x-lenet-token"
SECRET_HEADER = "x-lenet-secret"
# the page's icon: a white 7 on the header's slate (an inline constant: one file fewer to ship)
FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
               'fill="#26323a"/><path d="M4 4h8L7 13" fill="none" stroke="#fff" stroke-width="2.2" '
               'stroke-linecap="round" stroke-linejoin="round"/></svg>').encode()
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]


def error(status, message):
    return JSONResponse({"error": one_line(message)}, status_code=status)


def cookie_value(secret):
    """What the cookie holds: derived from the secret, so a leaked cookie is not the URL's secret."""
    return hmac.new(secret.encode(), b"lenet-numba page cookie", "sha256").hexdigest()


def same(given, expected):
    """Constant-time comparison of a header or query value (latin-1 str) with ``expected``."""
    return hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode("ascii"))


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


async def read_json_bytes(request):
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise BadRequest(415, "body: send JSON with Content-Type: application/json")
    return await read_body(request)


async def json_body(request):
    return rq.parse_json(await read_json_bytes(request))


def create_app(engine, trainer, token=None, allowed_hosts=("127.0.0.1", "localhost"), secret=None):
    """The ASGI app serving ``engine`` (predictions) and ``trainer`` (training runs).

    allowed_hosts: host names the Host header may carry (any port). secret: when given,
    what every client must show before anything is handed out (see above)."""
    token = token or secrets.token_urlsafe(24)
    token_bytes = token.encode("ascii")
    allowed = {h.lower() for h in allowed_hosts}
    static = resources.files("lenet_numba.serve") / "static"
    page = (static / "index.html").read_text("utf-8").replace("{{TOKEN}}", html.escape(token))
    login = (static / "login.html").read_text("utf-8")
    cookie = secret and cookie_value(secret)

    def cookie_name(request):
        port = (request.scope.get("server") or (None, 0))[1]
        return f"lenet-numba-{port}"  # one per port: two servers on one host keep theirs

    def login_page(note, status=401):
        return HTMLResponse(login.replace("{{NOTE}}", html.escape(note)), status_code=status,
                            headers={"Cache-Control": "no-store"})

    def check_secret(request):
        """None if the request shows the secret, else the login page or a 401."""
        given = request.cookies.get(cookie_name(request))
        if given is not None and same(given, cookie):
            return None
        if same(request.headers.get(SECRET_HEADER, ""), secret):
            return None
        at_page = request.url.path == "/" and request.method == "GET"
        offered = request.query_params.get("secret")
        if at_page and offered is not None:
            if same(offered, secret):  # the URL printed by the server: keep it as a cookie, drop it from the bar
                res = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
                res.set_cookie(cookie_name(request), cookie, httponly=True, samesite="strict", path="/")
                return res
            return login_page("Wrong secret: it is not the one this server printed.")
        if at_page:
            return login_page("")
        return error(401, f"this server needs its secret: open the URL it printed, or send {SECRET_HEADER}")

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
        if secret is not None:
            refused = check_secret(request)
            if refused is not None:
                return refused
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
            **engine.info(),
            "architectures": [{"name": a.name, "description": a.description} for a in ARCHITECTURES.values()],
            "recipes": [{"name": r.name, "description": r.description, "epochs": r.epochs} for r in RECIPES.values()],
            "can_save": trainer.save_dir is not None,
            "limits": {"max_image_side": rq.MAX_IMAGE_SIDE, "max_body_bytes": rq.MAX_BODY_BYTES,
                       "max_epochs": rq.MAX_EPOCHS},
        })

    async def predict(request):
        raw = await read_json_bytes(request)
        grey, which = rq.predict_request(rq.parse_json(raw), raw)
        return JSONResponse(engine.predict(grey, which))

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
        which = request.query_params.get("model", MODELS[0])
        if which not in MODELS or set(request.query_params) - {"model"}:
            raise BadRequest(400, f"query: expected model={' or model='.join(MODELS)} only")
        return JSONResponse({"version": engine.version, "model": which, "kernels": engine.kernels(which)})

    async def favicon(request):
        return Response(FAVICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/train", train_status, methods=["GET"]),
        Route("/api/train", train_start, methods=["POST"]),
        Route("/api/train/cancel", train_cancel, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/kernels", kernels),
        Route("/favicon.ico", favicon),
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

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    # Server-Timing: the time from the request's arrival to its answer, here
                    timing = f"app;dur={1e3 * (time.perf_counter() - t0):.3f}".encode()
                    message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS, (b"server-timing", timing)]
                await send(message)
            refused = guard(Request(scope))
            if refused is not None:  # the login page too stays out of other sites' frames
                return await refused(scope, receive, send_with_headers)
            return await app(scope, receive, send_with_headers)
        return await app(scope, receive, send)

    guarded.token = token
    return guarded
