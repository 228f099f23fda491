"""The rows of the reproduction: one (network, recipe) each, on the real USPS digits.

Every row trains with a shipped recipe (its constants chosen on held-out training digits,
never on the test set); ``overrides`` changes recipe fields for a row that tests one detail.
"""

from dataclasses import dataclass, field

from ..errors import UsageError
from ..numerics import DEFAULT_NUMERICS


@dataclass(frozen=True)
class Row:
    name: str          # what --rows takes
    label: str         # what the tables print
    arch: str
    recipe: str
    overrides: dict = field(default_factory=dict)
    pretrain: dict = None  # a first stage: {"dataset", "epochs"}, its weights the start of the USPS run


ROWS = (
    Row("lenet1-article", "LeNet-1 (the article's), article recipe", "lenet1", "article"),
    Row("lenet1-1989", "LeNet-1 (the article's), 1989 recipe", "lenet1", "1989"),
    Row("lenet1-modern", "LeNet-1 (the article's), modern recipe", "lenet1", "modern"),
    Row("zipcode-article", "zip-code net, article recipe", "zipcode1989", "article"),
    Row("zipcode-1989", "zip-code net, 1989 recipe", "zipcode1989", "1989"),
    Row("nips-1989", "NIPS 1989 net (lenet1-nips1989), 1989 recipe", "lenet1-nips1989", "1989"),
    # the two details that lower the zip-code net's training error, together
    Row("zipcode-1989-fit", "zip-code net, 1989 recipe, constant η 1.5e-4, μ 0.002", "zipcode1989", "1989",
        {"lr": 1.5e-4, "lr_decay": 1.0, "mu": 0.002}),
    # training in stages: 10 passes on the 10,000 MNIST t10k digits at 16x16, then the USPS run
    Row("lenet1-1989-staged", "LeNet-1 (the article's), 1989 recipe, staged: MNIST16 (10,000, 10 passes) then USPS",
        "lenet1", "1989", pretrain={"dataset": "mnist16-all", "epochs": 10}),
)
BY_NAME = {r.name: r for r in ROWS}
SEEDS = tuple(range(20))
HOLDOUT = 1000  # training digits held out to choose the reject thresholds on


def select_rows(names=(), archs=(), recipes=()):
    """The rows named (all if none), kept if their network and recipe are among those given."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UsageError(f"--rows {unknown[0]}: no such row; choose from {', '.join(BY_NAME)}")
    rows = [BY_NAME[n] for n in names] if names else list(ROWS)
    rows = [r for r in rows if (not archs or r.arch in archs) and (not recipes or r.recipe in recipes)]
    if not rows:
        raise UsageError("no row has that network and recipe; `lenet-numba reproduce --help` lists the rows")
    return rows


def tasks(rows, seeds=SEEDS, holdout=HOLDOUT, data_dir=None, download=True, numerics=DEFAULT_NUMERICS):
    """One task per (row, seed) trained on all 7,291 digits, and with ``holdout`` > 0 one more
    per (row, seed) trained on the rest while those digits choose the reject thresholds.
    numerics: the arithmetic of every run (numerics.py), given to the row's recipe as an
    override, so a results file tells the policies' runs apart (one made before there was a
    choice has none: exact)."""
    out = []
    for h in (0, holdout) if holdout else (0,):
        for row in rows:
            for seed in seeds:
                out.append({"name": f"{row.name}-seed{seed}" + (f"-holdout{h}" if h else "")
                            + ("" if numerics == "exact" else f"-{numerics}"), "row": row.name,
                            "label": row.label, "arch": row.arch, "recipe": row.recipe,
                            "overrides": {**row.overrides, "numerics": numerics}, "pretrain": row.pretrain, "seed": int(seed),
                            "holdout": int(h),
                            "data_dir": data_dir, "download": download})
    return out


def numerics_of(task):
    """The numerics policy a task (or a result) ran with: results made before there was a
    choice ran the exact one."""
    return (task.get("overrides") or {}).get("numerics", "exact")


def task_key(task):
    policy = numerics_of(task)
    return f"{task['row']}/seed{task['seed']}/holdout{task['holdout']}" + ("" if policy == "exact" else f"/{policy}")
