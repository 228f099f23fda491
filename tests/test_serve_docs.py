"""docs/serve.md's measured figures are rendered from bench/results/serve.json by the
benchmark's own --render, never typed; its pictures are the ones the browser test writes."""

import os
import re

from rendered_blocks import ROOT, check_page

PAGE = os.path.join(ROOT, "docs", "serve.md")


def test_serve_page_blocks_match_their_results():
    assert check_page(PAGE) >= 1


def test_serve_page_pictures_exist():
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
    assert {"img/serve-desktop.png", "img/serve-phone.png"} <= set(pictures)
    for p in pictures:
        assert os.path.isfile(os.path.join(ROOT, "docs", p)), p
