"""The published figures the reproduction compares with (published.json, beside this file):
each with its source, page, the sentence that states it, and whether that sentence was read
in the source's own text (``verified``), only in a third party's transcription, or the figure
is ours, derived from sentences that were read (``derived``)."""

import json
import os
from functools import lru_cache

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published.json")


@lru_cache(maxsize=None)
def load(path=PATH):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data["by_id"] = {fig["id"]: fig for fig in data["figures"]}
    return data


def figure(fid, path=PATH):
    return load(path)["by_id"][fid]


def source(name, path=PATH):
    return load(path)["sources"][name]


def status_text(fig, path=PATH):
    """How far the figure is checked: 'yes', 'transcribed by X', 'derived from p. N' or 'no'."""
    if fig["verified"]:
        return "yes"
    if fig["status"] == "transcribed":
        return f"no: as transcribed by {source(fig['via'], path)['short']}"
    if fig["status"] == "derived":  # not printed: our arithmetic on sentences that were read
        return f"no: derived from p. {fig['page']}'s figures"
    return "no: text not found"
