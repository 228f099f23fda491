"""The page in a real headless browser (Debian's chromium driven by Playwright).

`lenet-numba serve` runs as a real process on a free port with a LeNet-1 trained here on
the USPS digits; the test draws a 7 with mouse strokes, expects "7" and every layer's
panel, undoes and clears, then trains two passes and watches the error curve grow.
Skips without chromium or playwright, except under CI (env CI set), where it fails.
Set LENET_NUMBA_SCREENSHOT=path.png to keep a screenshot of the page in action.
"""

import os
import subprocess
import sys
import threading

import pytest

from lenet_numba.serve.strokes import SEVEN
from optional import require

CHROMIUM = "/usr/bin/chromium"
SERVER_OUTPUT = [[]]  # what the server process printed (for a failure's message)


def wait_for(page, expression, timeout=30000):
    """page.wait_for_function, but a timeout says what the page and the server showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(expression, timeout=timeout)
    except PlaywrightTimeout:
        state = page.locator("#train-state").text_content()
        raise AssertionError(f"timed out waiting for {expression}; train state: {state!r}; "
                             f"server printed: {''.join(SERVER_OUTPUT[0])[-3000:]!r}") from None
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    require("starlette", "pip install 'lenet-numba[web]'")
    require("playwright", "pip install playwright (the browser is Debian's chromium)")
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: " + message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(data_root, tmp_path_factory):
    """`lenet-numba serve CHECKPOINT --port 0` in its own process; yields its URL."""
    from lenet_numba.experiment import TrainConfig, run

    d = tmp_path_factory.mktemp("serve")
    checkpoint = d / "lenet1.npz"
    run(TrainConfig.from_options(arch="lenet1", recipe="1989", seed=0, data_dir=str(data_root), download=False,
                    out=str(checkpoint)))
    cmd = [sys.executable, "-c", "from lenet_numba_cli.main import main; main()", "serve", str(checkpoint),
           "--port", "0", "--data-dir", str(data_root), "--save-dir", str(d / "saved")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("lenet-numba serve: http://127.0.0.1:"), (line, proc.stderr.read() if
                                                                        proc.poll() is not None else "")
        # keep reading what the server prints (request log, compile notes): a pipe nobody
        # reads fills up after ~64 KB and then blocks the server mid-request
        printed = []
        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=lambda f=stream: printed.extend(f), daemon=True).start()
        SERVER_OUTPUT[:] = [printed]
        yield line.split()[2]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def stroke(page, box, points):
    """Press, move through ``points`` (0..1 of the pad) in small steps, release."""
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=12)
    page.mouse.up()


def test_draw_a_seven_then_train_two_passes(browser, server):
    page = browser.new_page(viewport={"width": 1240, "height": 860})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('checkpoint')")
    pad = page.locator("#pad").bounding_box()
    bar, diagonal = SEVEN[0][:2], SEVEN[0][1:]
    stroke(page, pad, bar)        # two strokes: the bar, then the diagonal from its end
    page.wait_for_function("document.getElementById('answer').textContent !== '–'")
    stroke(page, pad, diagonal)
    page.wait_for_function("document.getElementById('answer').textContent === '7'", timeout=10000)
    layers = page.locator("#layers .layer")
    assert layers.count() == 6  # C1, S1, C2, S2, F1, outputs
    assert page.locator("#layers .layer[data-layer=conv2] canvas").count() == 12
    assert page.locator("#scores .bar").count() == 10
    assert "rejected below" in page.locator("#threshold").text_content()
    seven_input = page.locator("#step-16").evaluate("c => c.toDataURL()")

    answers = int(page.locator("#answer").get_attribute("data-answers"))
    page.click("#undo")           # the bar alone is read again...
    page.wait_for_function(f"Number(document.getElementById('answer').dataset.answers) > {answers}")
    assert page.locator("#step-16").evaluate("c => c.toDataURL()") != seven_input
    stroke(page, pad, diagonal)   # ...and with the diagonal back it is a 7 again
    page.wait_for_function("document.getElementById('answer').textContent === '7'")

    page.select_option("#arch", "lenet1")
    page.select_option("#recipe", "1989")
    page.fill("#epochs", "2")
    page.click("#train")
    # >= 1, not === 1: a pass takes well under a second now, and the page may show the
    # second before a poll sees the first
    wait_for(page, "Number(document.getElementById('curve').dataset.passes) >= 1", timeout=300000)
    wait_for(page, "document.getElementById('curve').dataset.passes === '2'", timeout=300000)
    wait_for(page, "document.getElementById('train-state').textContent.startsWith('done')")
    assert page.locator("#curve polyline.te").count() == 1
    assert page.locator("#kernels canvas").count() == 4 + 12 * 4  # C1 1x4, C2 4x12
    assert page.locator("#answer").text_content() in "0123456789"  # re-read with the new weights
    page.click("#save")
    page.wait_for_function("document.getElementById('train-state').textContent.startsWith('saved as lenet1-1989')")
    shot = page.screenshot(full_page=True)
    keep = os.environ.get("LENET_NUMBA_SCREENSHOT")
    if keep:
        save_small_png(shot, keep)
    page.click("#clear")
    assert page.locator("#answer").text_content() == "–" and page.locator("#layers .layer").count() == 0
    assert not errors, errors
    page.close()


def save_small_png(png, path):
    """The screenshot in 64 colours (a page of flat panels loses nothing visible)."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").quantize(64).save(path, optimize=True)
