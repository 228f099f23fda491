"""Seeded per-sample augmentation: shift, rotation, scaling, shear, per-axis stretch and
elastic distortion.

The distortion of a sample is a pure function of (seed, epoch, index): a counter-based
hash (splitmix64) draws its parameters, so there is no RNG state to save, resuming is
exact, and the chunking of an epoch cannot change it.

Shapes: image (H, W) in [-1, 1] -> out (H, W); pixels that come from outside the image
are background (-1), sampled bilinearly (so the output stays in [-1, 1]).

* :func:`augment_image` — shift / rotate / scale (the original three distortions).
* :func:`distort_image` — the same plus shear, independent x-y stretch and an elastic
  displacement field (Simard, Steinkraus & Platt 2003: a field of U(-1, 1) values per
  pixel and axis, smoothed by a normalized Gaussian of width sigma, multiplied by alpha,
  added to the affine source coordinates). With the extra strengths at zero it gives
  exactly the output of :func:`augment_image`.
* :func:`augment_from_vector` — :func:`distort_image` with its strengths read from the
  float64 vector the training loop carries (see ``AUG_*`` below and
  ``augmentation_vector``), optionally only for the first ``AUG_EPOCHS`` passes.
"""

import numpy as np

from ..jit_cache import njit
from ..limits import DISTORTION_LIMITS

BACKGROUND = -1.0

# layout of the augmentation vector carried by the compiled training loop: 1.0 (on), then
# the recipe's fields of AUG_FIELDS in that order
AUG_FIELDS = (*DISTORTION_LIMITS, "augment_epochs")
AUG_SIZE = 1 + len(AUG_FIELDS)
AUG_ENABLED = 0
AUG_SHIFT, AUG_ROTATE, AUG_SCALE, AUG_SHEAR, AUG_STRETCH, AUG_ELASTIC_ALPHA, AUG_ELASTIC_SIGMA, AUG_EPOCHS = (
    1 + AUG_FIELDS.index(name) for name in ("max_shift", "max_rotate", "max_scale", "max_shear", "max_stretch",
                                            "elastic_alpha", "elastic_sigma", "augment_epochs"))


def augmentation_vector(recipe):
    """The vector (AUG_SIZE, float64) of a Recipe (or any object with its augmentation
    fields; missing ones count as 0): all zeros when it does not augment (or is None)."""
    if recipe is None or not getattr(recipe, "augment", False):
        return np.zeros(AUG_SIZE, np.float64)
    return np.array([1.0] + [float(getattr(recipe, name, 0.0)) for name in AUG_FIELDS], np.float64)

# hash counters: 0-3 shift/rotate/scale, 4-6 shear/stretch, ELASTIC_K0.. the elastic field
_K_SHEAR, _K_STRETCH_Y, _K_STRETCH_X = 4, 5, 6
_ELASTIC_K0 = 64


@njit(cache=True)
def splitmix64(z):
    z = (z + np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def sample_key(seed, epoch, index):
    """The hash state shared by every draw of one (seed, epoch, index)."""
    z = splitmix64(np.uint64(seed))
    z = splitmix64(z ^ np.uint64(epoch))
    return splitmix64(z ^ np.uint64(index))


@njit(cache=True)
def uniform_from_key(key, k):
    z = splitmix64(key ^ np.uint64(k))
    return (z >> np.uint64(11)) * (2.0 / 9007199254740992.0) - 1.0  # 53 random bits


@njit(cache=True)
def uniform_pm1(seed, epoch, index, k):
    """A number in [-1, 1) that depends only on its four arguments."""
    return uniform_from_key(sample_key(seed, epoch, index), k)


@njit(cache=True)
def _bilinear(image, sy, sx):
    H, W = image.shape
    iy, ix = int(np.floor(sy)), int(np.floor(sx))
    fy, fx = sy - iy, sx - ix
    acc = 0.0
    for a in range(2):
        for b in range(2):
            yy, xx = iy + a, ix + b
            wgt = (fy if a else 1.0 - fy) * (fx if b else 1.0 - fx)
            v = image[yy, xx] if (0 <= yy < H and 0 <= xx < W) else BACKGROUND
            acc += wgt * v
    return acc


@njit(cache=True)
def elastic_radius(sigma):
    """Half-width of the Gaussian kernel that smooths the elastic noise."""
    r = int(np.ceil(3.0 * sigma))
    return r if r > 1 else 1


@njit(cache=True)
def work_size(H, W, sigma):
    """Length of the float64 scratch buffer distort_image needs (the elastic field, its
    kernel, noise and half-smoothed rows), so the training loop allocates it once."""
    r = elastic_radius(sigma)
    Hp, Wp = H + 2 * r, W + 2 * r
    return 2 * H * W + (2 * r + 1) + Hp * Wp + Hp * W


@njit(cache=True)
def elastic_field(key, H, W, alpha, sigma, field, work):
    """field (2, H, W) <- alpha * (Gaussian(sigma) * U(-1, 1) noise), y then x displacement.

    The noise is drawn on a grid padded by the kernel radius, so the smoothed field has
    the same statistics at the border as in the middle. Noise value (axis, y, x) of the
    padded grid uses hash counter _ELASTIC_K0 + (axis * Hp + y) * Wp + x.
    """
    r = elastic_radius(sigma)
    Hp, Wp = H + 2 * r, W + 2 * r
    # scratch views of `work` (length >= (2r+1) + Hp*Wp + Hp*W): nothing is allocated
    kern = work[:2 * r + 1]
    noise = work[2 * r + 1:2 * r + 1 + Hp * Wp].reshape((Hp, Wp))
    rows = work[2 * r + 1 + Hp * Wp:2 * r + 1 + Hp * Wp + Hp * W].reshape((Hp, W))
    total = 0.0
    for t in range(2 * r + 1):
        d = t - r
        kern[t] = np.exp(-0.5 * d * d / (sigma * sigma))
        total += kern[t]
    for t in range(2 * r + 1):
        kern[t] /= total
    for axis in range(2):
        base = _ELASTIC_K0 + axis * Hp * Wp
        for y in range(Hp):
            for x in range(Wp):
                noise[y, x] = uniform_from_key(key, base + y * Wp + x)
        for y in range(Hp):        # smooth along x
            for x in range(W):
                acc = 0.0
                for t in range(2 * r + 1):
                    acc += kern[t] * noise[y, x + t]
                rows[y, x] = acc
        for y in range(H):         # then along y
            for x in range(W):
                acc = 0.0
                for t in range(2 * r + 1):
                    acc += kern[t] * rows[y + t, x]
                field[axis, y, x] = alpha * acc


@njit(cache=True)
def distort_image(image, seed, epoch, index, max_shift, max_rotate_deg, max_scale,
                  max_shear, max_stretch, elastic_alpha, elastic_sigma, out, work):
    """Affine (shift, rotation, scale, shear, x-y stretch) + elastic distortion of one image.

    Output pixel p (relative to the centre) reads the source at A^-1 (p - shift) + centre
    + elastic(p), with A = rotation . shear . diag(stretch_y, stretch_x) * scale, where
    shear = max_shear * u (x += shear * y), stretch_y/x = 1 + max_stretch * u (each its
    own u), and elastic(p) as in :func:`elastic_field` (skipped when alpha or sigma is 0).
    A positive angle turns the picture clockwise as displayed (row 0 on top): +90 degrees
    is np.rot90(image, -1) (tests/test_augment.py).
    work: float64 scratch of length >= work_size(H, W, elastic_sigma) (unused without
    the elastic part).
    """
    H, W = image.shape
    key = sample_key(seed, epoch, index)
    dy = max_shift * uniform_from_key(key, 0)
    dx = max_shift * uniform_from_key(key, 1)
    angle = np.deg2rad(max_rotate_deg) * uniform_from_key(key, 2)
    scale = 1.0 + max_scale * uniform_from_key(key, 3)
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    # inverse map [[m00, m01], [m10, m11]] applied to (y0, x0)
    m00, m01, m10, m11 = c, -s, s, c
    if max_shear != 0.0 or max_stretch != 0.0:
        sh = max_shear * uniform_from_key(key, _K_SHEAR)
        ky = 1.0 + max_stretch * uniform_from_key(key, _K_STRETCH_Y)
        kx = 1.0 + max_stretch * uniform_from_key(key, _K_STRETCH_X)
        # inverse of shear . diag(ky, kx): diag(1/ky, 1/kx) . [[1, 0], [-sh, 1]]
        # (shear maps (y, x) -> (y, x + sh * y)); then times the inverse rotation/scale
        b00, b01, b10, b11 = 1.0 / ky, 0.0, -sh / kx, 1.0 / kx
        m00, m01, m10, m11 = (b00 * c + b01 * s, -b00 * s + b01 * c,
                              b10 * c + b11 * s, -b10 * s + b11 * c)
    elastic = elastic_alpha != 0.0 and elastic_sigma > 0.0
    n = 2 * H * W if elastic else 0  # without the elastic part `work` may be empty
    field = work[:n].reshape((2, H if elastic else 0, W if elastic else 0))
    if elastic:
        elastic_field(key, H, W, elastic_alpha, elastic_sigma, field, work[2 * H * W:])
    for r in range(H):
        for q in range(W):
            # output pixel -> source point: undo the shift, then the linear part
            y0, x0 = r - cy - dy, q - cx - dx
            sy = m00 * y0 + m01 * x0 + cy
            sx = m10 * y0 + m11 * x0 + cx
            if elastic:
                sy += field[0, r, q]
                sx += field[1, r, q]
            out[r, q] = _bilinear(image, sy, sx)


@njit(cache=True)
def augment_image(image, seed, epoch, index, max_shift, max_rotate_deg, max_scale, out):
    """Shift / rotate / scale only (:func:`distort_image` with the other strengths at 0)."""
    distort_image(image, seed, epoch, index, max_shift, max_rotate_deg, max_scale,
                  0.0, 0.0, 0.0, 0.0, out, np.empty(0))


@njit(cache=True)
def augment_from_vector(image, seed, epoch, index, aug, out, work):
    """:func:`distort_image` with strengths from ``aug`` (AUG_SIZE long, layout AUG_*).
    aug[AUG_ENABLED] is not read here: the caller (train.train_chunk) decides whether to
    augment at all.

    aug[AUG_EPOCHS] > 0: only passes epoch < aug[AUG_EPOCHS] are distorted; later ones
    copy the image unchanged (training ends on the clean images)."""
    if aug[AUG_EPOCHS] > 0.0 and epoch >= aug[AUG_EPOCHS]:
        out[:, :] = image
        return
    distort_image(image, seed, epoch, index, aug[AUG_SHIFT], aug[AUG_ROTATE], aug[AUG_SCALE], aug[AUG_SHEAR],
                  aug[AUG_STRETCH], aug[AUG_ELASTIC_ALPHA], aug[AUG_ELASTIC_SIGMA], out, work)
