"""PyTorch competitor loops of bench/speed.py, on lenet_numba.interop's modules.

The module is lenet_numba.interop's (``to_torch(Model(arch, seed=...))``: same layers, same
parameter names, same initial weights as the engine); this file only adds the loops:

* ``sgd_pass``: the identical per-sample loop, batch of 1, ``optimizer.step()`` after
  every sample (forward, softmax cross-entropy, backward, SGD update);
* ``infer``: batched inference under ``torch.no_grad()``.

torch is imported lazily: ``available()`` says whether it is installed.
"""

import numpy as np


def available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def version():
    import torch
    return torch.__version__


def setup_threads():
    import torch
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started
        pass
    return torch.get_num_threads()


def module(arch, dtype, seed=0):
    """interop's module for ``arch`` with exactly ``Model(arch, dtype=dtype, seed=seed)``'s weights.

    ``to_torch`` rather than ``torch_module(..., dtype=torch.float64)``: the latter loads the
    float64 weights into a float32 module before casting, so they lose their low bits."""
    from lenet_numba.interop import to_torch
    from lenet_numba.model import Model

    return to_torch(Model(arch, "tanh", "identity", dtype=dtype, seed=seed))


def tensors(x, y, dtype):
    import torch

    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    return torch.from_numpy(np.ascontiguousarray(x)).to(tdtype).reshape(-1, 1, 16, 16), torch.from_numpy(
        np.ascontiguousarray(y, np.int64))


def sgd_pass(net, xt, yt, lr, n):
    """Per-sample SGD over the first n samples, in order, batch of 1."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for i in range(n):
        loss = F.cross_entropy(net(xt[i:i + 1]), yt[i:i + 1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def infer(net, xt):
    import torch

    with torch.no_grad():
        return net(xt)


def flat_params(net, names):
    """The module's parameters concatenated in lenet-numba's flat order (``names``)."""
    state = net.state_dict()
    return np.concatenate([state[n].detach().cpu().numpy().ravel() for n in names])
