"""Model: layout against the published networks, init, named views, and the compiled
forward/backward against the naive whole-network twin and finite differences.

* Parameter counts from the papers: LeNet-1 3,128 (3,096 weights and biases + 32 alpha/beta);
  the 1989 zip-code net 9,760 free parameters, 1,256 units, 64,660 connections.
* Names and shapes as the article's PyTorch module.
* ``predict`` == ``naive.network_forward`` (which walks the layer list, not the plan) for
  both architectures, both dtypes and every activation choice.
* ``loss_and_grad`` against central differences in float64, for every parameter block.
"""

import itertools
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from lenet_numba.model import Model

ARCHS = ("lenet1", "zipcode1989", "lenet1-nips1989")
ACTS = naive.ACTIVATIONS

LENET1_SHAPES = {
    "conv1.weight": (4, 1, 5, 5), "conv1.bias": (4,),
    "pool1.alpha": (4,), "pool1.beta": (4,),
    "conv2.weight": (12, 4, 5, 5), "conv2.bias": (12,),
    "pool2.alpha": (12,), "pool2.beta": (12,),
    "fc1.weight": (30, 48), "fc1.bias": (30,),
    "fc2.weight": (10, 30), "fc2.bias": (10,),
}
# LeCun et al. 1989: H1 12 maps 8x8, 5x5 kernels, a bias per unit; H2 12 maps 4x4, 5x5
# kernels on 8 of the 12 H1 maps, a bias per unit; H3 30 units; 10 outputs.
ZIPCODE_SHAPES = {
    "h1.weight": (12, 1, 5, 5), "h1.bias": (12, 8, 8),
    "h2.weight": (12, 8, 5, 5), "h2.bias": (12, 4, 4),
    "h3.weight": (30, 192), "h3.bias": (30,),
    "out.weight": (10, 30), "out.bias": (10,),
}
# LeCun et al., NIPS 1989: H1 4 maps 24x24 on the 28x28 plane; H2, H4 averaging (a coefficient
# and a bias per map); H3 12 maps 8x8, each reading one or two H2 maps (20 kernels: the
# weight tensor holds 24 slots, the 4 unused ones stay 0); 10 outputs on H4's 192 units.
NIPS_SHAPES = {
    "h1.weight": (4, 1, 5, 5), "h1.bias": (4,),
    "h2.alpha": (4,), "h2.beta": (4,),
    "h3.weight": (12, 2, 5, 5), "h3.bias": (12,),
    "h4.alpha": (12,), "h4.beta": (12,),
    "out.weight": (10, 192), "out.bias": (10,),
}
SHAPES = {"lenet1": LENET1_SHAPES, "zipcode1989": ZIPCODE_SHAPES, "lenet1-nips1989": NIPS_SHAPES}


def randomize(model, rng, gain=1.5):
    """Parameters well away from the init: weights ~ gain / sqrt(fan-in) so every tanh works in
    its curved part, non-zero biases and betas, alphas around 1."""
    for name, v in model.named_parameters().items():
        if name.endswith(".weight"):
            fan_in = int(np.prod(v.shape[1:]))
            v[...] = rng.uniform(-1, 1, v.shape) * gain * np.sqrt(3.0 / fan_in)
        elif name.endswith(".alpha"):
            v[...] = rng.uniform(0.5, 2.0, v.shape)
        else:  # biases, betas
            v[...] = rng.uniform(-0.5, 0.5, v.shape)
    model.params[~model.free] = 0  # dead slots of a ragged table: 0 by definition
    return model


def images(rng, n):
    return rng.uniform(-1, 1, (n, 16, 16))


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("arch", ARCHS)
def test_names_and_shapes_match_the_seed(arch):
    m = Model(arch)
    assert m.param_names == list(SHAPES[arch])  # same names, same order as the module
    for name, shape in SHAPES[arch].items():
        assert m[name].shape == shape, name


def test_lenet1_parameter_count():
    m = Model("lenet1")
    alphas_betas = sum(int(np.prod(s)) for n, s in LENET1_SHAPES.items() if n.startswith("pool"))
    assert alphas_betas == 32
    assert sum(int(np.prod(s)) for s in LENET1_SHAPES.values()) == 3128
    assert m.n_params == 3128 == 3096 + alphas_betas
    assert m.params.size == 3128


def test_zipcode1989_counts_from_the_paper():
    m = Model("zipcode1989")
    assert m.n_params == 9760 == sum(int(np.prod(s)) for s in ZIPCODE_SHAPES.values())
    assert m.plan.units == 1256
    assert m.plan.connections == 64660


def test_nips1989_counts_from_the_paper():
    """NIPS 1989: 4,635 units (the 28x28 input plane, a bias unit and every layer's maps),
    98,442 connections (a bias is one per unit), 2,578 free parameters (20 H3 kernels)."""
    m = Model("lenet1-nips1989")
    assert m.n_free_params == 2578 == sum(int(np.prod(s)) for s in NIPS_SHAPES.values()) - 4 * 25
    assert m.plan.units == 4635 == 28 * 28 + 1 + 4 * 24 * 24 + 4 * 12 * 12 + 12 * 8 * 8 + 12 * 4 * 4 + 10
    assert m.plan.connections == 98442
    h3 = np.asarray(m.arch.layers[2].connections, dtype=object)
    assert sum(len(r) for r in h3) == 20 and {len(r) for r in h3} == {1, 2}
    assert np.all(np.bincount(np.concatenate(h3).astype(int), minlength=4) == 5)  # each H2 map feeds 5


def test_dead_slots_stay_zero_through_init_load_and_training():
    from lenet_numba.train import train

    m = Model("lenet1-nips1989", "scaled-tanh", "scaled-tanh", seed=3)
    assert (~m.free).sum() == 100 and np.all(m.params[~m.free] == 0)
    state = m.state_dict()
    state["h3.weight"][0, 1] = 5.0  # a dead slot (map 0 reads one H2 map)
    m.load_state_dict(state)
    assert np.all(m.params[~m.free] == 0)
    rng = np.random.default_rng(0)
    train(m, rng.uniform(-1, 1, (40, 16, 16)), rng.integers(0, 10, 40), epochs=2, lr=0.05)
    assert np.all(m.params[~m.free] == 0) and np.any(m.params[m.free] != Model("lenet1-nips1989", seed=3).params[m.free])


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_outputs_are_the_naive_trace(arch):
    """Model.layer_outputs(image): [(layer name, its post-activation maps)], as the naive twin."""
    rng = np.random.default_rng(5)
    m = randomize(Model(arch, "scaled-tanh", "scaled-tanh", dtype="float64"), rng)
    image = images(rng, 1)[0]
    got = m.layer_outputs(image)
    _, want = naive.network_forward(m.arch, m.state_dict(), "scaled-tanh", "scaled-tanh", image, trace=True)
    assert [name for name, _ in got] == [layer.name for layer in m.arch.layers]
    for (name, a), b in zip(got, want):
        np.testing.assert_allclose(a, np.reshape(b, a.shape), rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("arch", ARCHS)
def test_units_match_the_naive_layer_shapes(arch):
    m = Model(arch)
    _, outs = naive.network_forward(m.arch, m.state_dict(), image=np.zeros((16, 16)), trace=True)
    field = 28 * 28 + 1 if arch == "lenet1-nips1989" else 16 * 16  # the NIPS paper counts its input plane
    assert m.plan.units == field + sum(o.size for o in outs)
    assert m.plan.n_outputs == outs[-1].size == 10


def test_connection_tables():
    """zipcode1989's H2 maps each read 8 distinct maps of the 12 in H1; LeNet-1 is fully connected."""
    h2 = Model("zipcode1989").arch.layers[1]
    table = np.asarray(h2.connections)
    assert table.shape == (12, 8)
    assert all(len(set(row)) == 8 and set(row) <= set(range(12)) for row in table)
    # the scheme architectures.py documents: out 0-3 <- in 0-7, out 4-7 <- in 4-11,
    # out 8-11 <- in 0-3 and 8-11; so every H1 map feeds exactly 8 H2 maps
    documented = [set(range(0, 8))] * 4 + [set(range(4, 12))] * 4 + [set(range(0, 4)) | set(range(8, 12))] * 4
    assert [set(row) for row in table] == documented
    assert np.all(np.bincount(table.ravel(), minlength=12) == 8)
    assert all(getattr(layer, "connections", None) is None for layer in Model("lenet1").arch.layers)


# ---------------------------------------------------------------- views


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_named_views_alias_the_flat_buffer(arch, dtype):
    m = Model(arch, dtype=dtype)
    assert m.params.dtype == np.dtype(dtype)
    views = m.named_parameters()
    for name, v in views.items():
        assert np.shares_memory(v, m.params), name
        assert v.dtype == m.params.dtype
    # the views partition the buffer: numbering the buffer, each index shows up exactly once
    m.params[:] = np.arange(m.n_params)
    seen = np.sort(np.concatenate([v.ravel() for v in views.values()]))
    np.testing.assert_array_equal(seen, np.arange(m.n_params))
    # writes go both ways
    for name, v in views.items():
        before = m.params.copy()
        v[...] = -1.0
        changed = np.flatnonzero(m.params != before)
        assert changed.size == v.size and np.all(m.params[changed] == -1.0), name
        m.params[changed] = 5.0
        assert np.all(m[name] == 5.0)
    # state_dict copies, it does not alias
    sd = m.state_dict()
    for v in sd.values():
        assert not np.shares_memory(v, m.params)
        v[...] = 123.0
    assert not np.any(m.params == 123.0)


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_round_trip(arch):
    rng = np.random.default_rng(1)
    a = randomize(Model(arch, dtype="float64"), rng)
    b = Model(arch, dtype="float64", seed=99)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.params, b.params)


# ---------------------------------------------------------------- init


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_init_ranges(arch, seed):
    m = Model(arch, seed=seed, dtype="float64")
    for name, v in m.named_parameters().items():
        if name.endswith(".weight"):
            # fan-in F: every input of one unit; map o of a ragged table reads len(row o) maps,
            # so its F is len(row) * K * K and its slots past len(row) are 0
            layer = next(layer for layer in m.arch.layers if layer.name == name.split(".")[0])
            rows = getattr(layer, "connections", None) or [range(v.shape[1])] * v.shape[0]
            per_input = int(np.prod(v.shape[2:]))
            scaled = np.concatenate([v[o].reshape(-1)[:len(row) * per_input] / (2.4 / (len(row) * per_input))
                                     for o, row in enumerate(rows)])
            dead = np.concatenate([v[o].reshape(-1)[len(row) * per_input:] for o, row in enumerate(rows)])
            assert np.all(dead == 0), name
            assert np.all(np.abs(scaled) <= 1), name
            # uniform over the whole range, not a narrower one: each quarter gets its share
            counts = np.histogram(scaled, bins=4, range=(-1, 1))[0] / scaled.size
            assert np.all(np.abs(counts - 0.25) < 0.12), (name, counts)
            assert np.abs(scaled).max() > 0.85, name
        elif name.endswith(".alpha"):
            assert np.all(v == 1.0), name
        else:
            assert np.all(v == 0.0), name


@pytest.mark.parametrize("arch", ARCHS)
def test_init_is_deterministic_by_seed(arch):
    a, b, c = Model(arch, seed=7), Model(arch, seed=7), Model(arch, seed=8)
    np.testing.assert_array_equal(a.params, b.params)
    assert np.any(a.params != c.params)
    # re-init of a trained/modified model gives the fresh model back
    randomize(b, np.random.default_rng(0))
    b.init(7)
    np.testing.assert_array_equal(a.params, b.params)
    # the dtype does not change the draws
    d = Model(arch, seed=7, dtype="float64")
    np.testing.assert_array_equal(a.params, d.params.astype(np.float32))


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden,output", list(itertools.product(ACTS, ACTS)))
def test_predict_matches_naive_network(arch, dtype, hidden, output):
    rng = np.random.default_rng(zlib.crc32(f"{arch} {dtype} {hidden} {output}".encode()))
    m = randomize(Model(arch, activation=hidden, output_activation=output, dtype=dtype), rng)
    x = images(rng, 3)
    x[0] = -1.0  # the blank background: only the padding and the biases speak
    got = m.predict(x)
    assert got.shape == (3, 10) and got.dtype == np.dtype(dtype)
    params = m.state_dict()
    want = np.stack([naive.network_forward(m.arch, params, hidden, output, img) for img in x.astype(dtype)])
    if dtype == "float64":
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))
    # one image == the batch row
    np.testing.assert_array_equal(m.predict(x[1])[0], got[1])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_loss_and_evaluate_match_naive(arch, loss):
    rng = np.random.default_rng(5)
    m = randomize(Model(arch, activation="scaled-tanh", output_activation="scaled-tanh", dtype="float64"), rng)
    x = images(rng, 12)
    y = rng.integers(0, 10, 12)
    losses = []
    for img, label in zip(x, y):
        value, grads = m.loss_and_grad(img, label, loss)
        assert grads.shape == (m.n_params,)
        want = naive.model_loss(m, img, label, loss)
        assert value == pytest.approx(want, rel=1e-12, abs=1e-12)
        losses.append(want)
    ev = m.evaluate(x, y, loss)
    scores = np.stack([naive.model_forward(m, img) for img in x])
    np.testing.assert_array_equal(ev["predictions"], scores.argmax(axis=1))
    assert ev["error"] == pytest.approx(np.mean(scores.argmax(axis=1) != y), abs=1e-15)
    assert ev["loss"] == pytest.approx(np.mean(losses), rel=1e-12)


# ---------------------------------------------------------------- gradients


def fd4(f, h):
    """Fourth-order central difference of t -> f(t) at 0."""
    return (8.0 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12.0 * h)


def block_errors(model, image, label, loss, rng, loss_fn=None, n_entries=4, h=2e-4):
    """name -> (directional relative error, worst entry error relative to the block's largest
    gradient) of loss_and_grad against central differences of the loss.

    h = 2e-4 with the fourth-order stencil: truncation ~h^4 stays ~1e-10 even where the
    randomized net is strongly curved (h = 1e-3 reached 1e-6 on a blank image), rounding
    ~eps L / h ~1e-12."""
    _, grads = model.loss_and_grad(image, label, loss)
    p0 = model.params.copy()
    if loss_fn is None:
        def loss_fn():
            return model.loss_and_grad(image, label, loss)[0]

    def loss_along(d):
        def f(t):
            model.params[:] = p0 + t * d
            return loss_fn()
        return f

    out = {}
    try:
        for name, (off, shape) in model.plan.params.items():
            size = int(np.prod(shape))
            free = model.free[off:off + size]  # the dead slots of a ragged table are no parameters
            g = np.where(free, grads[off:off + size], 0.0)
            assert np.all(np.isfinite(g)), name
            # a random direction inside the block
            d = np.zeros_like(p0)
            d[off:off + size] = rng.standard_normal(size) * free
            fd = fd4(loss_along(d), h)
            an = float(np.dot(g, d[off:off + size]))
            scale = float(np.sum(np.abs(g * d[off:off + size])))
            directional = abs(fd - an) / max(scale, 1e-300)
            # a few single entries
            worst = 0.0
            gmax = float(np.abs(g).max())
            for k in rng.choice(np.flatnonzero(free), min(n_entries, int(free.sum())), replace=False):
                e = np.zeros_like(p0)
                e[off + k] = 1.0
                worst = max(worst, abs(fd4(loss_along(e), h) - g[k]) / max(gmax, 1e-300))
            out[name] = (directional, worst, gmax)
    finally:
        model.params[:] = p0
    return out


GRAD_COMBOS = list(itertools.product(ARCHS, ["mse", "ce"], ["tanh", "scaled-tanh"], ["identity", "scaled-tanh"]))


@pytest.mark.parametrize("arch,loss,hidden,output", GRAD_COMBOS)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), label=st.integers(0, 9), blank=st.booleans())
def test_gradient_of_every_block_finite_differences(arch, loss, hidden, output, seed, label, blank):
    rng = np.random.default_rng(seed)
    m = randomize(Model(arch, activation=hidden, output_activation=output, dtype="float64"), rng)
    image = -np.ones((16, 16)) if blank else images(rng, 1)[0]
    errs = block_errors(m, image, label, loss, rng)
    assert set(errs) == set(m.param_names)
    for name, (directional, entry, gmax) in errs.items():
        assert gmax > 0.0, f"{name}: zero gradient, the check would be vacuous"
        assert directional < 1e-6, (name, directional)
        assert entry < 1e-6, (name, entry)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_gradient_against_the_naive_loss(arch, loss):
    """The same check with the loss computed by the naive twin, so the compiled backward is
    held to the slow forward and not only to the compiled one."""
    rng = np.random.default_rng(11)
    m = randomize(Model(arch, activation="tanh", output_activation="scaled-tanh", dtype="float64"), rng)
    image, label = images(rng, 1)[0], 3
    errs = block_errors(m, image, label, loss, rng, n_entries=1,
                        loss_fn=lambda: naive.model_loss(m, image, label, loss))
    for name, (directional, entry, _) in errs.items():
        assert directional < 1e-6, (name, directional)
        assert entry < 1e-6, (name, entry)


def test_loss_and_grad_does_not_accumulate():
    """Two calls on different samples: the second gradient is that sample's alone."""
    rng = np.random.default_rng(3)
    m = randomize(Model("lenet1", dtype="float64"), rng)
    a, b = images(rng, 2)
    _, g_b = m.loss_and_grad(b, 4, "ce")
    m.loss_and_grad(a, 1, "ce")
    _, g_b2 = m.loss_and_grad(b, 4, "ce")
    np.testing.assert_array_equal(g_b, g_b2)


# ---------------------------------------------------------------- user errors

_BAD_LABEL_SCRIPT = textwrap.dedent("""
    import numpy as np
    from lenet_numba.errors import UsageError
    from lenet_numba.model import Model
    m = Model("lenet1", dtype="float64")
    image = np.zeros((16, 16))
    for label in (-1, 10, 10**9):  # the last one last: unchecked, it can crash the process
        for loss in ("mse", "ce"):
            for call in ("loss_and_grad", "evaluate"):
                try:
                    if call == "loss_and_grad":
                        m.loss_and_grad(image, label, loss)
                    else:
                        m.evaluate(image[None], [label], loss)
                    outcome = "no error"
                except UsageError:
                    outcome = "UsageError"
                except Exception as e:
                    outcome = type(e).__name__
                print(call, loss, label, outcome, flush=True)
""")


def test_out_of_range_labels_are_a_usage_error():
    """Out-of-range labels are the user's fault: a UsageError, like train() raises, never a
    silent number or a crash. Run in a subprocess, since today they can segfault."""
    r = subprocess.run([sys.executable, "-c", _BAD_LABEL_SCRIPT], capture_output=True, text=True, timeout=600)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0, f"the process died (exit {r.returncode}) after: {lines[-1:] or 'nothing'}"
    assert len(lines) == 12
    wrong = [line for line in lines if not line.endswith("UsageError")]
    assert not wrong, wrong


_LENGTH_MISMATCH_SCRIPT = textwrap.dedent("""
    import numpy as np
    from lenet_numba.errors import UsageError
    from lenet_numba.model import Model
    m = Model("lenet1", dtype="float64")
    try:
        m.evaluate(np.zeros((3, 16, 16)), [1], "ce")
        print("no error", flush=True)
    except UsageError:
        print("UsageError", flush=True)
    except Exception as e:
        print(type(e).__name__, flush=True)
""")


def test_evaluate_refuses_images_and_labels_of_different_lengths():
    r = subprocess.run([sys.executable, "-c", _LENGTH_MISMATCH_SCRIPT], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"the process died (exit {r.returncode})"
    assert r.stdout.strip() == "UsageError"


@pytest.mark.parametrize("arch", ARCHS)
@given(seed=st.integers(0, 2 ** 16))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_layer_outputs_equal_the_naive_trace(arch, seed):
    """Every layer's maps (not just the last) == naive.network_forward's trace, shapes included."""
    rng = np.random.default_rng(seed)
    m = Model(arch, "scaled-tanh", "tanh", "float64", seed=seed)
    # alpha/beta away from 1/0; through load_state_dict, which keeps what must stay fixed
    m.load_state_dict({n: v + rng.normal(0, 0.1, v.shape) for n, v in m.state_dict().items()})
    image = rng.uniform(-1, 1, (16, 16))
    outputs = m.layer_outputs(image)
    _, trace = naive.network_forward(m.arch, m.state_dict(), "scaled-tanh", "tanh", image, trace=True)
    assert [name for name, _ in outputs] == [layer.name for layer in m.arch.layers]
    for (name, got), want in zip(outputs, trace):
        want = np.asarray(want).reshape(got.shape)
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=name)
    np.testing.assert_array_equal(outputs[-1][1].ravel(), m.predict(image)[0])
    with pytest.raises(Exception, match="one image"):
        m.layer_outputs(np.zeros((2, 16, 16)))


def test_classify_picks_the_largest_output_first_on_ties():
    m = Model("lenet1", seed=4)
    x = np.random.default_rng(4).uniform(-1, 1, (12, 16, 16))
    np.testing.assert_array_equal(m.classify(x), np.argmax(m.predict(x), axis=1))
    from lenet_numba.metrics import predictions
    assert list(predictions(np.array([[0.0, 1.0, 1.0], [2.0, 2.0, 0.0]]))) == [1, 0]
