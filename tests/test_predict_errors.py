"""``lenet-numba predict`` on pictures it cannot or must not use: one line, exit 1, no traceback.

Decompression bombs and Pillow's other decode errors name the file; a picture with no ink
(all white, all black, fully transparent) is refused instead of classified; a digit drawn
on a transparent background is flattened onto contrasting paper and read like the same
digit drawn on white; a 16-bit or float picture is read as its numbers (NaN, infinity and
values no grey level has are refused, mid greys not clipped). No training: the checkpoint
is a seeded random network.
"""

import json
import struct
import zlib

import numpy as np
import pytest

from clitools import assert_ok, assert_user_error, invoke
from random_checkpoint import save_random_lenet1

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_random_lenet1(tmp_path_factory.mktemp("ckpt") / "m.npz")


def png_declaring(path, width, height):
    """A tiny PNG file whose header declares width x height grey pixels (no real pixel data)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


def seven(mode="L", ink=0, paper=255, size=48):
    im = Image.new(mode, (size, size), paper)
    ImageDraw.Draw(im).line([(8, 10), (36, 10), (18, 42)], fill=ink, width=5)
    return im


def test_decompression_bomb_is_one_line(ckpt, tmp_path):
    bomb = png_declaring(tmp_path / "bomb.png", 30000, 30000)     # > 2x Pillow's limit: its error
    line = assert_user_error(invoke("predict", ckpt, bomb), 1, f"{bomb}: ", "too large")
    assert "DecompressionBomb" not in line
    warn = png_declaring(tmp_path / "warn.png", 13500, 13500)     # 1-2x the limit: Pillow only warns
    assert_user_error(invoke("predict", ckpt, warn), 1, f"{warn}: ", "too large")


@pytest.mark.parametrize("content, words", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, ["not a readable image"]),                # broken chunks
    (b"GIF89a" + b"\xff" * 20, ["not a readable image"]),                           # truncated header
    (b"P5\n16 16\n255\n" + b"\0" * 10, ["not a readable image"]),                   # short PGM
    (b"", ["not a readable image"]),
])
def test_undecodable_pictures(ckpt, tmp_path, content, words):
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    assert_user_error(invoke("predict", ckpt, path), 1, f"{path}: ", *words)


def test_truncated_png_is_one_line(ckpt, tmp_path):
    full = tmp_path / "full.png"
    seven().save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:-40])
    assert_user_error(invoke("predict", ckpt, cut), 1, f"{cut}: ", "not a readable image")


@pytest.mark.parametrize("name, make", [
    ("white.png", lambda: Image.new("L", (40, 40), 255)),
    ("black.png", lambda: Image.new("L", (40, 40), 0)),
    ("grey.jpg", lambda: Image.new("RGB", (40, 30), (128, 128, 128))),
    ("clear.png", lambda: Image.new("RGBA", (40, 40), (0, 0, 0, 0))),              # nothing drawn
    ("nearly-white.png", lambda: Image.fromarray(np.uint8(250 + np.arange(40 * 40).reshape(40, 40) % 6))),
])
def test_picture_without_ink_is_refused(ckpt, tmp_path, name, make):
    path = tmp_path / name
    make().save(path)
    assert_user_error(invoke("predict", ckpt, path), 1, f"{path}: no ink found: blank image")


def test_blank_npy_is_taken_as_given(ckpt, tmp_path):
    path = tmp_path / "blank.npy"
    np.save(path, -np.ones((16, 16), np.float32))
    res = json.loads(assert_ok(invoke("predict", ckpt, path, "--json")).stdout)
    assert len(res) == 1 and 0 <= res[0]["digit"] <= 9


def test_a_blank_picture_among_good_ones_prints_nothing(ckpt, tmp_path):
    good, blank = tmp_path / "good.png", tmp_path / "blank.png"
    seven().save(good)
    Image.new("L", (40, 40), 255).save(blank)
    res = invoke("predict", ckpt, good, blank)
    assert_user_error(res, 1, str(blank), "no ink found")
    assert res.stdout == ""


@pytest.mark.parametrize("mode, ink, paper", [
    ("RGBA", (0, 0, 0, 255), (0, 0, 0, 0)),            # black strokes on transparent black
    ("RGBA", (0, 0, 0, 255), (255, 255, 255, 0)),      # black strokes on transparent white
    ("RGBA", (255, 255, 255, 255), (0, 0, 0, 0)),      # white strokes (drawn for a dark theme)
    ("LA", (0, 255), (0, 0)),
    ("LA", (255, 255), (255, 0)),
])
def test_transparent_background_reads_like_paper(ckpt, tmp_path, mode, ink, paper):
    from lenet_numba.images import preprocess, read_image

    reference = tmp_path / "white.png"
    seven().save(reference)
    path = tmp_path / "alpha.png"
    seven(mode, ink, paper).save(path)
    want = preprocess(read_image(reference))
    got = preprocess(read_image(path))
    assert got.min() == -1.0 and got.max() > 0.5           # ink found, background -1
    assert np.allclose(got, want, atol=1e-6)
    res = json.loads(assert_ok(invoke("predict", ckpt, reference, path, "--json")).stdout)
    assert res[0]["digit"] == res[1]["digit"]
    assert np.allclose(res[0]["scores"], res[1]["scores"], atol=1e-5)


def test_palette_picture_with_transparency(ckpt, tmp_path):
    path = tmp_path / "seven.gif"
    im = seven("P", 1, 0)
    im.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    im.save(path, transparency=0)
    from lenet_numba.images import preprocess, read_image

    ref = tmp_path / "ref.png"
    seven().save(ref)
    assert np.allclose(preprocess(read_image(path)), preprocess(read_image(ref)), atol=1e-6)
    assert_ok(invoke("predict", ckpt, path))


def float_seven(ink, paper=0.0):
    """A 32-bit float picture (mode F) of a seven: ``ink`` on the strokes, ``paper`` elsewhere."""
    strokes = np.asarray(seven("L", 255, 0), np.float32) > 0
    return Image.fromarray(np.where(strokes, np.float32(ink), np.float32(paper)), mode="F")


@pytest.mark.parametrize("name, make, words", [
    ("one-nan.tif", lambda: float_seven(255.0), ["NaN or infinite pixel values (1 of 2,304)"]),
    ("nan-ink.tif", lambda: float_seven(np.nan), ["NaN or infinite pixel values"]),
    ("inf-ink.tif", lambda: float_seven(np.inf), ["NaN or infinite pixel values"]),
    ("huge-ink.tif", lambda: float_seven(1e30), ["pixel values must be in 0..255", "1e+30"]),
    ("negative-paper.tif", lambda: float_seven(255.0, -5.0), ["pixel values must be in 0..255", "-5..255"]),
])
def test_float_picture_with_values_no_grey_level_has_is_refused(ckpt, tmp_path, name, make, words):
    """Pillow's 8-bit conversion reads NaN as paper and infinity or 1e30 as full ink: such a
    picture was classified as a digit. It is refused, naming the file and the problem."""
    im = make()
    if name == "one-nan.tif":
        im.putpixel((0, 0), float("nan"))
    path = tmp_path / name
    im.save(path)
    res = invoke("predict", ckpt, path)
    assert_user_error(res, 1, f"{path}: ", *words)
    assert res.stdout == ""


def test_16_bit_and_float_pictures_read_like_the_8_bit_one(ckpt, tmp_path):
    """Grey levels are read on the picture's own scale: a 16-bit PNG's mid greys are not
    clipped to white at 255 (Pillow's 8-bit conversion), a float one in 0..255 is unchanged."""
    from PIL import ImageFilter

    from lenet_numba.images import preprocess, read_image

    eight = seven().filter(ImageFilter.GaussianBlur(2))        # strokes with soft grey edges
    levels = np.asarray(eight, np.uint16)
    paths = {"8.png": eight, "16.png": Image.fromarray(levels * 257),
             "f.tif": Image.fromarray(levels.astype(np.float32), mode="F")}
    for name, im in paths.items():
        im.save(tmp_path / name)
    assert Image.open(tmp_path / "16.png").mode.startswith("I;16")
    want = preprocess(read_image(tmp_path / "8.png"))
    for name in ("16.png", "f.tif"):
        assert np.allclose(preprocess(read_image(tmp_path / name)), want, atol=1e-6), name
    res = json.loads(assert_ok(invoke("predict", ckpt, *(tmp_path / n for n in paths), "--json")).stdout)
    assert len({r["digit"] for r in res}) == 1
    assert np.allclose([r["scores"] for r in res], res[0]["scores"], atol=1e-5)
