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
    error = float(np.mean(metrics.predictions(scores) != y))
    t = metrics.reject_threshold(scores, y, REJECT_TARGET)
    kept = float(np.mean(metrics.confidence_gap(scores) >= t))
    return finite_or_none(t), (f"keeps {100 * kept:.1f}% of the {len(y)} test digits "
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
    """The network's layers as the page lists them, with what feeds each unit (for the
    page's hover details): a conv unit reads a kernel x kernel window (stride, padding) of
    the input maps its table connects, a subsampling unit the 2x2 block under it in its own
    map, a dense unit every unit of the layer before."""
    from ..architectures import OUT_C, OUT_H, OUT_W, PAD, STRIDE, K

    layers = []
    for layer, row in zip(model.arch.layers, model.plan.table):
        kind = type(layer).__name__.lower()
        entry = {"name": layer.name, "kind": kind, "shape": [int(row[OUT_C]), int(row[OUT_H]), int(row[OUT_W])]}
        if isinstance(layer, Conv):
            entry.update(kernel=int(row[K]), stride=int(row[STRIDE]), pad=int(row[PAD]),
                         connected=model.full_kernels(layer.name)[1].astype(int).tolist())
        layers.append(entry)
    return {"arch": model.arch.name, "description": model.arch.description, "params": model.n_params,
            "activation": model.activation, "output_activation": model.output_activation,
            "input_shape": list(model.arch.input_shape), "layers": layers}


class Network:
    """One network the page may read: its model, where it comes from, its reject threshold."""

    def __init__(self, model, source, threshold, note):
        self.model, self.source, self.threshold, self.note = model, source, threshold, note


class Engine:
    """The network loaded at launch (never changed) and the live run's (None before the
    first run); a prediction says which it reads, so training never swaps the network
    under someone who did not ask for it."""

    def __init__(self, model, source, test_set=None):
        self._lock = threading.Lock()
        self.test_set = test_set
        self.loaded = Network(model, source, *threshold_for(model, test_set))
        self.live = None
        self.version = 0              # bumped on every change of the live network

    def replace(self, model, source, threshold=None, note=None):
        """The live network becomes ``model`` (a training run's first weights)."""
        if note is None:
            threshold, note = threshold_for(model, self.test_set)
        with self._lock:
            self.live = Network(model, source, threshold, note)
            self.version += 1

    def update(self, params, source=None, threshold=None, note=None):
        """New weights for the live network; a threshold when the run measured one."""
        with self._lock:
            self.live.model.params[:] = params
            if source is not None:
                self.live.source = source
            if note is not None:
                self.live.threshold, self.live.note = threshold, note
            self.version += 1

    def network(self, which="loaded"):
        """The network named ``which`` ("loaded" or "live"); call under the lock."""
        if which == "live":
            if self.live is None:
                raise BadRequest(409, "model live: no training run yet (train one, or read the loaded network)")
            return self.live
        return self.loaded

    def live_model(self):
        with self._lock:
            return None if self.live is None else self.live.model

    @staticmethod
    def _info(net):
        return {**describe(net.model), "source": net.source, "threshold": net.threshold, "threshold_note": net.note}

    def info(self):
        """{"loaded": ..., "live": ... or None, "version"}: both networks as the page lists them."""
        with self._lock:
            return {"loaded": self._info(self.loaded), "live": None if self.live is None else self._info(self.live),
                    "version": self.version}

    def kernels(self, which="loaded"):
        with self._lock:
            return conv_kernels(self.network(which).model)

    def predict(self, grey, which="loaded"):
        """grey (H, W) in [0, 1] -> the /api/predict answer, read by the network ``which``."""
        if not has_ink(grey):
            raise BadRequest(422, "image: no ink found (blank image)")
        x = preprocess(grey)  # the same path as `lenet-numba predict`
        box = ink_box(ink_map(grey))
        with self._lock:
            net = self.network(which)
            layers = net.model.layer_outputs(x)
            threshold, version, arch = net.threshold, self.version, net.model.arch.name
        scores = layers[-1][1].ravel().astype(np.float64)
        gap = float(metrics.confidence_gap(scores[None, :])[0])  # the measure the threshold was set on
        return {
            "digit": int(metrics.predictions(scores)),
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
            "model": which,
            "version": version if which == "live" else 0,
        }
