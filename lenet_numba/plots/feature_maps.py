"""One digit through the network: the input, then every layer's maps, one row each."""

import numpy as np

from ..kernels.activations import SCALED_A
from ..metrics import predictions
from .figure import DPI, _finish, _new_figure


def _activation_range(name, values):
    if name == "scaled-tanh":
        return SCALED_A
    if name == "tanh":
        return 1.0
    return float(np.abs(values).max()) or 1.0


def feature_maps_figsize(model):
    """Inches of the feature-map figure: an inch per row of maps, half an inch per dense layer."""
    from ..architectures import DENSE, KIND

    dense = sum(int(k) == DENSE for k in model.plan.table[:, KIND])
    return (9.0, 1.0 * (1 + len(model.arch.layers) - dense) + 0.5 * dense + 0.5)


def plot_feature_maps(model, image, path, *, label=None, index=None, dpi=DPI):
    """One digit through the network: the input, then every layer's maps (one row each).

    Maps are grey levels, dark = positive, on the activation's range (±1.7159 for the
    scaled tanh, ±1 for tanh, ±max for a linear output). Dense layers are a strip of
    units. Returns ``input``, ``layers`` [(name, drawn array)], ``scores``,
    ``prediction``, ``label`` and file info.
    """
    outputs = model.layer_outputs(image)
    x = model.as_images(image)[0].astype(float)
    n_rows = len(outputs) + 1
    n_cols = max(12, max(a.shape[0] for _, a in outputs if a.shape[1] > 1))
    dense = [a.shape[1] == 1 and a.shape[2] == 1 for _, a in outputs]
    ratios = [1.0] + [0.5 if d else 1.0 for d in dense]
    left, right, top, bottom = 1.25, 0.25, 0.125, 0.375  # inches
    figsize = feature_maps_figsize(model)
    fig = _new_figure(figsize, dpi, layout=None)
    W, H = figsize
    grid = fig.add_gridspec(n_rows, n_cols, height_ratios=ratios, left=left / W, right=1 - right / W,
                            top=1 - top / H, bottom=bottom / H, wspace=0.15, hspace=0.3)
    drawn_layers = []

    def strip_axes(r):
        ax = fig.add_subplot(grid[r, :])
        ax.set_yticks([])
        return ax

    ax = fig.add_subplot(grid[0, 0])
    im = ax.imshow(x, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    drawn_input = np.asarray(im.get_array(), float)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel("input", rotation=0, ha="right", va="center")
    scores = outputs[-1][1].ravel()
    prediction = int(predictions(scores))
    caption = f"digit #{index}" if index is not None else "digit"
    if label is not None:
        caption += f", label {int(label)}"
    caption += f", predicted {prediction}"
    ax_caption = fig.add_subplot(grid[0, 1:])
    ax_caption.axis("off")
    ax_caption.text(0.02, 0.5, f"{model.arch.name}: {caption}", va="center", fontsize="large")
    last = len(outputs) - 1
    for li, (name, a) in enumerate(outputs):
        r = li + 1
        act = model.output_activation if li == last else model.activation
        vmax = _activation_range(act, a)
        c, h, w = a.shape
        if h == 1 and w == 1:  # a dense layer: one strip of units
            ax = strip_axes(r)
            im = ax.imshow(a.reshape(1, c), cmap="gray_r", vmin=-vmax, vmax=vmax, aspect="auto",
                           interpolation="nearest")
            drawn = np.asarray(im.get_array(), float).reshape(c, 1, 1)
            if li == last:
                ax.set_xticks(range(c))
                ax.set_xticklabels([f"{k}" for k in range(c)])
                ax.tick_params(axis="x", labelsize="small")
            else:
                ax.set_xticks([])
            ax.set_ylabel(f"{name}\n{c}", rotation=0, ha="right", va="center")
        else:
            maps = []
            for m in range(c):
                ax = fig.add_subplot(grid[r, m])
                im = ax.imshow(a[m], cmap="gray_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
                maps.append(np.asarray(im.get_array(), float))
                ax.set_xticks([])
                ax.set_yticks([])
                if m == 0:
                    ax.set_ylabel(f"{name}\n{c}@{h}x{w}", rotation=0, ha="right", va="center")
            drawn = np.stack(maps)
        drawn_layers.append((name, drawn))
    return _finish(fig, path, dpi, figsize, {
        "input": drawn_input, "layers": drawn_layers, "scores": scores.astype(float),
        "prediction": prediction, "label": None if label is None else int(label)})
