"""The grid: ``--set FIELD=V1,V2`` and ``--seeds`` texts -> a SweepSpec -> tasks.

A task is a JSON-able dict (the unit of work any executor can ship); its identity for
resuming is :func:`task_key`, what it computes (not its name or paths).
"""

import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields

from .. import recipes
from ..config import TrainConfig
from ..errors import UsageError
from ..limits import DEFAULT_ARCH, DEFAULT_CHUNK, DEFAULT_DATASET, DEFAULT_RECIPE, check_seed

NOT_SWEEPABLE = ("name", "description")
MAX_RUNS = 1_000_000  # settings x seeds; more is a typo (and its task list would not fit in memory)
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def field_types():
    """Recipe field name -> Python type, for the fields a sweep may set."""
    hints = {"str": str, "float": float, "int": int, "bool": bool}
    return {f.name: (hints.get(f.type, f.type) if isinstance(f.type, str) else f.type)
            for f in fields(recipes.Recipe) if f.name not in NOT_SWEEPABLE}


def convert(name, token):
    """One value of recipe field ``name`` from its text, by the field's type."""
    types = field_types()
    if name not in types:
        raise UsageError(f"--set {name}: not a recipe field; choose one of {', '.join(types)}")
    kind, text = types[name], token.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise UsageError(f"--set {name}={token}: not a finite {kind.__name__}") from None
    if not text:
        raise UsageError(f"--set {name}: empty value")
    return text


def parse_assignment(text):
    """``"lr=0.01,0.03"`` -> ``("lr", [0.01, 0.03])`` (values typed by the recipe field)."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise UsageError(f"--set {text!r}: expected FIELD=VALUE[,VALUE...], e.g. lr=0.01,0.03")
    parsed = [convert(name, v) for v in values.split(",")]
    seen = set()
    for v in parsed:
        if v in seen:
            raise UsageError(f"--set {name}: {format_value(v)} is listed twice")
        seen.add(v)
    return name, parsed


def parse_grid(assignments):
    """Several ``--set`` texts -> {field: [values]} in the order given (each field once)."""
    grid = {}
    for text in assignments:
        name, values = parse_assignment(text)
        if name in grid:
            raise UsageError(f"--set {name} is given twice; list all its values in one --set")
        grid[name] = values
    return grid


def parse_seeds(tokens):
    """Seeds from tokens like ``0``, ``0,1,2`` or ``0-4`` (inclusive); duplicates refused.

    Linear in the number of seeds, and a range is measured before it is expanded: at most
    MAX_RUNS seeds (a typo like 0-99999999999 is refused, not allocated)."""
    ranges = []
    count = 0
    for token in tokens:
        for part in str(token).split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d{1,30})(?:-(\d{1,30}))?", part)
            if not m:
                raise UsageError(f"--seeds {token}: expected non-negative integers like 0 1 2, 0,1,2 or 0-4")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise UsageError(f"--seeds {part}: empty range")
            count += hi - lo + 1
            if count > MAX_RUNS:
                raise UsageError(f"--seeds: more than {MAX_RUNS:,} seeds")
            ranges.append((lo, hi))
    seeds = [s for lo, hi in ranges for s in range(lo, hi + 1)]
    if len(set(seeds)) != len(seeds):
        seen = set()
        dup = next(s for s in seeds if s in seen or seen.add(s))
        raise UsageError(f"--seeds: seed {dup} is listed twice")
    return tuple(seeds)


def format_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def setting_label(setting):
    """``{"lr": 0.01, "mu": 0.02}`` -> ``"lr=0.01 mu=0.02"`` (``"recipe defaults"`` if empty)."""
    return " ".join(f"{k}={format_value(v)}" for k, v in setting.items()) or "recipe defaults"


def run_name(setting, seed):
    """A file-name-safe name of one run, e.g. ``lr=0.01_mu=0.02_seed=0``."""
    parts = [f"{k}={format_value(v)}" for k, v in setting.items()] + [f"seed={seed}"]
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", "_".join(parts))


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a base (arch, recipe, epochs, data) and a grid of recipe fields x seeds."""

    arch: str = DEFAULT_ARCH
    recipe: str = DEFAULT_RECIPE
    epochs: int = None                       # None: the recipe's
    grid: dict = field(default_factory=dict)  # recipe field -> list of values
    seeds: tuple = (0,)
    dataset: str = DEFAULT_DATASET
    data_dir: str = None
    download: bool = True
    chunk_size: int = DEFAULT_CHUNK
    validation: int = 0                      # hold out N training digits per run, choose on them; no test set

    def settings(self):
        """Every combination of the grid's values, in the order given (last field fastest)."""
        names = list(self.grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]

    def overrides(self, setting):
        """The recipe fields a run of ``setting`` changes (the grid's, and --epochs)."""
        return dict(setting, **({"epochs": self.epochs} if self.epochs is not None else {}))

    def tasks(self):
        """One task (a JSON-able dict, the unit of work) per setting and seed; settings outer."""
        out = []
        for setting in self.settings():
            overrides = self.overrides(setting)
            for seed in self.seeds:
                out.append({"name": run_name(setting, seed), "setting": setting, "seed": int(seed),
                            "arch": self.arch, "recipe": self.recipe, "overrides": dict(overrides),
                            "dataset": self.dataset, "data_dir": self.data_dir, "download": self.download,
                            "validation": self.validation,
                            "chunk_size": self.chunk_size})
        return out

    def as_dict(self):
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    def validate(self):
        """Refuse a bad grid before anything runs (one-line UsageError)."""
        from ..architectures import get as get_arch

        get_arch(self.arch)
        recipes.get(self.recipe)
        recipes.check_name("dataset", self.dataset)
        if not self.seeds:
            raise UsageError("no seeds to run")
        if self.epochs is not None and "epochs" in self.grid:
            raise UsageError("epochs is both --epochs and a --set field; use one of them")
        n_settings = math.prod(len(v) for v in self.grid.values())
        if n_settings * len(self.seeds) > MAX_RUNS:
            raise UsageError(f"{n_settings:,} settings x {len(self.seeds):,} seeds is more than {MAX_RUNS:,} runs")
        for seed in (min(self.seeds), max(self.seeds)):
            check_seed(seed, "--seeds")
        for task in self.tasks()[::len(self.seeds)]:  # each setting once (the seeds are checked above)
            try:
                task_config(task).validate()
            except UsageError as e:
                raise UsageError(f"setting {setting_label(task['setting'])}: {e}") from None

    def prefetch_data(self, progress=None):
        """Find (or download) and parse the data once here, not in every worker at once."""
        from ..experiment import load_dataset

        load_dataset(self.dataset, self.data_dir, self.download, self.seeds[0], progress)


def task_key(task):
    """Identity of a run (what it computes), for resuming: everything but names and paths."""
    key = {k: task[k] for k in ("arch", "recipe", "overrides", "seed", "dataset")}
    if task.get("validation"):  # absent when 0, so results files of earlier sweeps still match
        key["validation"] = task["validation"]
    return json.dumps(key, sort_keys=True)


def task_config(task):
    """The run a task describes, as the one config: the grid checks it before anything runs,
    the worker again in its own process."""
    return TrainConfig(arch=task["arch"], recipe=task["recipe"], overrides=dict(task["overrides"]),
                       seed=task["seed"], dataset=task["dataset"], data_dir=task.get("data_dir"),
                       download=task.get("download", True), chunk_size=task.get("chunk_size", DEFAULT_CHUNK),
                       validation=task.get("validation") or None, test=not task.get("validation"))
