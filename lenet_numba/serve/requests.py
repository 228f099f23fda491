"""What the web API accepts: every request body is checked here, nowhere else.

Each check raises :class:`BadRequest` (an HTTP status and a one-line message); the app turns
it into ``{"error": message}``. Nothing here imports the web framework, so the rules can be
tested, and reused, without it.
"""

import json
import math

import numpy as np

from .. import recipes
from ..errors import UsageError
from ..limits import DEFAULT_ARCH, DEFAULT_RECIPE, DEFAULT_SEED, check_int, check_seed

MAX_BODY_BYTES = 8 * 1024 * 1024   # a 512x512 image written as "255.0000, " per pixel fits
MAX_IMAGE_SIDE = 512
MAX_EPOCHS = 200   # passes one run from the page may ask for (it can be cancelled)
MAX_MESSAGE_CHARS = 240   # an error message quoting the request is cut to this
MODELS = ("loaded", "live")   # which network a prediction reads: the one loaded at launch, the run's


def one_line(message, limit=MAX_MESSAGE_CHARS):
    """``message`` on one line and at most ``limit`` characters (a request may be megabytes)."""
    text = " ".join(str(message)[:4 * limit].split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


class BadRequest(Exception):
    def __init__(self, status, message):
        message = one_line(message)
        super().__init__(message)
        self.status = status
        self.message = message


def _reject_constant(name):
    raise BadRequest(400, f"body: {name} is not a number JSON allows")


def _fast_loads(body):
    """orjson's parse (the web extra brings it: ~3x json's speed on a 512x512 image), or None
    when it is absent or refuses the body; the standard parser then says exactly why."""
    try:
        import orjson
    except ImportError:
        return None
    try:
        return orjson.loads(body)  # strict JSON: no NaN/Infinity, valid UTF-8, bounded depth
    except orjson.JSONDecodeError:
        return None


def parse_json(body):
    """The body (bytes) as a JSON object; NaN/Infinity and deep nesting are refused."""
    value = _fast_loads(body)
    if isinstance(value, dict):
        return value
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequest(400, "body: not UTF-8 text") from None
    except RecursionError:
        raise BadRequest(400, "body: JSON nested too deeply") from None
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise BadRequest(400, f"body: malformed JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise BadRequest(400, f"body: expected a JSON object, got {type(value).__name__}")
    return value


def _fields(body, required, optional=()):
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise BadRequest(400, f"unknown field(s) {', '.join(map(repr, unknown))}; "
                              f"allowed: {', '.join(map(repr, (*required, *optional)))}")
    missing = [k for k in required if k not in body]
    if missing:
        raise BadRequest(400, f"missing field(s) {', '.join(map(repr, missing))}")


def predict_request(body, raw=None):
    """{"image": 2-D list of grey levels 0-255, "model": "loaded" or "live" (optional)}
    -> (grey levels (H, W) float64 in [0, 1], model)."""
    _fields(body, ("image",), ("model",))
    model = body.get("model", MODELS[0])
    if model not in MODELS:
        raise BadRequest(400, f"model: expected one of {', '.join(map(repr, MODELS))}, got {model!r}")
    return predict_image(body["image"], raw), model


def predict_image(rows, raw=None):
    """A 2-D list of grey levels 0-255 -> (H, W) float64 grey levels in [0, 1].

    raw: the request's bytes, if known: a body without the words true/false holds no
    boolean, which spares the scan for them (NumPy reads True as 1 beside numbers)."""
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise BadRequest(400, "image: expected a non-empty 2-D list (a list of rows of grey levels)")
    h, w = len(rows), len(rows[0])
    if h > MAX_IMAGE_SIDE or w > MAX_IMAGE_SIDE:
        raise BadRequest(413, f"image: {h}x{w} is larger than {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}")
    if w == 0 or any(len(r) != w for r in rows):
        raise BadRequest(400, "image: rows must be non-empty and all of the same length")
    try:
        grey = np.array(rows)
    except ValueError:  # a row holding lists instead of numbers
        raise BadRequest(400, "image: expected numbers, one per pixel") from None
    # strings, booleans, null or nested lists give another dtype (or more dimensions)
    if grey.ndim != 2 or grey.dtype.kind not in "iuf":
        raise BadRequest(400, "image: expected numbers, one per pixel")
    if raw is None or b"true" in raw or b"false" in raw:
        if any(bool in set(map(type, r)) for r in rows):
            raise BadRequest(400, "image: expected numbers, one per pixel (not true/false)")
    grey = grey.astype(np.float64)
    if not np.all(np.isfinite(grey)):
        raise BadRequest(400, "image: holds a non-finite value")
    lo, hi = float(grey.min()), float(grey.max())
    if lo < 0 or hi > 255:
        raise BadRequest(400, f"image: grey levels must be in 0..255, got {lo:g}..{hi:g}")
    return grey / 255.0


def train_request(body):
    """{"arch", "recipe", "seed", "epochs"} (all optional) -> a checked dict of the four, by the
    rules every run follows (limits.check_*); epochs None (absent or null): the recipe's
    number of passes for that network."""
    _fields(body, (), ("arch", "recipe", "seed", "epochs"))
    epochs = body.get("epochs")
    try:
        return {"arch": recipes.check_name("architecture", body.get("arch", DEFAULT_ARCH), "arch"),
                "recipe": recipes.check_name("recipe", body.get("recipe", DEFAULT_RECIPE)),
                "seed": check_seed(body.get("seed", DEFAULT_SEED)),
                "epochs": None if epochs is None else check_int("epochs", epochs, 1, MAX_EPOCHS)}
    except UsageError as e:
        raise BadRequest(400, str(e)) from None


def empty_request(body):
    """Bodies of commands that take no options: {} only."""
    _fields(body, ())
    return body


def finite_or_none(x):
    """JSON has no inf/NaN: those become null."""
    return float(x) if x is not None and math.isfinite(x) else None
