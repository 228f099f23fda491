"""Optional PyTorch interop: the same networks as ``torch.nn.Module`` s, weights both ways.

    >>> from lenet_numba.interop import to_torch, from_state_dict
    >>> net = to_torch(model)                  # nn.Module computing exactly model.predict
    >>> model2 = from_state_dict(net.state_dict())   # the same network, weights and all

What the network is travels with its weights: ``to_state_dict(model)`` and the module's
``state_dict()`` hold an ``_extra_state`` entry ``{"arch", "activation", "output_activation"}``
(``Model.description()``), and loading refuses a description that differs from the one
asked for (a 1989-recipe net is scaled tanh; rebuilt as tanh it is another function). A
bare name -> array dict has none: then arch and both activations must be given.

PyTorch is never imported by ``import lenet_numba`` nor by importing this module: only
calling one of the functions below that needs it imports it.

The module is built from the architecture's layer list, one attribute per layer, named as
the layer (so ``state_dict()`` keys are lenet-numba's parameter names):

* a plain conv (all input maps, one bias per map, zero padding) is an ``nn.Conv2d``
  (LeNet-1's ``conv1 = nn.Conv2d(1, 4, 5, padding=2)``, ``conv2 = nn.Conv2d(4, 12, 5)``);
* any other conv (the 1989 nets' H1, H2, H3) is a :class:`TableConv`: ``weight`` (maps, n_conn,
  K, K), ``bias`` (maps, H_out, W_out) or (maps,), padding with ``pad_value``, and
  ``weight[o, j]`` applied to input map ``conn[o, j]`` (a grouped conv on gathered maps); a
  ragged table's padded slots are multiplied by a 0 mask, so they stay out of the function
  and get no gradient;
* a subsampling layer is a :class:`Subsample`: ``alpha[c] * avg_pool2d(x, 2) + beta[c]``;
* a dense layer flattens in (map, row, col) order and is an ``nn.Linear``.

Every layer is followed by the hidden activation, the last one by the output activation.
"""

import functools

import os

import numpy as np

from . import architectures
from .errors import UsageError
from .kernels.activations import NAMES as ACTIVATIONS
from .kernels.activations import SCALED_A, SCALED_S


def _torch():
    try:
        import torch
    except ImportError:
        raise UsageError("PyTorch is not installed: pip install torch") from None
    return torch


@functools.lru_cache(maxsize=None)
def _classes():
    """The nn.Module classes, defined on first use (they need torch at definition time)."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    def activation(name):
        if name not in ACTIVATIONS:
            raise UsageError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
        if name == "tanh":
            return torch.tanh
        if name == "scaled-tanh":
            return lambda a: SCALED_A * torch.tanh(SCALED_S * a)
        return lambda a: a

    class Subsample(nn.Module):
        """y[c] = alpha[c] * mean of each 2x2 block of x[c] + beta[c]."""

        def __init__(self, maps):
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(maps))
            self.beta = nn.Parameter(torch.zeros(maps))

        def forward(self, x):
            return self.alpha[:, None, None] * F.avg_pool2d(x, 2) + self.beta[:, None, None]

        def extra_repr(self):
            return f"maps={self.alpha.shape[0]}"

    class TableConv(nn.Module):
        """Cross-correlation with a connection table, constant padding, per-unit biases."""

        def __init__(self, in_maps, maps, kernel, stride, pad, pad_value, connections, out_hw,
                     bias_per_unit):
            super().__init__()
            n_conn = in_maps if connections is None else max(len(r) for r in connections)
            self.stride, self.pad, self.pad_value = stride, pad, float(pad_value)
            self.weight = nn.Parameter(torch.zeros(maps, n_conn, kernel, kernel))
            self.bias = nn.Parameter(torch.zeros((maps, *out_hw) if bias_per_unit else (maps,)))
            # gathered input channel o * n_conn + j = input map conn[o, j]; one group per output map
            # (a ragged row padded with its first map, as architectures.build does; mask 0 there)
            padded = None if connections is None else [tuple(r) + (r[0],) * (n_conn - len(r)) for r in connections]
            index = None if padded is None else torch.as_tensor(np.ravel(padded))
            self.register_buffer("index", index, persistent=False)
            ragged = connections is not None and any(len(r) < n_conn for r in connections)
            mask = None
            if ragged:
                mask = torch.zeros(maps, n_conn, 1, 1)
                for o, r in enumerate(connections):
                    mask[o, :len(r)] = 1.0
            self.register_buffer("mask", mask, persistent=False)
            self.groups = 1 if connections is None else maps

        def forward(self, x):
            if self.pad:
                x = F.pad(x, (self.pad,) * 4, value=self.pad_value)
            if self.index is not None:
                x = x[:, self.index]
            per_map = self.bias.dim() == 1
            w = self.weight if self.mask is None else self.weight * self.mask.to(self.weight.dtype)
            y = F.conv2d(x, w, self.bias if per_map else None, self.stride, groups=self.groups)
            return y if per_map else y + self.bias

        def extra_repr(self):
            return (f"weight={tuple(self.weight.shape)}, bias={tuple(self.bias.shape)}, "
                    f"stride={self.stride}, pad={self.pad} (value {self.pad_value:g}), groups={self.groups}")

    class LeNet(nn.Module):
        """A lenet-numba architecture as an nn.Module; input (N, 16, 16) or (N, 1, 16, 16)."""

        def __init__(self, arch="lenet1", activation_name="tanh", output_activation="identity"):
            super().__init__()
            arch = architectures.get(arch) if isinstance(arch, str) else arch
            self.arch, self.activation, self.output_activation = arch, activation_name, output_activation
            self._hidden, self._output = activation(activation_name), activation(output_activation)
            self.layer_names = [layer.name for layer in arch.layers]
            C, H, W = arch.input_shape
            for layer in arch.layers:
                if isinstance(layer, architectures.Conv):
                    Ho = (H + 2 * layer.pad - layer.kernel) // layer.stride + 1
                    Wo = (W + 2 * layer.pad - layer.kernel) // layer.stride + 1
                    plain = layer.connections is None and not layer.bias_per_unit and layer.pad_value == 0
                    if plain:
                        module = nn.Conv2d(C, layer.maps, layer.kernel, layer.stride, layer.pad)
                    else:
                        module = TableConv(C, layer.maps, layer.kernel, layer.stride, layer.pad,
                                           layer.pad_value, layer.connections, (Ho, Wo), layer.bias_per_unit)
                    C, H, W = layer.maps, Ho, Wo
                elif isinstance(layer, architectures.Subsample):
                    module, H, W = Subsample(C), H // 2, W // 2
                else:
                    module, C, H, W = nn.Linear(C * H * W, layer.units), layer.units, 1, 1
                self.add_module(layer.name, module)

        def forward(self, x):
            x = x.reshape(-1, *self.arch.input_shape)
            for i, name in enumerate(self.layer_names):
                module = getattr(self, name)
                if isinstance(module, nn.Linear):
                    x = x.flatten(1)  # (map, row, col) order, as lenet-numba's buffers
                x = module(x)
                x = self._output(x) if i == len(self.layer_names) - 1 else self._hidden(x)
            return x

        def extra_repr(self):
            return (f"arch={self.arch.name!r}, activation={self.activation!r}, "
                    f"output_activation={self.output_activation!r}")

        def get_extra_state(self):
            return description_of(self)

        def set_extra_state(self, state):
            check_description(state, description_of(self))

    return LeNet, TableConv, Subsample


NETWORK_KEY = "_extra_state"  # where nn.Module.state_dict() keeps get_extra_state()
DESCRIPTION_FIELDS = ("arch", "activation", "output_activation")


def description_of(net):
    """{"arch", "activation", "output_activation"} of a Model or a module made here."""
    arch = net.arch.name if hasattr(net.arch, "name") else net.arch
    return {"arch": arch, "activation": net.activation, "output_activation": net.output_activation}


def check_description(given, expected):
    """Refuse a state dict whose network description differs from the one expected."""
    if not isinstance(given, dict) or set(given) != set(DESCRIPTION_FIELDS):
        raise UsageError(f"state dict's network description is not {{arch, activation, output_activation}}: "
                         f"{given!r}")
    diff = [f"{k} {given[k]!r} (expected {expected[k]!r})" for k in DESCRIPTION_FIELDS
            if expected.get(k) is not None and given[k] != expected[k]]
    if diff:
        raise UsageError("state dict is for another network: " + ", ".join(diff))


def torch_module(arch="lenet1", activation="tanh", output_activation="identity", seed=0, dtype=None):
    """A fresh ``nn.Module`` computing what ``Model(arch, activation, output_activation)`` does.

    Its weights are lenet-numba's initialisation for ``seed`` (so it equals
    ``to_torch(Model(arch, ..., seed=seed))``); ``dtype`` is a torch dtype (default float32).
    """
    from .model import Model

    torch = _torch()
    LeNet = _classes()[0]
    module = LeNet(arch, activation, output_activation)
    module.load_state_dict(to_state_dict(Model(arch, activation, output_activation, "float64", seed)))
    return module.to(torch.float32 if dtype is None else dtype)


def to_state_dict(params, dtype=None):
    """name -> torch tensor (a copy) from a checkpoint file (path), a lenet-numba ``Model``
    or a name -> ndarray dict. From a Model or a checkpoint it also holds ``_extra_state``:
    the network's description (``Model.description()``), as an nn.Module's state dict does.

    ``dtype``: a torch dtype to cast to; by default each tensor keeps its array's dtype.
    """
    torch = _torch()
    if isinstance(params, (str, os.PathLike)):  # a checkpoint: checked like `lenet-numba eval` does
        from .experiment import model_from_checkpoint

        params = model_from_checkpoint(params)[0]
    out = {}
    if hasattr(params, "state_dict") and hasattr(params, "plan"):
        out[NETWORK_KEY] = params.description()
        params = params.state_dict()
    for name, value in params.items():
        tensor = torch.from_numpy(np.array(value, copy=True))
        out[name] = tensor if dtype is None else tensor.to(dtype)
    return out


def from_state_dict(state_dict, arch=None, activation=None, output_activation=None, dtype=None, model=None):
    """A lenet-numba ``Model`` holding the weights of a (torch or NumPy) state dict.

    The network is the state dict's own description (``_extra_state``); arch/activations
    given too must equal it. A state dict without one needs all three given. With
    ``model``, fills that model in place (casting to its dtype; its description must match)
    and returns it; otherwise builds one with ``dtype`` (default: the state dict's floating
    dtype if float32 or float64, else float32). Other keys must be exactly the model's
    parameter names.
    """
    from .model import Model

    state_dict = dict(state_dict)
    described = state_dict.pop(NETWORK_KEY, None)
    asked = {"arch": arch, "activation": activation, "output_activation": output_activation}
    if model is not None:
        asked = model.description()
    if described is not None:
        check_description(described, asked)
        asked = dict(described)
    elif model is None and None in asked.values():
        raise UsageError("this state dict does not say which network it holds: pass arch=, activation= and "
                         "output_activation= (a 1989-recipe network is scaled-tanh/scaled-tanh)")
    arrays = {name: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v))
              for name, v in state_dict.items()}
    arch, activation, output_activation = asked["arch"], asked["activation"], asked["output_activation"]
    if model is None:
        if dtype is None:
            kinds = {a.dtype for a in arrays.values()}
            dtype = kinds.pop() if len(kinds) == 1 and kinds <= {np.dtype("float32"), np.dtype("float64")} \
                else np.float32
        model = Model(arch, activation, output_activation, dtype=dtype, init=False)
    extra = sorted(set(arrays) - set(model.param_names))
    if extra:
        raise UsageError(f"state dict has keys {model.arch.name} does not: {', '.join(extra)}")
    model.load_state_dict(arrays)
    return model


def to_torch(model):
    """An ``nn.Module`` with ``model``'s architecture, activations, dtype and weights."""
    torch = _torch()
    module = _classes()[0](model.arch, model.activation, model.output_activation)
    module.to({np.float32: torch.float32, np.float64: torch.float64}[model.dtype.type])
    module.load_state_dict(to_state_dict(model))
    return module


def from_torch(module, dtype=None):
    """The inverse of :func:`to_torch`: a ``Model`` from a module made by this file."""
    return from_state_dict(module.state_dict(), dtype=dtype)
