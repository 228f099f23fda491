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


def conv2d_backward_gn(x, w, conn, stride, bias_per_unit, d2a):
    """(d2x, hw, hb) of the diagonal Gauss-Newton backward (LeCun et al. 1998, App. C): a
    weight sums d2a * (its input)^2 over the windows, a bias d2a, and each input
    w^2 * d2a over the (unit, tap) pairs that read it."""
    x, w, d2a = _f64(x, w, d2a)
    conn = np.asarray(conn)
    C_out, n_conn, K, _ = w.shape
    _, H_out, W_out = d2a.shape
    squares = sliding_window_view(x ** 2, (K, K), axis=(1, 2))[:, ::stride, ::stride][:, :H_out, :W_out]
    hw = np.array([[np.einsum("yxab,yx->ab", squares[conn[o, j]], d2a[o]) for j in range(n_conn)]
                   for o in range(C_out)]).reshape(w.shape)
    d2x = np.zeros_like(x)
    for o, j, oy, ox in np.ndindex(C_out, n_conn, H_out, W_out):
        d2x[conn[o, j], oy * stride:oy * stride + K, ox * stride:ox * stride + K] += w[o, j] ** 2 * d2a[o, oy, ox]
    hb = d2a.ravel().copy() if bias_per_unit else d2a.sum(axis=(1, 2))
    return d2x, hw, hb


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


# the fast numerics policy's tanh: Eigen's rational function x P(x^2) / Q(x^2) on x clamped
# to +-7.90531110763549805, written out in plain NumPy in the given dtype
TANH_FAST_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
               -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)  # x^1, x^3, ..., x^13
TANH_FAST_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)  # x^0 ...


def tanh_fast(x, dtype):
    x = np.clip(np.asarray(x, dtype), dtype(-7.90531110763549805), dtype(7.90531110763549805))
    x2 = x * x
    p = sum(dtype(c) * x2 ** k for k, c in enumerate(TANH_FAST_P))
    q = sum(dtype(c) * x2 ** k for k, c in enumerate(TANH_FAST_Q))
    return (x * p / q).astype(dtype)


def activation_fast(name, a, dtype):
    """The fast policy's activations, in ``dtype`` as the kernels compute them."""
    a = np.asarray(a, dtype)
    if name == "identity":
        return a.copy()
    if name == "tanh":
        return tanh_fast(a, dtype)
    if name == "scaled-tanh":
        return dtype(SCALED_A) * tanh_fast(dtype(SCALED_S) * a, dtype)
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
    listed in ``connections`` (all maps when None; a row may be shorter than the others: map
    o then uses weight[o, :len(row)] only) and have one bias per map or per unit.
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
            b = np.asarray(params[f"{layer.name}.bias"]).ravel()
            if layer.connections is None:
                a = conv2d_forward(xp, w, b, full_connections(x.shape[0], layer.maps), layer.stride,
                                   layer.bias_per_unit)
            else:  # map by map: map o reads the len(row) maps of its row with w[o, :len(row)]
                nb = b.size // layer.maps
                a = np.concatenate([conv2d_forward(xp, w[o:o + 1, :len(row)], b[o * nb:(o + 1) * nb],
                                                   np.asarray([row], np.int64), layer.stride, layer.bias_per_unit)
                                    for o, row in enumerate(layer.connections)])
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


# ---------------------------------------------------------------- augmentation
#
# Twins of kernels/augment.py, from its docstrings, in (y, x) = (row, column) coordinates:
#   draws     h(z) = the splitmix64 output for state z: z += 0x9E3779B97F4A7C15, then
#             z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9, z = (z ^ z >> 27) * 0x94D049BB133111EB,
#             z ^ z >> 31 (all mod 2^64). key = h(h(h(seed) ^ epoch) ^ index); draw k is
#             u_k = (h(key ^ k) >> 11) * 2^-52 - 1: 53 random bits onto [-1, 1).
#             Counters 0 shift y, 1 shift x, 2 angle, 3 scale, 4 shear, 5 stretch y,
#             6 stretch x; elastic noise (axis, y, x) of the padded grid: 64 + (axis*Hp + y)*Wp + x.
#   params    shift = max_shift (u0, u1), angle = radians(max_rotate_deg) u2,
#             scale = 1 + max_scale u3, shear = max_shear u4, stretch = 1 + max_stretch (u5, u6).
#   affine    output pixel p (relative to the centre ((H-1)/2, (W-1)/2)) reads the source at
#             A^-1 (p - shift) + centre (+ elastic(p)), A = scale R(angle) Shear diag(stretch),
#             Shear: (y, x) -> (y, x + shear y).
#             R(angle): (y, x) -> (y cos + x sin, x cos - y sin). The docstring does not say
#             which way the rotation turns; this is what the kernel does (a positive angle turns
#             the picture clockwise as displayed, row 0 on top: +90 degrees = np.rot90(image, -1)),
#             spelled out here so a change of direction is caught.
#   elastic   U(-1, 1) noise (the draws above) on the grid padded by r = max(1, ceil(3 sigma)),
#             smoothed by the normalized (2r+1) x (2r+1) Gaussian exp(-|d|^2 / (2 sigma^2)),
#             times alpha: a (2, H, W) field of (y, x) displacements. Off unless alpha != 0 and
#             sigma > 0.
#   sampling  bilinear (tent weights 1 - |distance| per axis) over the pixels around the source
#             point; pixels outside the image are background -1.

_MASK64 = (1 << 64) - 1
AUG_BACKGROUND = -1.0
AUG_ELASTIC_K0 = 64


def splitmix64(z):
    """The splitmix64 output for state z, in Python integers (reference: splitmix64(0) is
    0xE220A8397B1DCDAF, splitmix64(0x9E3779B97F4A7C15) is 0x6E789E6AA1B965F4)."""
    z = (int(z) + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def sample_key(seed, epoch, index):
    z = splitmix64(int(seed) & _MASK64)
    z = splitmix64(z ^ (int(epoch) & _MASK64))
    return splitmix64(z ^ (int(index) & _MASK64))


def uniform_draw(key, k):
    """u_k in [-1, 1) for the sample with hash state ``key`` (bit-identical to the kernel's)."""
    return (splitmix64(int(key) ^ int(k)) >> 11) * 2.0 ** -52 - 1.0


def augment_parameters(seed, epoch, index, max_shift, max_rotate_deg, max_scale, max_shear=0.0,
                       max_stretch=0.0):
    """The drawn affine parameters of one sample, as keyword arguments of affine_source."""
    key = sample_key(seed, epoch, index)
    u = [uniform_draw(key, k) for k in range(7)]
    return dict(shift=(max_shift * u[0], max_shift * u[1]),
                angle=max_rotate_deg * (np.pi / 180.0) * u[2],
                scale=1.0 + max_scale * u[3],
                shear=max_shear * u[4],
                stretch=(1.0 + max_stretch * u[5], 1.0 + max_stretch * u[6]))


def bilinear(image, sy, sx):
    """Image value at the source point (sy, sx): the 4 pixels around it with tent weights,
    background -1 outside the image."""
    (image,) = _f64(image)
    H, W = image.shape
    y0, x0 = int(np.floor(sy)), int(np.floor(sx))
    total = 0.0
    for y in (y0, y0 + 1):
        for x in (x0, x0 + 1):
            weight = (1.0 - abs(sy - y)) * (1.0 - abs(sx - x))
            value = image[y, x] if (0 <= y < H and 0 <= x < W) else AUG_BACKGROUND
            total += weight * value
    return total


def affine_source(H, W, shift=(0.0, 0.0), angle=0.0, scale=1.0, shear=0.0, stretch=(1.0, 1.0)):
    """src (2, H, W): the source point (y, x) every output pixel reads, A^-1 (p - shift) + centre,
    with A = scale R(angle) Shear(shear) diag(stretch) built as matrices and inverted by LAPACK."""
    c, s = float(np.cos(angle)), float(np.sin(angle))
    rotation = np.array([[c, s], [-s, c]])
    shearing = np.array([[1.0, 0.0], [shear, 1.0]])
    A = scale * rotation @ shearing @ np.diag(np.asarray(stretch, np.float64))
    A_inv = np.linalg.inv(A)
    centre = np.array([(H - 1) / 2.0, (W - 1) / 2.0])
    src = np.empty((2, H, W))
    for r in range(H):
        for q in range(W):
            p = np.array([r, q], np.float64) - centre
            src[:, r, q] = A_inv @ (p - np.asarray(shift, np.float64)) + centre
    return src


def warp(image, src):
    """out[r, q] = bilinear(image, *src[:, r, q])."""
    (image,) = _f64(image)
    _, H, W = src.shape
    out = np.empty((H, W))
    for r in range(H):
        for q in range(W):
            out[r, q] = bilinear(image, src[0, r, q], src[1, r, q])
    return out


def elastic_radius(sigma):
    return max(1, int(np.ceil(3.0 * sigma)))


def elastic_noise(key, H, W, sigma):
    """The (2, H + 2r, W + 2r) uniform draws of the padded elastic grid."""
    r = elastic_radius(sigma)
    Hp, Wp = H + 2 * r, W + 2 * r
    noise = np.empty((2, Hp, Wp))
    for axis in range(2):
        for y in range(Hp):
            for x in range(Wp):
                noise[axis, y, x] = uniform_draw(key, AUG_ELASTIC_K0 + (axis * Hp + y) * Wp + x)
    return noise


def gaussian_kernel_2d(sigma, r):
    d = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2.0 * sigma * sigma))
    return g / g.sum()


def elastic_field(noise, alpha, sigma):
    """field (2, H, W) = alpha * (2-D normalized Gaussian (*) noise), one window per pixel;
    noise (2, H + 2r, W + 2r) is the padded grid (e.g. from elastic_noise)."""
    (noise,) = _f64(noise)
    r = elastic_radius(sigma)
    _, Hp, Wp = noise.shape
    H, W = Hp - 2 * r, Wp - 2 * r
    g = gaussian_kernel_2d(sigma, r)
    field = np.empty((2, H, W))
    for axis in range(2):
        for y in range(H):
            for x in range(W):
                field[axis, y, x] = alpha * np.sum(g * noise[axis, y:y + 2 * r + 1, x:x + 2 * r + 1])
    return field


def distort_image(image, seed, epoch, index, max_shift, max_rotate_deg, max_scale, max_shear=0.0,
                  max_stretch=0.0, elastic_alpha=0.0, elastic_sigma=0.0):
    """The distorted image (float64): drawn parameters -> affine source points (+ elastic
    field) -> bilinear sampling."""
    (image,) = _f64(image)
    H, W = image.shape
    params = augment_parameters(seed, epoch, index, max_shift, max_rotate_deg, max_scale, max_shear,
                                max_stretch)
    src = affine_source(H, W, **params)
    if elastic_alpha != 0.0 and elastic_sigma > 0.0:
        noise = elastic_noise(sample_key(seed, epoch, index), H, W, elastic_sigma)
        src = src + elastic_field(noise, elastic_alpha, elastic_sigma)
    return warp(image, src)


def augment_from_vector(image, seed, epoch, index, aug):
    """distort_image with strengths from aug = [enabled, shift, rotate_deg, scale, shear, stretch,
    elastic_alpha, elastic_sigma, epochs]. enabled is not read
    here (the training loop tests it before calling); epochs > 0 and epoch >= epochs: the
    image unchanged."""
    aug = [float(a) for a in aug]
    if aug[8] > 0.0 and epoch >= aug[8]:
        return np.array(image, np.float64)
    return distort_image(image, seed, epoch, index, *aug[1:8])
