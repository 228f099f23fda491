"""The network the page talks to: its current weights, its reject threshold, and one
prediction with everything the page draws (preprocessing steps, every layer's maps).

The weights change while a run trains (``update``); a prediction reads one consistent
copy of them under the lock, so an answer never mixes two versions.
"""

import threading

import numpy as np

from .. import metrics
from ..architectures import Conv
from ..images import has_ink, ink_box, ink_map, preprocess
from .requests import BadRequest, finite_or_none

REJECT_TARGET = 0.01   # the threshold is the gap that leaves 1% error on the test set
DIGITS = 5             # decimals of the maps sent to the page (float32 noise is not news)


def threshold_for(model, test_set):
    """(gap threshold, note) of ``model`` on ``test_set`` = (images, labels) or None."""
    if test_set is None:
        return None, "no test set found (set LENET_NUMBA_DATA or --data-dir): reject is off"
    x, y = test_set
    scores = model.predict(x)
    error = float(np.mean(scores.argmax(axis=1) != y))
    t = metrics.reject_threshold(scores, y, REJECT_TARGET)
    kept = float(np.mean(metrics.confidence_gap(scores) >= t))
    return finite_or_none(t), (f"gap < {t:.3f} rejected: keeps {100 * kept:.1f}% of the {len(y)} test digits "
                               f"at <= 1% error (error without reject {100 * error:.2f}%)")


def conv_kernels(model):
    """{conv layer name: {"weights": (out, in, k, k) with 0 where not connected,
    "connected": (out, in) 0/1}} for the page's kernel grids."""
    out = {}
    for layer in model.arch.layers:
        if isinstance(layer, Conv):
            full, connected = model.full_kernels(layer.name)
            out[layer.name] = {"weights": np.round(full, DIGITS).tolist(), "connected": connected.tolist()}
    return out


def describe(model):
    """The network's layers as the page lists them."""
    from ..architectures import OUT_C, OUT_H, OUT_W

    layers = []
    for layer, row in zip(model.arch.layers, model.plan.table):
        layers.append({"name": layer.name, "kind": type(layer).__name__.lower(),
                       "shape": [int(row[OUT_C]), int(row[OUT_H]), int(row[OUT_W])]})
    return {"arch": model.arch.name, "description": model.arch.description, "params": model.n_params,
            "activation": model.activation, "output_activation": model.output_activation, "layers": layers}


class Engine:
    def __init__(self, model, source, test_set=None):
        self._lock = threading.Lock()
        self.test_set = test_set
        self.model = model
        self.source = source          # where the weights come from, for the page
        self.version = 0              # bumped on every weight change
        self.threshold, self.threshold_note = threshold_for(model, test_set)

    def replace(self, model, source, threshold=None, note=None):
        """A new network (a training run's first weights, or a finished run's)."""
        if note is None:
            threshold, note = threshold_for(model, self.test_set)
        with self._lock:
            self.model, self.source = model, source
            self.threshold, self.threshold_note = threshold, note
            self.version += 1

    def update(self, params, source=None, threshold=None, note=None):
        """New weights for the same network; a threshold when the run measured one."""
        with self._lock:
            self.model.params[:] = params
            if source is not None:
                self.source = source
            if note is not None:
                self.threshold, self.threshold_note = threshold, note
            self.version += 1

    def info(self):
        with self._lock:
            return {**describe(self.model), "source": self.source, "version": self.version,
                    "threshold": self.threshold, "threshold_note": self.threshold_note}

    def kernels(self):
        with self._lock:
            return conv_kernels(self.model)

    def predict(self, grey):
        """grey (H, W) in [0, 1] -> the /api/predict answer."""
        if not has_ink(grey):
            raise BadRequest(422, "image: no ink found (blank image)")
        x = preprocess(grey)  # the same path as `lenet-numba predict`
        box = ink_box(ink_map(grey))
        with self._lock:
            layers = self.model.layer_outputs(x)
            threshold, version, arch = self.threshold, self.version, self.model.arch.name
        scores = layers[-1][1].ravel().astype(np.float64)
        gap = float(metrics.confidence_gap(scores[None, :])[0])  # the measure the threshold was set on
        return {
            "digit": int(np.argmax(scores)),
            "scores": scores.tolist(),
            "gap": gap,
            "threshold": threshold,
            "rejected": bool(threshold is not None and gap < threshold),
            "input16": np.round(x.astype(np.float64), DIGITS).tolist(),
            "crop": {"top": box[0], "bottom": box[1], "left": box[2], "right": box[3],
                     "height": int(grey.shape[0]), "width": int(grey.shape[1])},
            "layers": [{"name": name, "shape": list(a.shape), "maps": np.round(a.astype(np.float64), DIGITS).tolist()}
                       for name, a in layers],
            "arch": arch,
            "version": version,
        }
