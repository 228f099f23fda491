"""The learned kernels of one conv layer as a grey-level grid (output maps by input maps)."""

import numpy as np

from ..errors import UsageError
from .figure import DPI, _finish, _new_figure

KERNEL_CELL = 0.5                 # inches per 5x5 kernel, spacing included


def conv_layers(model):
    """[(layer name, row index in the plan)] of the convolutional layers, in order."""
    from ..architectures import CONV, KIND

    return [(layer.name, i) for i, layer in enumerate(model.arch.layers)
            if int(model.plan.table[i, KIND]) == CONV]


KERNEL_MARGINS = (0.5, 1.0, 0.75, 0.25)  # left, right (colour bar), top (title), bottom; inches


def kernel_figsize(n_in, n_out):
    """Inches of the kernel grid of a layer with n_in input and n_out output maps."""
    left, right, top, bottom = KERNEL_MARGINS
    return (max(KERNEL_CELL * n_out + left + right, 5.0), KERNEL_CELL * n_in + top + bottom)


def plot_kernels(model, layer, path, *, dpi=DPI):
    """The learned 5x5 kernels of one conv layer as a grey-level grid.

    Columns: output maps; rows: input maps; a blank cell where an output map does not read
    that input (the zip-code net's H2 reads 8 of 12). One symmetric grey scale for the
    layer, dark = positive (like ink). Returns ``weights`` (out, in, k, k) rebuilt from the
    drawn cells (NaN where blank), ``connections`` (out, n_conn), ``vmax`` and file info.
    """
    from ..architectures import CONN_OFF, IN_C, N_CONN, OUT_C

    rows = dict(conv_layers(model))
    if layer not in rows:
        raise UsageError(f"{model.arch.name} has no conv layer {layer!r}; it has {', '.join(rows)}")
    row = model.plan.table[rows[layer]]
    n_in, n_out, n_conn = int(row[IN_C]), int(row[OUT_C]), int(row[N_CONN])
    conn = model.plan.conn[int(row[CONN_OFF]):int(row[CONN_OFF]) + n_out * n_conn].reshape(n_out, n_conn)
    w = np.asarray(model[f"{layer}.weight"], float)          # (out, n_conn, k, k)
    k = w.shape[-1]
    vmax = float(np.abs(w).max()) or 1.0
    figsize = kernel_figsize(n_in, n_out)
    fig = _new_figure(figsize, dpi, layout=None)
    (left, _, top, bottom), (W, H) = KERNEL_MARGINS, figsize
    grid_w = KERNEL_CELL * n_out
    grid = fig.add_gridspec(n_in, n_out, left=left / W, right=(left + grid_w) / W, top=1 - top / H,
                            bottom=bottom / H, wspace=0.25, hspace=0.25)
    axes = np.asarray(grid.subplots(squeeze=False))
    shown = np.full((n_out, n_in, k, k), np.nan)
    image = None
    for o in range(n_out):
        for i in range(n_in):
            ax = axes[i, o]
            ax.set_xticks([])
            ax.set_yticks([])
            slots = np.flatnonzero(conn[o] == i)
            if slots.size:
                image = ax.imshow(w[o, slots[0]], cmap="gray_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
                shown[o, i] = image.get_array()
            else:
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if i == 0:
                ax.set_title(str(o), fontsize="small")
            if o == 0:
                ax.set_ylabel(str(i), fontsize="small", rotation=0, labelpad=8, va="center")
    cax = fig.add_axes(((left + grid_w + 0.25) / W, bottom / H, 0.15 / W, 1 - (top + bottom) / H))
    fig.colorbar(image, cax=cax)
    fig.suptitle(f"{model.arch.name} {layer}: {n_out} kernels {k}x{k}\n"
                 f"columns: output map, rows: input map", fontsize="medium", y=1 - 0.05 / H, va="top")
    return _finish(fig, path, dpi, figsize, {"layer": layer, "weights": shown, "connections": conn,
                                             "vmax": vmax})
