"""Losses of one sample: each returns the loss and writes dL/dy into `grad`.

  MSE (1989):  targets t_k = +1 for the true class, -1 elsewhere,
               L = mean_k (y_k - t_k)^2          dL/dy_k = 2 (y_k - t_k) / K
  CE:          L = logsumexp(z) - z_label         dL/dz_k = softmax(z)_k - [k == label]
               computed with the max subtracted, so it never overflows.
  CE with label smoothing eps (Szegedy et al. 2016): the target is q_k = (1 - eps)[k == label]
               + eps / K instead of the one-hot, L = logsumexp(z) - sum_k q_k z_k,
               dL/dz_k = softmax(z)_k - q_k. eps = 0 takes the plain CE path (bit-identical).
"""

import numpy as np

from ..jit_cache import njit

MSE = 0
CE = 1
NAMES = {"mse": MSE, "ce": CE}


@njit(cache=True)
def mse_loss(y, label, grad):
    K = y.shape[0]
    loss = 0.0
    for k in range(K):
        t = 1.0 if k == label else -1.0
        d = y[k] - t
        loss += d * d
        grad[k] = 2.0 * d / K
    return loss / K


@njit(cache=True)
def largest(z):
    """max(z) by a plain scan: subtracted before exp, so softmax never overflows."""
    m = z[0]
    for k in range(1, z.shape[0]):
        if z[k] > m:
            m = z[k]
    return m


@njit(cache=True, inline="always")
def shifted_exp(z, out):
    """out[k] = exp(z[k] - max(z)); returns (max(z), sum of the exps) (the sum in float64
    even when out is float32). Dividing out by the sum gives softmax(z)."""
    m = largest(z)
    s = 0.0
    for k in range(z.shape[0]):
        e = np.exp(z[k] - m)
        out[k] = e
        s += e
    return m, s


@njit(cache=True)
def softmax_ce_loss(z, label, grad):
    K = z.shape[0]
    m, s = shifted_exp(z, grad)
    for k in range(K):
        grad[k] = grad[k] / s
    grad[label] -= 1.0
    return m + np.log(s) - z[label]


@njit(cache=True)
def softmax_ce_smoothed_loss(z, label, eps, grad):
    """Cross-entropy against the smoothed target (1 - eps) one-hot + eps / K."""
    K = z.shape[0]
    m, s = shifted_exp(z, grad)
    zsum = 0.0
    for k in range(K):
        zsum += z[k] - m
    off = eps / K
    for k in range(K):
        grad[k] = grad[k] / s - off
    grad[label] -= 1.0 - eps
    # logsumexp(z) - sum q_k z_k, with m taken out of both (sum q_k = 1)
    return np.log(s) - (1.0 - eps) * (z[label] - m) - off * zsum


@njit(cache=True, inline="always")
def loss_forward_backward(kind, y, label, grad, smoothing=0.0):
    """The loss of one sample, dL/dy into grad. smoothing: CE's label smoothing eps (0 = off;
    ignored by MSE, which recipes.validate refuses to combine with it)."""
    if kind == MSE:
        return mse_loss(y, label, grad)
    if smoothing == 0.0:
        return softmax_ce_loss(y, label, grad)
    return softmax_ce_smoothed_loss(y, label, smoothing, grad)


# ---- second order (SDLM, diagonal Gauss-Newton) ------------------------------------
# Each writes d2[k] = the diagonal of the loss Hessian w.r.t. the network output, in the
# same convention as the gradients above (our L, not a sum over outputs or a 1/2 factor):
#
#   MSE:  L = mean_k (y_k - t_k)^2     d2L/dy_k^2 = 2 / K            (exact; H is diagonal)
#   CE:   L = logsumexp(z) - z_label   d2L/dz_k^2 = p_k (1 - p_k)    p = softmax(z)
#         The CE Hessian is diag(p) - p p^T; SDLM keeps only its diagonal (an approximation:
#         the dropped off-diagonal terms -p_j p_k are what make it singular along z + c).
# Both are >= 0, so every back-propagated d2E/da^2 and every h_kk is >= 0.


@njit(cache=True)
def mse_curvature(y, d2):
    K = y.shape[0]
    for k in range(K):
        d2[k] = 2.0 / K


@njit(cache=True)
def softmax_ce_curvature(z, d2):
    K = z.shape[0]
    _, s = shifted_exp(z, d2)
    for k in range(K):
        p = d2[k] / s
        d2[k] = p * (1.0 - p)


@njit(cache=True, inline="always")
def loss_curvature(kind, y, d2):
    """d2 <- diagonal Gauss-Newton curvature of the loss w.r.t. the network output y."""
    if kind == MSE:
        mse_curvature(y, d2)
    else:
        softmax_ce_curvature(y, d2)
