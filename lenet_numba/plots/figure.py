"""What every figure shares: the matplotlib import, sizes, checks of outputs and the atomic save.

Only matplotlib's object API is used (a ``Figure`` on an Agg canvas): no pyplot, so no
global figure state and no backend switching in the caller's process.
"""

import io
import os

import numpy as np

from ..atomic import atomic_open, check_distinct_paths, check_name_fits, check_output_dir
from ..errors import MissingDependency, UsageError

DPI = 100
DPI_RANGE = (20, 600)             # beyond 600 the largest figure is a ~50 MB bitmap; 1e5 dpi exhausts memory


def _matplotlib():
    """(Figure, FigureCanvasAgg, colors, ticker) or a one-line error naming the extra."""
    try:
        from matplotlib import colors, ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency("plotting needs matplotlib: pip install 'lenet-numba[plot]'") from None
    return Figure, FigureCanvasAgg, colors, ticker


def require_matplotlib():
    """Fail early (before any slow work) when matplotlib is missing."""
    _matplotlib()


def check_dpi(dpi, what="dpi"):
    """UsageError unless ``dpi`` is an integer in DPI_RANGE (a huge one would exhaust memory)."""
    lo, hi = DPI_RANGE
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not lo <= dpi <= hi:
        raise UsageError(f"{what} must be an integer in {lo}..{hi}, got {dpi!r}")
    return int(dpi)


def check_out_dir(path, what="--out-dir"):
    """atomic.check_output_dir: a folder, or one that creating just it would make."""
    return check_output_dir(path, what)


def check_output_files(paths, inputs):
    """UsageError if one of the PNG paths about to be written is a folder or other non-file,
    the same file as one of ``inputs`` (option -> path, by identity: a link is seen through),
    or a name longer than the file system takes (a long --prefix)."""
    for path in paths:
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UsageError(f"{path}: exists and is not a regular file")
        check_distinct_paths({"output": path}, inputs, advice="choose another --prefix or --out-dir")
        check_name_fits(path)


def _new_figure(figsize, dpi, layout="constrained"):
    """A figure on an Agg canvas; many-axes grids pass layout=None and place axes themselves
    (constrained layout costs about a second per figure there)."""
    Figure, FigureCanvasAgg, _, _ = _matplotlib()
    check_dpi(dpi)
    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi):
    """Render to PNG in memory, then replace ``path`` atomically; returns the pixel size."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())  # atomic_open gives it an ordinary file's permissions
    return fig.canvas.get_width_height()


def _percent_axis(axis, ticker, decimals=None):
    axis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=decimals))


# --------------------------------------------------------------------------- metrics


def _finish(fig, path, dpi, figsize, drawn):
    drawn.update(path=os.fspath(path), figsize=tuple(figsize), dpi=dpi, pixels=_save(fig, path, dpi))
    return drawn
