"""Losses of one sample: each returns the loss and writes dL/dy into `grad`.

  MSE (1989):  targets t_k = +1 for the true class, -1 elsewhere,
               L = mean_k (y_k - t_k)^2          dL/dy_k = 2 (y_k - t_k) / K
  CE:          L = logsumexp(z) - z_label         dL/dz_k = softmax(z)_k - [k == label]
               computed with the max subtracted, so it never overflows.
"""

import numpy as np
from numba import njit

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
def softmax_ce_loss(z, label, grad):
    K = z.shape[0]
    m = z[0]
    for k in range(1, K):
        if z[k] > m:
            m = z[k]
    s = 0.0
    for k in range(K):
        e = np.exp(z[k] - m)
        grad[k] = e
        s += e
    for k in range(K):
        grad[k] = grad[k] / s
    grad[label] -= 1.0
    return m + np.log(s) - z[label]


@njit(cache=True)
def loss_forward_backward(kind, y, label, grad):
    if kind == MSE:
        return mse_loss(y, label, grad)
    return softmax_ce_loss(y, label, grad)
