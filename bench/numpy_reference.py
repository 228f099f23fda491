"""A plain NumPy implementation of the same networks: the second reference of bench/speed.py.

Simple vectorized NumPy per sample (``sliding_window_view`` windows, ``einsum``), walking
the architecture's layer list like the naive test twin, but written for speed within
plain NumPy: no Python loop over output positions, only over the K*K taps of a dx. It
keeps lenet-numba's flat parameter layout (views into one buffer), so its weights can be
compared with the engine's after the same pass.

    net = NumpyNet(model)                     # copies the model's parameters and dtype
    net.sgd_pass(x, y, lr, order)             # per-sample SGD, softmax cross-entropy
    scores = net.forward_batch(x)             # batched inference
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lenet_numba import architectures as A


class NumpyNet:
    def __init__(self, model):
        if model.activation != "tanh" or model.output_activation != "identity":
            raise ValueError("the NumPy reference implements tanh hidden layers and identity outputs")
        self.dtype = model.dtype
        self.plan = model.plan
        self.params = model.params.copy()
        self.grads = np.zeros_like(self.params)
        self.layers = []
        for li, row in enumerate(self.plan.table):
            layer = self.plan.arch.layers[li]
            spec = {"kind": int(row[A.KIND]), "dx": bool(row[A.COMPUTE_DX]), "last": li == len(self.plan.table) - 1}
            names = [n for n in self.plan.params if n.startswith(layer.name + ".")]
            spec["p"] = [model.view(self.params, n) for n in names]
            spec["g"] = [model.view(self.grads, n) for n in names]
            if spec["kind"] == A.CONV:
                off, n = int(row[A.CONN_OFF]), int(row[A.OUT_C]) * int(row[A.N_CONN])
                spec.update(pad=int(row[A.PAD]), pad_value=float(self.plan.pad_values[li]), K=int(row[A.K]),
                            stride=int(row[A.STRIDE]), bpu=bool(row[A.BIAS_PER_UNIT]),
                            conn=self.plan.conn[off:off + n].reshape(int(row[A.OUT_C]), int(row[A.N_CONN])),
                            out=(int(row[A.OUT_C]), int(row[A.OUT_H]), int(row[A.OUT_W])))
            self.layers.append(spec)

    # ---- one sample ------------------------------------------------------------------
    def _forward(self, image):
        """Activations of every layer; a conv keeps its (padded input, gathered windows)."""
        a = image[None].astype(self.dtype)
        saved = []
        for L in self.layers:
            if L["kind"] == A.CONV:
                p, K, s = L["pad"], L["K"], L["stride"]
                xp = np.pad(a, ((0, 0), (p, p), (p, p)), constant_values=L["pad_value"]) if p else a
                win = sliding_window_view(xp, (K, K), axis=(1, 2))[:, ::s, ::s]  # (C_in, Ho, Wo, K, K)
                g = win[L["conn"]]                                                # (C_out, n_conn, Ho, Wo, K, K)
                w, b = L["p"]
                z = np.einsum("ojhwyx,ojyx->ohw", g, w)
                z = z + (b.reshape(z.shape) if L["bpu"] else b[:, None, None])
                saved.append((a, xp, g))
            elif L["kind"] == A.SUBSAMPLE:
                alpha, beta = L["p"]
                C, H, W = a.shape
                m = a[:, :H // 2 * 2, :W // 2 * 2].reshape(C, H // 2, 2, W // 2, 2).mean(axis=(2, 4))
                z = alpha[:, None, None] * m + beta[:, None, None]
                saved.append((a, m))
            else:
                w, b = L["p"]
                x = a.reshape(-1)
                z = w @ x + b
                saved.append((a,))
            a = z if L["last"] else np.tanh(z)
            L["y"] = a
        return a, saved

    def _backward(self, dout, saved):
        d = dout
        for L, keep in zip(reversed(self.layers), reversed(saved)):
            if not L["last"]:
                d = d * (1 - L["y"] * L["y"])
            if L["kind"] == A.CONV:
                a, xp, g = keep
                w, _ = L["p"]
                dw, db = L["g"]
                dw[...] = np.einsum("ohw,ojhwyx->ojyx", d, g)
                db[...] = d.reshape(db.shape) if L["bpu"] else d.sum(axis=(1, 2))
                if L["dx"]:
                    K, s, p = L["K"], L["stride"], L["pad"]
                    Ho, Wo = d.shape[1:]
                    contrib = np.einsum("ohw,ojyx->yxojhw", d, w)
                    dxp = np.zeros(xp.shape, self.dtype)
                    idx = L["conn"].reshape(-1)
                    for ky in range(K):
                        for kx in range(K):
                            view = dxp[:, ky:ky + s * (Ho - 1) + 1:s, kx:kx + s * (Wo - 1) + 1:s]
                            np.add.at(view, idx, contrib[ky, kx].reshape(-1, Ho, Wo))
                    d = dxp[:, p:p + a.shape[1], p:p + a.shape[2]] if p else dxp
            elif L["kind"] == A.SUBSAMPLE:
                a, m = keep
                alpha, _ = L["p"]
                dalpha, dbeta = L["g"]
                dalpha[...] = (d * m).sum(axis=(1, 2))
                dbeta[...] = d.sum(axis=(1, 2))
                if L["dx"]:
                    dx = np.zeros(a.shape, self.dtype)
                    C, Ho, Wo = d.shape
                    blk = (alpha[:, None, None] * 0.25 * d)[:, :, None, :, None]
                    dx[:, :2 * Ho, :2 * Wo] = np.broadcast_to(blk, (C, Ho, 2, Wo, 2)).reshape(C, 2 * Ho, 2 * Wo)
                    d = dx
            else:
                (a,) = keep
                w, _ = L["p"]
                dw, db = L["g"]
                x = a.reshape(-1)
                np.outer(d, x, out=dw)
                db[...] = d
                if L["dx"]:
                    d = (w.T @ d).reshape(a.shape)

    def sgd_step(self, image, label, lr):
        """Forward, softmax cross-entropy, backward and params -= lr * grads; returns the loss."""
        z, saved = self._forward(image)
        e = np.exp(z - z.max())
        p = e / e.sum()
        loss = float(np.log(e.sum()) + z.max() - z[label])
        p[label] -= 1
        self._backward(p.astype(self.dtype), saved)
        self.params -= self.dtype.type(lr) * self.grads
        return loss

    def sgd_pass(self, images, labels, lr, order=None):
        order = range(len(labels)) if order is None else order
        for i in order:
            self.sgd_step(images[i], int(labels[i]), lr)

    # ---- batched inference -------------------------------------------------------------
    def forward_batch(self, images, batch=256):
        out = []
        for s in range(0, len(images), batch):
            a = images[s:s + batch, None].astype(self.dtype)
            for L in self.layers:
                if L["kind"] == A.CONV:
                    p, K, st = L["pad"], L["K"], L["stride"]
                    xp = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=L["pad_value"]) if p else a
                    win = sliding_window_view(xp, (K, K), axis=(2, 3))[:, :, ::st, ::st]
                    w, b = L["p"]
                    z = np.einsum("nojhwyx,ojyx->nohw", win[:, L["conn"]], w)
                    z = z + (b.reshape(z.shape[1:]) if L["bpu"] else b[:, None, None])
                elif L["kind"] == A.SUBSAMPLE:
                    alpha, beta = L["p"]
                    N, C, H, W = a.shape
                    m = a[:, :, :H // 2 * 2, :W // 2 * 2].reshape(N, C, H // 2, 2, W // 2, 2).mean(axis=(3, 5))
                    z = alpha[:, None, None] * m + beta[:, None, None]
                else:
                    w, b = L["p"]
                    z = a.reshape(len(a), -1) @ w.T + b
                a = z if L["last"] else np.tanh(z)
            out.append(a)
        return np.concatenate(out)
