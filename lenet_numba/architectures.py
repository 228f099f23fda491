"""The networks as data: layer lists, shapes, parameter names and flat-buffer offsets.

Three networks from 1989:

* ``lenet1`` — LeNet-1 as the PyTorch code of "Understanding LeNet-1: A Gentle Introduction"
  (2025) writes it (a simplification of the network of LeCun et al., NIPS 1989):
  C1 4@5x5 pad 2 -> S1 (alpha, beta) -> C2 12@5x5 -> S2 (alpha, beta) -> F1 48->30 -> F2 30->10.
  3,128 trainable parameters. Names and shapes follow the article's PyTorch module.
* ``zipcode1989`` — the zip-code network of LeCun et al., Neural Computation 1(4), 1989:
  16x16 padded by 2 with -1; H1 12@5x5 stride 2 -> 12x8x8 with one bias per unit;
  H2 12@5x5 stride 2 on the -1-padded H1, each map reading 8 of the 12 H1 maps, one bias
  per unit -> 12x4x4; H3 192->30; output 30->10. 1,256 units, 64,660 connections,
  9,760 free parameters.
* ``lenet1-nips1989`` — the network of LeCun, Boser, Denker, Henderson, Howard, Hubbard,
  Jackel, *Handwritten Digit Recognition with a Back-Propagation Network*, NIPS 2 (1989):
  the 16x16 digit in a 28x28 input plane (padded by 6 with the background -1); H1 4@24x24
  (5x5); H2 4@12x12 (2x2 averaging, a coefficient and a bias per map); H3 12@8x8 (5x5)
  reading 20 of the 48 (H3, H2) map pairs (the paper's Table 1); H4 12@4x4 (as H2);
  10 outputs fully connected to H4. 4,635 units, 98,442 connections, 2,578 free parameters.

A connection table may be ragged (H3 above: some maps read one map, some two). The plan
pads each row to the longest with copies of its first entry; those padded weight slots are
*dead*: held at exactly 0 (init, load, and a zero step size in training), so they add
nothing, and they are not free parameters (``Plan.free``).

``build`` turns a layer list into a :class:`Plan`: an int64 table the compiled engine
interprets (one row per layer), plus the parameter layout (name -> offset, shape).
"""

from dataclasses import dataclass, field

import numpy as np

from .kernels import activations
from .limits import check_choice

# layer kinds (the plan's KIND column)
CONV, SUBSAMPLE, DENSE = 0, 1, 2

# plan columns
(KIND, ACT, IN_OFF, IN_C, IN_H, IN_W, PAD, PAD_OFF, OUT_OFF, OUT_C, OUT_H, OUT_W, K, STRIDE,
 W_OFF, B_OFF, BIAS_PER_UNIT, CONN_OFF, N_CONN, COMPUTE_DX) = range(20)
N_COLUMNS = 20


@dataclass(frozen=True)
class Conv:
    name: str
    maps: int
    kernel: int = 5
    stride: int = 1
    pad: int = 0
    pad_value: float = 0.0
    connections: tuple = None  # per output map, the input maps it reads; None = all
    bias_per_unit: bool = False


@dataclass(frozen=True)
class Subsample:
    name: str


@dataclass(frozen=True)
class Dense:
    name: str
    units: int


@dataclass(frozen=True)
class Architecture:
    name: str
    input_shape: tuple
    layers: tuple
    description: str = ""
    # how the paper counts units: "image" (the 16x16 digit) or "field" (the first layer's
    # padded input plane); bias_unit: plus one always-on unit feeding every bias
    input_units: str = "image"
    bias_unit: bool = False
    published: tuple = None  # (units, connections, free parameters) as the paper states them


# H2 of the zip-code net: out 0-3 <- in 0-7, out 4-7 <- in 4-11, out 8-11 <- in 0-3 and 8-11
_ZIP_H2 = tuple([tuple(range(0, 8))] * 4 + [tuple(range(4, 12))] * 4
                + [tuple(range(0, 4)) + tuple(range(8, 12))] * 4)

# H3 of the NIPS 1989 net (Table 1 there): which of the 4 H2 maps each of the 12 H3 maps
# reads. 20 pairs: one map on each H2 map alone, four on maps 0 and 1, four on maps 2 and 3
# (the paper's Table 1 is a picture; this is our reading of it, see README "What was guessed").
_NIPS_H3 = ((0,), (1,), (2,), (3,)) + ((0, 1),) * 4 + ((2, 3),) * 4

ARCHITECTURES = {
    "lenet1": Architecture(
        "lenet1", (1, 16, 16),
        (Conv("conv1", 4, 5, pad=2), Subsample("pool1"),
         Conv("conv2", 12, 5), Subsample("pool2"),
         Dense("fc1", 30), Dense("fc2", 10)),
        "LeNet-1 (the article's network): C1 4@5x5 pad 2, S1, C2 12@5x5, S2, F1 48->30, F2 30->10",
    ),
    "zipcode1989": Architecture(
        "zipcode1989", (1, 16, 16),
        (Conv("h1", 12, 5, stride=2, pad=2, pad_value=-1.0, bias_per_unit=True),
         Conv("h2", 12, 5, stride=2, pad=2, pad_value=-1.0, connections=_ZIP_H2, bias_per_unit=True),
         Dense("h3", 30), Dense("out", 10)),
        "LeCun et al. 1989 zip-code net: H1 12@5x5/2, H2 12@5x5/2 (8 of 12 maps), H3 30, out 10",
        published=(1256, 64660, 9760),  # Neural Computation 1(4), 1989, p. 546
    ),
    "lenet1-nips1989": Architecture(
        "lenet1-nips1989", (1, 16, 16),
        (Conv("h1", 4, 5, pad=6, pad_value=-1.0),                # 28x28 plane -> 4@24x24: 2,304 units
         Subsample("h2"),                                        # 4@12x12: 576 units
         Conv("h3", 12, 5, connections=_NIPS_H3),                # 12@8x8: 768 units, 20 kernels
         Subsample("h4"),                                        # 12@4x4: 192 units
         Dense("out", 10)),                                      # 10 units
        "LeCun et al. NIPS 1989: 28x28 plane, H1 4@24x24, H2 avg, H3 12@8x8 (Table 1), H4 avg, 10 out",
        # units 28*28 + 1 + 2304 + 576 + 768 + 192 + 10 = 4,635; connections 2304*26 + 576*5
        # + 64*(20*25 + 12) + 192*5 + 10*193 = 98,442; parameters 4*25+4 + 8 + 20*25+12 + 24
        # + 1930 = 2,578 (NIPS 2, 1989, p. 402)
        input_units="field", bias_unit=True, published=(4635, 98442, 2578),
    ),
}


@dataclass
class Plan:
    """Everything the compiled engine needs about one network, as arrays."""

    arch: Architecture
    table: np.ndarray        # (n_layers, N_COLUMNS) int64
    pad_values: np.ndarray   # (n_layers,) float64
    conn: np.ndarray         # all connection tables, flat int64
    n_params: int
    n_acts: int              # length of the activation buffer
    params: dict = field(default_factory=dict)  # name -> (offset, shape)
    fan_in: dict = field(default_factory=dict)  # weight name -> fan-in F (for the init), per map if ragged
    units: int = 0
    connections: int = 0     # multiply-adds of one forward pass, biases counted as connections
    free: np.ndarray = None  # (n_params,) bool: False on the dead slots of a ragged table
    layer_counts: list = field(default_factory=list)  # per layer: dict(units, connections, params)

    @property
    def free_params(self):
        return int(self.free.sum())

    @property
    def n_outputs(self):
        return int(self.table[-1, OUT_C] * self.table[-1, OUT_H] * self.table[-1, OUT_W])


def build(arch, hidden_activation="tanh", output_activation="identity", numerics="exact"):
    """Lay out parameters and activations of ``arch`` and return its :class:`Plan`.

    numerics: "exact" or "fast" (numerics.py), which picks the activations' codes.

    Activation buffer: [input][for each layer: padded input (if padded), output].
    """
    if isinstance(arch, str):
        arch = get(arch)
    hidden = activations.NAMES[hidden_activation]
    last = activations.NAMES[output_activation]
    if numerics == "fast":
        hidden, last = activations.FAST[hidden], activations.FAST[last]
    C, H, W = arch.input_shape
    act_off = C * H * W
    in_off = 0
    p_off = 0
    rows, pad_values, conns = [], [], []
    conn_off = 0
    params, fan_in = {}, {}
    first = arch.layers[0] if arch.layers else None
    field_pad = first.pad if arch.input_units == "field" and isinstance(first, Conv) else 0
    units = C * (H + 2 * field_pad) * (W + 2 * field_pad) + int(arch.bias_unit)
    connections = 0
    dead = []  # (offset, length) of dead weight slots
    layer_counts = []

    def add_param(name, shape):
        nonlocal p_off
        params[name] = (p_off, tuple(shape))
        p_off += int(np.prod(shape))
        return params[name][0]

    for li, layer in enumerate(arch.layers):
        row = np.zeros(N_COLUMNS, np.int64)
        row[IN_OFF], row[IN_C], row[IN_H], row[IN_W] = in_off, C, H, W
        row[ACT] = last if li == len(arch.layers) - 1 else hidden
        row[COMPUTE_DX] = li > 0
        row[PAD_OFF] = -1
        pad_value = 0.0
        if isinstance(layer, Conv):
            row[KIND] = CONV
            if layer.pad:
                row[PAD], row[PAD_OFF] = layer.pad, act_off
                act_off += C * (H + 2 * layer.pad) * (W + 2 * layer.pad)
                pad_value = layer.pad_value
            Hp, Wp = H + 2 * layer.pad, W + 2 * layer.pad
            Ho = (Hp - layer.kernel) // layer.stride + 1
            Wo = (Wp - layer.kernel) // layer.stride + 1
            rows_in = layer.connections or tuple([tuple(range(C))] * layer.maps)
            n_conn = max(len(r) for r in rows_in)
            if len(rows_in) != layer.maps or min(len(r) for r in rows_in) < 1:
                raise ValueError(f"{arch.name}.{layer.name}: bad connection table")
            # a ragged row is padded with its first map; the padded slots are dead weights
            table = np.asarray([tuple(r) + (r[0],) * (n_conn - len(r)) for r in rows_in], np.int64)
            if table.min() < 0 or table.max() >= C:
                raise ValueError(f"{arch.name}.{layer.name}: bad connection table")
            pairs = sum(len(r) for r in rows_in)
            row[K], row[STRIDE], row[N_CONN], row[CONN_OFF] = layer.kernel, layer.stride, n_conn, conn_off
            conns.append(table.ravel())
            conn_off += table.size
            row[W_OFF] = add_param(f"{layer.name}.weight", (layer.maps, n_conn, layer.kernel, layer.kernel))
            kk = layer.kernel ** 2
            for o, r in enumerate(rows_in):
                if len(r) < n_conn:
                    dead.append((int(row[W_OFF]) + (o * n_conn + len(r)) * kk, (n_conn - len(r)) * kk))
            bshape = (layer.maps, Ho, Wo) if layer.bias_per_unit else (layer.maps,)
            row[B_OFF] = add_param(f"{layer.name}.bias", bshape)
            row[BIAS_PER_UNIT] = layer.bias_per_unit
            # fan-in per output map when the table is ragged, else one number
            fan_in[f"{layer.name}.weight"] = n_conn * kk if pairs == n_conn * layer.maps else \
                np.array([len(r) * kk for r in rows_in], float).reshape(-1, 1, 1, 1)
            C, H, W = layer.maps, Ho, Wo
            n_conns = H * W * (pairs * kk + C)
            n_free = pairs * kk + int(np.prod(bshape))
        elif isinstance(layer, Subsample):
            row[KIND] = SUBSAMPLE
            row[W_OFF] = add_param(f"{layer.name}.alpha", (C,))
            row[B_OFF] = add_param(f"{layer.name}.beta", (C,))
            H, W = H // 2, W // 2
            n_conns, n_free = C * H * W * 5, 2 * C
        elif isinstance(layer, Dense):
            row[KIND] = DENSE
            n_in = C * H * W
            row[W_OFF] = add_param(f"{layer.name}.weight", (layer.units, n_in))
            row[B_OFF] = add_param(f"{layer.name}.bias", (layer.units,))
            fan_in[f"{layer.name}.weight"] = n_in
            C, H, W = layer.units, 1, 1
            n_conns, n_free = layer.units * (n_in + 1), layer.units * (n_in + 1)
        else:
            raise TypeError(f"unknown layer {layer!r}")
        row[OUT_OFF], row[OUT_C], row[OUT_H], row[OUT_W] = act_off, C, H, W
        connections += n_conns
        layer_counts.append({"units": C * H * W, "connections": n_conns, "params": n_free})
        in_off = act_off
        act_off += C * H * W
        units += C * H * W
        rows.append(row)
        pad_values.append(pad_value)

    if arch.published and arch.published != (units, connections, p_off - sum(n for _, n in dead)):
        raise ValueError(f"{arch.name}: layout gives {units} units, {connections} connections, "
                         f"{p_off - sum(n for _, n in dead)} free parameters; the paper states {arch.published}")
    free = np.ones(p_off, bool)
    for off, n in dead:
        free[off:off + n] = False
    return Plan(arch=arch, table=np.stack(rows), pad_values=np.asarray(pad_values, np.float64),
                conn=np.concatenate(conns) if conns else np.zeros(0, np.int64),
                n_params=p_off, n_acts=act_off, params=params, fan_in=fan_in,
                units=units, connections=connections, free=free, layer_counts=layer_counts)


def get(name):
    return ARCHITECTURES[check_choice(name, ARCHITECTURES, "architecture")]
