"""The page in a real headless browser (Debian's chromium driven by Playwright).

`lenet-numba serve` runs as a real process on a free port with a LeNet-1 trained here on
the USPS digits. On a desktop window (1280 px) the test draws a 7 with mouse strokes,
expects "7", every layer, keys on every picture and a unit's details on hover, undoes and
clears, trains two passes of a live network and switches between it and the loaded one;
on a phone's (390 px, touch) it draws and taps. Neither page may scroll sideways.
Each writes its screenshot, docs/img/serve-desktop.png and docs/img/serve-phone.png, so
the pictures of the page cannot go stale.
Skips without chromium or playwright, except under CI (env CI set), where it fails.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lenet_numba.serve.strokes import SEVEN
from optional import require

CHROMIUM = "/usr/bin/chromium"
SERVER_OUTPUT = [[]]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "img"  # what the server process printed (for a failure's message)


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


def run_server(*args):
    """`lenet-numba serve ARGS --port 0` in its own process: (process, printed URL)."""
    cmd = [sys.executable, "-c", "from lenet_numba_cli.main import main; main()", "serve", *map(str, args),
           "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    if not line.startswith("lenet-numba serve: http://127.0.0.1:"):
        proc.kill()
        raise AssertionError((line, proc.stderr.read()))
    # keep reading what the server prints (request log, compile notes): a pipe nobody
    # reads fills up after ~64 KB and then blocks the server mid-request
    printed = []
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=lambda f=stream: printed.extend(f), daemon=True).start()
    SERVER_OUTPUT[:] = [printed]
    return proc, line.split()[2]


def stop_server(proc):
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(data_root, tmp_path_factory):
    """`lenet-numba serve CHECKPOINT` with a LeNet-1 trained here; yields its URL."""
    from lenet_numba.experiment import TrainConfig, run

    d = tmp_path_factory.mktemp("serve")
    checkpoint = d / "lenet1.npz"
    run(TrainConfig.from_options(arch="lenet1", recipe="1989", seed=0, data_dir=str(data_root), download=False,
                    out=str(checkpoint)))
    proc, url = run_server(checkpoint, "--data-dir", data_root, "--save-dir", d / "saved")
    try:
        yield url
    finally:
        stop_server(proc)


def stroke(page, box, points):
    """Press, move through ``points`` (0..1 of the pad) in small steps, release."""
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=12)
    page.mouse.up()


def draw_seven_strokes(page):
    pad = page.locator("#pad").bounding_box()
    bar, diagonal = SEVEN[0][:2], SEVEN[0][1:]
    stroke(page, pad, bar)
    stroke(page, pad, diagonal)


def draw_seven(page):
    page.wait_for_function("document.getElementById('model-info').textContent.includes('passes')")
    pad = page.locator("#pad").bounding_box()
    bar, diagonal = SEVEN[0][:2], SEVEN[0][1:]
    stroke(page, pad, bar)        # two strokes: the bar, then the diagonal from its end
    page.wait_for_function("document.getElementById('answer').dataset.digit !== ''")
    stroke(page, pad, diagonal)
    page.wait_for_function("document.getElementById('answer').dataset.digit === '7'", timeout=10000)
    return pad, bar, diagonal


def assert_no_sideways_scroll(page, when):
    """Neither the document nor any element reaches past the window's right edge."""
    wide = page.evaluate("""() => {
        const w = document.documentElement.clientWidth;
        const out = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 0.5)
            .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} right=${e.getBoundingClientRect().right}`);
        return {scroll: document.documentElement.scrollWidth, width: w, out: out.slice(0, 5)};
    }""")
    assert wide["scroll"] <= wide["width"] and not wide["out"], (when, wide)


def assert_keys(page):
    """Every picture says what its colours mean; the outputs carry their digits."""
    assert page.locator("#steps-key .key").count() == 2  # the 16x16 grey levels, the signed input
    for sel in ("#layer-key .key",
                "#kernels [data-kernel-key] .key", ".chart figcaption .key"):
        assert page.locator(sel).count() >= 1, f"no key: {sel}"
    assert page.locator("#layers .outputs .unit").all_text_contents() == [str(d) for d in range(10)]
    assert [t.strip() for t in page.locator("#scores .digit").all_text_contents()] == [str(d) for d in range(10)]


def hover_details(page, selector, *words):
    """Move the pointer onto ``selector`` and return the unit details the page shows."""
    page.hover(selector)
    page.wait_for_function("document.getElementById('unit-details').textContent.includes('←')")
    text = page.locator("#unit-details").text_content()
    assert all(w in text for w in words), (text, words)
    return text


def test_desktop_draw_hover_train_and_switch(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, missing = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    page.goto(server)
    assert page.locator("#answer").get_attribute("data-digit") == ""  # empty state: no answer yet
    assert "Draw a digit" in page.locator("#layers .empty-state").text_content()
    assert page.locator("#model-switch input[value=live]").is_disabled()  # no run yet
    pad, bar, diagonal = draw_seven(page)
    layers = page.locator("#layers .layer")
    assert layers.count() == 6  # C1, S1, C2, S2, F1, outputs
    assert page.locator("#layers .layer[data-layer=conv2] canvas").count() == 12
    for canvas in page.locator("#layers canvas.map").all():  # every map large enough to read
        box = canvas.bounding_box()
        assert box["width"] >= 48 and box["height"] >= 48, box
    assert page.locator("#scores .bar").count() == 10
    threshold = page.locator("#threshold").text_content()
    assert "below" in threshold and threshold.count("gap") == 1, threshold  # said once
    assert "accepted" in page.locator("#answer-note").text_content() or \
        "rejected" in page.locator("#answer-note").text_content()
    assert_keys(page)
    assert_no_sideways_scroll(page, "after a prediction")

    # hover: a conv2 unit reads a 5x5 window of every pool1 map; an output reads all of fc1
    hover_details(page, "#layers .layer[data-layer=conv2] .map-wrap[data-map='3'] canvas", "conv2 map 3",
                  "5×5 window", "pool1")
    assert page.locator("#layers .layer[data-layer=pool1] i.feed").count() == 4
    assert page.locator("#layers .layer[data-layer=conv2] i.here").count() == 1
    hover_details(page, "#layers .outputs .unit[data-unit='7']", "output for digit 7", "all 30 units of fc1")
    hover_details(page, "#layers .layer[data-layer=conv1] .map-wrap[data-map='0'] canvas", "conv1 map 0",
                  "16×16 input")
    assert page.locator("#steps-panel figure i.feed").count() == 1  # the window on the input

    seven_input = page.locator("#step-16").evaluate("c => c.toDataURL()")
    answers = int(page.locator("#answer").get_attribute("data-answers"))
    page.click("#undo")           # the bar alone is read again...
    page.wait_for_function(f"Number(document.getElementById('answer').dataset.answers) > {answers}")
    assert page.locator("#step-16").evaluate("c => c.toDataURL()") != seven_input
    pad = page.locator("#pad").bounding_box()  # afresh: hovering the layers scrolled the page
    stroke(page, pad, diagonal)   # ...and with the diagonal back it is a 7 again
    page.wait_for_function("document.getElementById('answer').dataset.digit === '7'")

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
    assert page.locator("#curve text.tick.x").all_text_contents() == ["1", "2"]  # numbered passes
    assert page.locator("#curve text.tick.y").count() >= 3
    assert page.locator("#kernels canvas").count() == 4 + 12 * 4  # C1 1x4, C2 4x12
    # the tab that started the run reads with it; the switch leads back to the loaded network
    assert page.locator("#model-switch input[value=live]").is_checked()
    wait_for(page, "document.getElementById('answer').dataset.model === 'live'")
    assert "training: lenet1" in page.locator("#model-info").text_content()
    answers = int(page.locator("#answer").get_attribute("data-answers"))
    page.click("#model-switch label:has(input[value=loaded])")
    wait_for(page, f"Number(document.getElementById('answer').dataset.answers) > {answers}")
    assert page.locator("#answer").get_attribute("data-model") == "loaded"
    assert page.locator("#answer").text_content() == "7"
    assert "checkpoint" in page.locator("#model-info").text_content()
    other = browser.new_page(viewport={"width": 1280, "height": 900})  # another reader: still the checkpoint
    other.goto(server)
    other.wait_for_function("document.getElementById('model-info').textContent.includes('checkpoint')")
    assert not other.locator("#model-switch input[value=live]").is_disabled()
    assert other.locator("#model-switch input[value=loaded]").is_checked()
    other.close()
    page.click("#model-switch label:has(input[value=live])")
    wait_for(page, "document.getElementById('answer').dataset.model === 'live'")

    page.click("#save")
    page.wait_for_function("document.getElementById('train-state').textContent.startsWith('saved as lenet1-1989')")
    assert_keys(page)
    assert_no_sideways_scroll(page, "after training")
    page.click("#clear")
    assert page.locator("#answer").get_attribute("data-digit") == ""
    assert page.locator("#layers .layer").count() == 0
    draw_seven(page)              # the picture: a fresh 7 read by the live run, one unit pointed at
    hover_details(page, "#layers .layer[data-layer=conv2] .map-wrap[data-map='5'] canvas", "conv2 map 5")
    page.evaluate("window.scrollTo(0, 0)")  # the unit details box sits in its place, not stuck mid-page
    save_small_png(page.screenshot(full_page=True), SCREENSHOTS / "serve-desktop.png")
    assert not errors, errors
    assert not missing, missing  # no 404: not even /favicon.ico
    page.close()


def test_phone_draw_and_tap_without_sideways_scrolling(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=1)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_function("document.getElementById('model-info').textContent.includes('checkpoint')")
    assert_no_sideways_scroll(page, "empty page")
    draw_seven(page)
    wait_for(page, "document.querySelectorAll('#kernels canvas').length > 0")
    assert_keys(page)
    assert_no_sideways_scroll(page, "after a prediction")
    page.tap("#layers .outputs .unit[data-unit='7']")  # a finger: tap a unit to see its details
    page.wait_for_function("document.getElementById('unit-details').textContent.includes('digit 7')")
    page.tap("#layers .layer[data-layer=pool2] .map-wrap[data-map='0'] canvas")
    page.wait_for_function("document.getElementById('unit-details').textContent.includes('pool2 map 0')")
    assert page.locator("#layers .layer[data-layer=conv2] i.feed").count() == 1
    assert_no_sideways_scroll(page, "after a tap")
    page.evaluate("window.scrollTo(0, 0)")  # the unit details box sits in its place, not stuck mid-page
    save_small_png(page.screenshot(full_page=True), SCREENSHOTS / "serve-phone.png")
    assert not errors, errors
    context.close()


def save_small_png(png, path):
    """The screenshot in 128 colours (a page of flat panels loses nothing visible)."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").quantize(128).save(path, optimize=True)


def test_shared_server_opens_with_its_secret_only(browser, data_root):
    """Listening on 0.0.0.0: a browser without the secret sees the login page and nothing
    else; the printed address (or the secret typed into the login page) opens the page."""
    proc, url = run_server("--host", "0.0.0.0", "--data-dir", data_root)
    try:
        assert "?secret=" in url
        base, secret = url.split("?secret=")
        stranger = browser.new_context()
        page = stranger.new_page()
        res = page.goto(base)
        assert res.status == 401 and page.locator("#login").count() == 1
        assert page.locator('meta[name="lenet-token"]').count() == 0
        page.fill("input[name=secret]", "not-it")
        page.click("button[type=submit]")
        assert "Wrong secret" in page.locator("#login").text_content()
        page.fill("input[name=secret]", secret)
        page.click("button[type=submit]")
        page.wait_for_function("document.getElementById('model-info').textContent.includes('untrained')")
        assert "secret" not in page.url  # dropped from the address bar
        stranger.close()
        invited = browser.new_context()
        page = invited.new_page()
        page.goto(url)
        page.wait_for_function("document.getElementById('model-info').textContent.includes('untrained')")
        draw_seven_strokes(page)
        page.wait_for_function("document.getElementById('answer').dataset.digit !== ''")
        invited.close()
    finally:
        stop_server(proc)
