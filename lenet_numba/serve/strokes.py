"""The page's pen in NumPy: strokes -> grey levels, as the page sends them.

Tests and the latency benchmark use it to call the API the way the page does.
"""

import numpy as np

SEVEN = (((0.22, 0.2), (0.78, 0.2), (0.45, 0.85)),)   # a 7: top bar, then the long diagonal
SEND_SIDE = 140   # the page sends its 280x280 pad at 140x140
PEN_WIDTH = 10    # px at 140x140 (the page's 20 px at 280x280)


def draw_strokes(strokes=SEVEN, side=SEND_SIDE, width=PEN_WIDTH):
    """(side, side) uint8: white paper, black round-capped strokes through the points
    (x, y in 0..1 of the side)."""
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    ink = np.zeros((side, side), bool)
    for stroke in strokes:
        pts = np.asarray(stroke, float) * side
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
            dx, dy = x1 - x0, y1 - y0
            t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
            ink |= (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= (width / 2) ** 2
    return np.where(ink, 0, 255).astype(np.uint8)
