"""A network's parameters in one flat buffer with named views, and its Python API.

    >>> m = Model("lenet1", seed=0)
    >>> m.n_params
    3128
    >>> m["conv1.weight"].shape
    (4, 1, 5, 5)
    >>> scores = m.predict(images)           # (N, 10)

The parameter names and shapes match the article's PyTorch module, so ``state_dict`` and
``load_state_dict`` move weights both ways.
"""

import numpy as np

from .jit_cache import njit
from . import architectures
from .errors import UsageError
from .kernels.activations import NAMES as ACTIVATIONS
from .limits import DEFAULT_ARCH, check_choice
from .numerics import MODEL_NUMERICS, NUMERICS
from .metrics import predictions
from .kernels.losses import NAMES as LOSS_NAMES
from .kernels.losses import loss_forward_backward
from .architectures import OUT_C, OUT_H, OUT_OFF, OUT_W
from .inference import forward_batch, forward_batch_fast, lane_buffers
from .network import forward, load_input, sample_loss_and_grad

DTYPES = {"float32": np.float32, "float64": np.float64}


def loss_kind(name):
    return LOSS_NAMES[check_choice(name, LOSS_NAMES, "loss")]


class Model:
    def __init__(self, arch=DEFAULT_ARCH, activation="tanh", output_activation="identity",
                 dtype="float32", seed=0, init=True, numerics=MODEL_NUMERICS):
        if isinstance(dtype, str):
            dtype = DTYPES[check_choice(dtype, DTYPES, "dtype")]
        self.dtype = np.dtype(dtype)
        self.activation = check_choice(activation, ACTIVATIONS, "activation")
        self.output_activation = check_choice(output_activation, ACTIVATIONS, "output_activation")
        self.numerics = check_choice(numerics, NUMERICS, "numerics")
        self.plan = architectures.build(arch, activation, output_activation, self.numerics)
        self.arch = self.plan.arch
        self.params = np.zeros(self.plan.n_params, self.dtype)
        # what the compiled engine reads beside params (network.forward(table, pad_values,
        # conn, params, acts), the training loop, SDLM): contiguous and typed once
        self.table = np.ascontiguousarray(self.plan.table)
        self.pad_values = self.plan.pad_values.astype(self.dtype)
        self.conn = self.plan.conn
        if init:
            self.init(seed)

    # ---- parameters -------------------------------------------------------------
    @property
    def n_params(self):
        """Length of the flat parameter buffer (free parameters + dead slots of a ragged table)."""
        return self.plan.n_params

    @property
    def n_free_params(self):
        """Parameters training can change: the papers' "free parameters"."""
        return self.plan.free_params

    @property
    def free(self):
        """(n_params,) bool: False on the dead weight slots, which stay exactly 0."""
        return self.plan.free

    def description(self):
        """What the network is, beside its weights: a checkpoint or a state dict needs this
        to be rebuilt as the same function (scaled tanh is not tanh). The numerics policy is
        not in it: it says how this engine rounds the function, not which function it is."""
        return {"arch": self.arch.name, "activation": self.activation,
                "output_activation": self.output_activation}

    @property
    def param_names(self):
        return list(self.plan.params)

    def view(self, buffer, name):
        off, shape = self.plan.params[name]
        return buffer[off:off + int(np.prod(shape))].reshape(shape)

    def __getitem__(self, name):
        return self.view(self.params, name)

    def named_parameters(self):
        """name -> writable view into the flat buffer."""
        return {n: self[n] for n in self.plan.params}

    def state_dict(self):
        """name -> copy (safe to keep while training goes on)."""
        return {n: v.copy() for n, v in self.named_parameters().items()}

    def full_kernels(self, layer):
        """Conv ``layer``'s weights as (out maps, in maps, k, k), zero where an output map
        does not read an input map (its connection table), and the (out, in) 0/1 mask."""
        from .architectures import CONN_OFF, IN_C, N_CONN, OUT_C

        row = self.plan.table[[layer_.name for layer_ in self.arch.layers].index(layer)]
        n_in, n_out, n_conn = int(row[IN_C]), int(row[OUT_C]), int(row[N_CONN])
        conn = self.plan.conn[int(row[CONN_OFF]):int(row[CONN_OFF]) + n_out * n_conn].reshape(n_out, n_conn)
        w = self[f"{layer}.weight"]
        full = np.zeros((n_out, n_in) + w.shape[2:], np.float64)
        connected = np.zeros((n_out, n_in), np.int64)
        for o in range(n_out):
            for j in range(n_conn):
                full[o, conn[o, j]] += w[o, j]
                connected[o, conn[o, j]] = 1
        return full, connected

    def load_state_dict(self, state):
        missing = [n for n in self.plan.params if n not in state]
        if missing:
            raise UsageError(f"state dict lacks {', '.join(missing)}")
        for n, v in self.named_parameters().items():
            src = np.asarray(state[n])
            if src.shape != v.shape:
                raise UsageError(f"{n}: expected shape {v.shape}, got {src.shape}")
            v[...] = src
        self.params[~self.plan.free] = 0  # dead slots of a ragged table are not part of the network

    def init(self, seed=0):
        """Weights U(-2.4/F, 2.4/F), F = fan-in (LeCun et al. 1989); biases 0; alpha 1, beta 0."""
        rng = np.random.default_rng(seed)
        self.params[:] = 0
        for name, (off, shape) in self.plan.params.items():
            v = self[name]
            if name in self.plan.fan_in:
                r = 2.4 / self.plan.fan_in[name]
                v[...] = rng.uniform(-r, r, size=shape)
            elif name.endswith(".alpha"):
                v[...] = 1.0
        self.params[~self.plan.free] = 0
        return self

    def copy(self):
        m = Model.__new__(Model)
        m.__dict__.update(self.__dict__)
        m.params = self.params.copy()
        return m

    # ---- compute ----------------------------------------------------------------
    def buffers(self):
        """Fresh (acts, dacts, grads) work buffers for the compiled engine."""
        return (np.zeros(self.plan.n_acts, self.dtype), np.zeros(self.plan.n_acts, self.dtype),
                np.zeros(self.plan.n_params, self.dtype))

    def as_images(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[None]
        _, H, W = self.arch.input_shape
        if x.ndim != 3 or x.shape[1:] != (H, W):
            raise UsageError(f"expected images of shape (N, {H}, {W}), got {x.shape}")
        return np.ascontiguousarray(x, dtype=self.dtype)

    def predict(self, x):
        """Network outputs (N, 10) for images (N, 16, 16) or one (16, 16) image."""
        x = self.as_images(x)
        out = np.zeros((x.shape[0], self.plan.n_outputs), self.dtype)
        lane_acts, part = lane_buffers(self.plan, self.dtype)
        walk = forward_batch_fast if self.numerics == "fast" else forward_batch
        walk(self.table, self.pad_values, self.conn, self.params, lane_acts, part, x, out)
        return out

    def classify(self, x):
        """The digit (N,) the network reads in each image (N, 16, 16) (metrics.predictions)."""
        return predictions(self.predict(x))

    def layer_outputs(self, image):
        """[(layer name, output array (maps, H, W), post-activation)] for one 16x16 image,
        from the compiled forward pass."""
        x = self.as_images(image)
        if x.shape[0] != 1:
            raise UsageError(f"layer_outputs takes one image, got {x.shape[0]}")
        acts = np.zeros(self.plan.n_acts, self.dtype)
        load_input(x[0], acts)
        forward(self.table, self.pad_values, self.conn, self.params, acts)
        out = []
        for layer, row in zip(self.arch.layers, self.table):
            c, h, w, off = int(row[OUT_C]), int(row[OUT_H]), int(row[OUT_W]), int(row[OUT_OFF])
            out.append((layer.name, acts[off:off + c * h * w].reshape(c, h, w).copy()))
        return out

    def as_labels(self, labels, n):
        """int64 labels, checked: the compiled code indexes the outputs with them."""
        y = np.ascontiguousarray(labels, dtype=np.int64).reshape(-1)
        if len(y) != n:
            raise UsageError(f"{n} images but {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= self.plan.n_outputs):
            raise UsageError(f"labels must be in 0..{self.plan.n_outputs - 1}")
        return y

    def loss_and_grad(self, image, label, loss="mse", label_smoothing=0.0):
        """Loss of one sample and dL/dparams (flat, a fresh array); label_smoothing: the CE
        target's eps (kernels/losses.py; 0 = plain CE)."""
        label = self.as_labels([label], 1)[0]
        acts, dacts, grads = self.buffers()
        img = self.as_images(image)[0]
        loss_value = sample_loss_and_grad(self.table, self.pad_values, self.conn, self.params, acts,
                                          dacts, grads, img, int(label), loss_kind(loss), float(label_smoothing))
        return float(loss_value), grads

    def evaluate(self, x, y, loss="mse"):
        """dict(error, loss, scores, predictions) over a labelled set."""
        y = self.as_labels(y, len(self.as_images(x)))
        scores = self.predict(x)
        losses = np.zeros(len(y), np.float64)
        batch_losses(scores, y, loss_kind(loss), losses)
        pred = predictions(scores)
        return {"error": float(np.mean(pred != y)), "loss": float(losses.mean()),
                "scores": scores, "predictions": pred}

    def __repr__(self):
        return (f"Model({self.arch.name!r}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, dtype={self.dtype.name!r}, "
                f"numerics={self.numerics!r}, "
                f"params={self.n_free_params})")


@njit(cache=True)
def batch_losses(scores, labels, loss_kind, losses):
    grad = np.empty(scores.shape[1], scores.dtype)
    for n in range(scores.shape[0]):
        losses[n] = loss_forward_backward(loss_kind, scores[n], labels[n], grad)
