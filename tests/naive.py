"""Slow, obvious NumPy twins of every compiled kernel, and of a whole network.

Everything here computes in float64 whatever the input dtype, returns fresh arrays, and
is written from the definitions (not from the compiled code): explicit loops, slices, or
``sliding_window_view``. The whole-network twin walks the architecture's *layer list*
(``model.arch.layers``) with these layer twins; it never looks at the plan's int64 table,
its offsets or its flat buffers, so comparing it with ``Model.predict`` really checks the
compiled interpreter in ``network.py`` and the layout in ``architectures.build``.

Conventions (from the library's docstrings, i.e. the spec):
  conv   x (C_in, H, W) already padded, w (C_out, n_conn, K, K), conn (C_out, n_conn),
         b (C_out,) or (C_out * H_out * W_out,), y (C_out, H_out, W_out),
         H_out = (H - K) // stride + 1, cross-correlation (no kernel flip).
  sub    y[c, i, j] = alpha[c] * mean(x[c, 2i:2i+2, 2j:2j+2]) + beta[c]; odd last row/col dropped.
  dense  y = w @ x + b, w (n_out, n_in).
  acts   identity, tanh, scaled tanh 1.7159 tanh(2a/3).
  MSE    mean_k (y_k - t_k)^2, t = +1 for the label, -1 elsewhere.
  CE     logsumexp(z) - z[label].
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Spelled out here rather than imported, so a wrong constant in the library is caught.
SCALED_A = 1.7159
SCALED_S = 2.0 / 3.0


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


# ---------------------------------------------------------------- padding


def pad_forward(x, pad, value):
    (x,) = _f64(x)
    C, H, W = x.shape
    xp = np.full((C, H + 2 * pad, W + 2 * pad), float(value))
    xp[:, pad:pad + H, pad:pad + W] = x
    return xp


def pad_backward(dxp, pad):
    (dxp,) = _f64(dxp)
    _, Hp, Wp = dxp.shape
    return dxp[:, pad:Hp - pad, pad:Wp - pad].copy()


# ---------------------------------------------------------------- convolution


def conv_out_size(n, K, stride):
    return (n - K) // stride + 1


def conv2d_forward(x, w, b, conn, stride, bias_per_unit):
    """Every output is a dot product of one K x K window with the kernel (sliding windows)."""
    x, w, b = _f64(x, w, b)
    conn = np.asarray(conn)
    C_out, n_conn, K, _ = w.shape
    # windows[c, oy, ox] = x[c, oy*stride : oy*stride+K, ox*stride : ox*stride+K]
    windows = sliding_window_view(x, (K, K), axis=(1, 2))[:, ::stride, ::stride]
    H_out, W_out = windows.shape[1], windows.shape[2]
    assert (H_out, W_out) == (conv_out_size(x.shape[1], K, stride), conv_out_size(x.shape[2], K, stride))
    y = np.zeros((C_out, H_out, W_out))
    for o in range(C_out):
        for j in range(n_conn):
            y[o] += np.einsum("yxab,ab->yx", windows[conn[o, j]], w[o, j])
    if bias_per_unit:
        y += b.reshape(C_out, H_out, W_out)
    else:
        y += b[:, None, None]
    return y


def conv2d_backward(x, w, conn, stride, bias_per_unit, dy):
    """(dx, dw, db): each output unit scatters dy into its window, one unit at a time."""
    x, w, dy = _f64(x, w, dy)
    conn = np.asarray(conn)
    C_out, n_conn, K, _ = w.shape
    _, H_out, W_out = dy.shape
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for o in range(C_out):
        for j in range(n_conn):
            i = conn[o, j]
            for oy in range(H_out):
                for ox in range(W_out):
                    rows = slice(oy * stride, oy * stride + K)
                    cols = slice(ox * stride, ox * stride + K)
                    dw[o, j] += dy[o, oy, ox] * x[i, rows, cols]
                    dx[i, rows, cols] += dy[o, oy, ox] * w[o, j]
    db = dy.ravel().copy() if bias_per_unit else dy.sum(axis=(1, 2))
    return dx, dw, db


def full_connections(C_in, C_out):
    return np.tile(np.arange(C_in, dtype=np.int64), (C_out, 1))


# ---------------------------------------------------------------- subsampling


def subsample_forward(x, alpha, beta):
    x, alpha, beta = _f64(x, alpha, beta)
    C, H, W = x.shape
    y = np.zeros((C, H // 2, W // 2))
    for c in range(C):
        for i in range(H // 2):
            for j in range(W // 2):
                y[c, i, j] = alpha[c] * x[c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() + beta[c]
    return y


def subsample_backward(x, alpha, dy):
    """(dx, dalpha, dbeta); an odd last row/column never reached y, so its dx is 0."""
    x, alpha, dy = _f64(x, alpha, dy)
    C, H, W = x.shape
    dx = np.zeros_like(x)
    dalpha = np.zeros(C)
    dbeta = np.zeros(C)
    for c in range(C):
        for i in range(H // 2):
            for j in range(W // 2):
                block = x[c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                dx[c, 2 * i:2 * i + 2, 2 * j:2 * j + 2] = alpha[c] * dy[c, i, j] / 4.0
                dalpha[c] += dy[c, i, j] * block.mean()
                dbeta[c] += dy[c, i, j]
    return dx, dalpha, dbeta


# ---------------------------------------------------------------- dense


def dense_forward(x, w, b):
    x, w, b = _f64(x, w, b)
    return np.array([b[o] + sum(w[o, i] * x[i] for i in range(x.size)) for o in range(w.shape[0])])


def dense_backward(x, w, dy):
    """(dx, dw, db)."""
    x, w, dy = _f64(x, w, dy)
    return w.T @ dy, np.outer(dy, x), dy.copy()


# ---------------------------------------------------------------- activations

ACTIVATIONS = ("identity", "tanh", "scaled-tanh")


def activation(name, a):
    (a,) = _f64(a)
    if name == "identity":
        return a.copy()
    if name == "tanh":
        return np.tanh(a)
    if name == "scaled-tanh":
        return SCALED_A * np.tanh(SCALED_S * a)
    raise ValueError(name)


def activation_derivative(name, a):
    """f'(a) from the pre-activation a, via 1/cosh^2 (the library derives it from y = f(a))."""
    (a,) = _f64(a)
    with np.errstate(over="ignore"):
        if name == "identity":
            return np.ones_like(a)
        if name == "tanh":
            return 1.0 / np.cosh(a) ** 2
        if name == "scaled-tanh":
            return SCALED_A * SCALED_S / np.cosh(SCALED_S * a) ** 2
    raise ValueError(name)


# ---------------------------------------------------------------- losses


def mse(y, label):
    """(loss, dL/dy) with L = mean over outputs of (y - t)^2, t = +1 at label, -1 elsewhere."""
    (y,) = _f64(y)
    t = -np.ones_like(y)
    t[label] = 1.0
    return float(np.mean((y - t) ** 2)), 2.0 * (y - t) / y.size


def softmax_ce(z, label):
    """(loss, dL/dz) with L = logsumexp(z) - z[label], stable via logaddexp.reduce."""
    (z,) = _f64(z)
    lse = np.logaddexp.reduce(z)
    p = np.exp(z - lse)
    g = p.copy()
    g[label] -= 1.0
    return float(lse - z[label]), g


def softmax_ce_smoothed(z, label, eps):
    """(loss, dL/dz) of CE against the smoothed target q = (1 - eps) onehot + eps / K:
    L = logsumexp(z) - q . z, dL/dz = softmax(z) - q."""
    (z,) = _f64(z)
    q = np.full(z.size, eps / z.size)
    q[label] += 1.0 - eps
    lse = np.logaddexp.reduce(z)
    return float(lse - q @ z), np.exp(z - lse) - q


def sgd_update_decay(params, step, grads, weight_decay):
    """params - step * (grads + weight_decay * params): SGD on L + wd/2 |params|^2 (float64)."""
    params, step, grads = _f64(params, step, grads)
    return params - step * (grads + weight_decay * params)


LOSSES = {"mse": mse, "ce": softmax_ce}


def loss(name, y, label):
    return LOSSES[name](y, label)


# ---------------------------------------------------------------- whole network


def network_forward(arch, params, hidden="tanh", output="identity", image=None, trace=False):
    """Output vector of ``arch`` (an Architecture: its layer list) for one image.

    params: name -> array ("<layer>.weight", ".bias", ".alpha", ".beta"), shaped as the
    PyTorch seed names them. Conv layers pad with their ``pad_value``, read the input maps
    listed in ``connections`` (all maps when None) and have one bias per map or per unit.
    The last layer uses ``output``, every other ``hidden``. With ``trace``, also returns the
    list of every layer's output (post-activation) arrays.
    """
    from lenet_numba.architectures import Conv, Dense, Subsample  # layer *descriptions* only

    x = np.asarray(image, np.float64).reshape(arch.input_shape)
    outputs = []
    n = len(arch.layers)
    for li, layer in enumerate(arch.layers):
        f = output if li == n - 1 else hidden
        if isinstance(layer, Conv):
            xp = pad_forward(x, layer.pad, layer.pad_value)
            w = np.asarray(params[f"{layer.name}.weight"])
            if layer.connections is None:
                conn = full_connections(x.shape[0], layer.maps)
            else:
                conn = np.asarray(layer.connections, np.int64)
            b = np.asarray(params[f"{layer.name}.bias"]).ravel()
            a = conv2d_forward(xp, w, b, conn, layer.stride, layer.bias_per_unit)
        elif isinstance(layer, Subsample):
            a = subsample_forward(x, params[f"{layer.name}.alpha"], params[f"{layer.name}.beta"])
        elif isinstance(layer, Dense):
            a = dense_forward(x.ravel(), params[f"{layer.name}.weight"], params[f"{layer.name}.bias"])
        else:
            raise TypeError(layer)
        x = activation(f, a)
        outputs.append(x)
    y = x.ravel()
    return (y, outputs) if trace else y


def model_forward(model, image, params=None):
    """network_forward with a Model's architecture, activations and (named) parameters."""
    params = model.state_dict() if params is None else params
    return network_forward(model.arch, params, model.activation, model.output_activation, image)


def model_loss(model, image, label, loss_name, params=None):
    return loss(loss_name, model_forward(model, image, params), label)[0]
