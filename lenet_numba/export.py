"""A network as an ONNX model, built from its plan (so a new architecture needs no new code).

    >>> from lenet_numba.export import to_onnx, save_onnx
    >>> save_onnx(model, "m.onnx")     # input "image" (N, 16, 16) float32 -> output "scores" (N, 10)

Opset ``OPSET`` (17, default domain). Layer by layer, as the engine computes them:

* Conv: ``pad`` rows/columns of ``pad_value`` (-1 for the zip-code net) as a constant
  ``Pad``, then one ``Conv`` with ``stride``. A connection table (an output map reading
  some input maps only) becomes a full kernel with zeros where there is no connection.
  One bias per map is the Conv's bias; one bias per unit is an ``Add`` of a (maps, H, W)
  tensor after it.
* Subsample: ``AveragePool`` 2x2 stride 2 (the mean of four), then ``Mul`` by alpha and
  ``Add`` beta, one of each per map.
* Dense: ``Flatten`` (maps, rows, columns order: the engine's layout) and ``Gemm``.
* Activations: tanh -> ``Tanh``; scaled tanh 1.7159 tanh(2x/3) -> Mul, Tanh, Mul;
  identity -> nothing.

Everything is float32 (a float64 model is exported in float32). Needs the optional
``onnx`` extra; nothing else in the package imports onnx.
"""

import numpy as np

from .architectures import Conv, Dense, Subsample
from .atomic import atomic_open
from .errors import MissingDependency
from .kernels.activations import SCALED_A, SCALED_S

OPSET = 17


def require_onnx():
    try:
        import onnx
    except ImportError:
        raise MissingDependency("export needs onnx: pip install 'lenet-numba[onnx]'") from None
    return onnx


def to_onnx(model):
    """The ``onnx.ModelProto`` computing ``model.predict``."""
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    from .architectures import OUT_C, OUT_H, OUT_W

    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32 if np.asarray(array).dtype.kind == "f"
                                                        else np.int64), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    _, H, W = model.arch.input_shape
    x = node("Reshape", ["image", const("input_shape", [-1, 1, H, W])], "input")
    n_layers = len(model.arch.layers)
    for li, (layer, row) in enumerate(zip(model.arch.layers, model.plan.table)):
        p = layer.name
        if isinstance(layer, Conv):
            if layer.pad:
                k = layer.pad
                x = node("Pad", [x, const(f"{p}.pads", [0, 0, k, k, 0, 0, k, k]),
                                 const(f"{p}.pad_value", np.float32(layer.pad_value))], f"{p}.padded", mode="constant")
            n_out = int(row[OUT_C])
            w = const(f"{p}.weight", model.full_kernels(p)[0])
            bias = np.asarray(model[f"{p}.bias"])
            conv_inputs = [x, w] if layer.bias_per_unit else [x, w, const(f"{p}.bias", bias)]
            x = node("Conv", conv_inputs, f"{p}.conv", kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2)
            if layer.bias_per_unit:
                x = node("Add", [x, const(f"{p}.bias", bias.reshape(n_out, int(row[OUT_H]), int(row[OUT_W])))],
                         f"{p}.biased")
        elif isinstance(layer, Subsample):
            x = node("AveragePool", [x], f"{p}.mean", kernel_shape=[2, 2], strides=[2, 2])
            x = node("Mul", [x, const(f"{p}.alpha", np.asarray(model[f"{p}.alpha"]).reshape(-1, 1, 1))], f"{p}.scaled")
            x = node("Add", [x, const(f"{p}.beta", np.asarray(model[f"{p}.beta"]).reshape(-1, 1, 1))], f"{p}.shifted")
        elif isinstance(layer, Dense):
            x = node("Flatten", [x], f"{p}.flat", axis=1)
            x = node("Gemm", [x, const(f"{p}.weight", model[f"{p}.weight"]), const(f"{p}.bias", model[f"{p}.bias"])],
                     f"{p}.linear", transB=1)
        else:
            raise TypeError(f"cannot export layer {layer!r}")
        activation = model.output_activation if li == n_layers - 1 else model.activation
        x = _activation(node, const, activation, x, p)
    n_out = model.plan.n_outputs
    nodes.append(helper.make_node("Flatten", [x], ["scores"], name="scores", axis=1))
    graph = helper.make_graph(
        nodes, f"lenet_numba_{model.arch.name}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", H, W])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", n_out])],
        initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lenet-numba", doc_string=model.arch.description)
    proto.ir_version = min(proto.ir_version, 8)  # the IR of opset 17, readable by older runtimes
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _activation(node, const, name, x, p):
    if name == "identity":
        return x
    if name == "tanh":
        return node("Tanh", [x], f"{p}.tanh")
    if name == "scaled-tanh":
        x = node("Mul", [x, const(f"{p}.tanh_slope", np.float32(SCALED_S))], f"{p}.tanh_in")
        x = node("Tanh", [x], f"{p}.tanh")
        return node("Mul", [x, const(f"{p}.tanh_amplitude", np.float32(SCALED_A))], f"{p}.scaled_tanh")
    raise ValueError(f"cannot export activation {name!r}")


def save_onnx(model, path):
    """Write ``to_onnx(model)`` to ``path`` atomically (a failure leaves no half file)."""
    data = to_onnx(model).SerializeToString()
    with atomic_open(path, "wb") as f:
        f.write(data)
    return len(data)
