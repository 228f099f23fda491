"""A training run's options: one plain dataclass, checked once where it enters.

    >>> from lenet_numba.config import TrainConfig
    >>> config = TrainConfig.from_options(arch="zipcode1989", recipe="article", epochs=5, out="m.npz")

``TrainConfig`` names where and what to train (the network, the base recipe, the seed, the
data, the files) and holds the recipe's fields changed by name in ``overrides``.
``validate()`` is the one check, at the boundary (the CLI, the Python API, a sweep's grid,
a web request): it returns a copy whose ``recipe`` is the resolved, checked
:class:`~lenet_numba.recipes.Recipe` the run uses, trusted by everything below. A run that
resumes a checkpoint takes the network, seed, data and recipe from it (experiment.run).
"""

from dataclasses import dataclass, field, fields, replace

from . import recipes
from .errors import UsageError
from .limits import (DEFAULT_ARCH, DEFAULT_CHUNK, DEFAULT_DATASET, DEFAULT_RECIPE, DEFAULT_SEED, MAX_CHUNK,
                     MAX_EPOCHS, MAX_HELD_OUT, check_int, check_path, check_seed)
from .recipes import Recipe, check_name
from .recipes import option as _option  # (``path``: a file name; ``cli``: False = no option)


# the recipe's fields a run may change by name (each a --option of `lenet-numba train`)
RECIPE_FIELDS = [f for f in fields(Recipe) if f.name not in ("name", "description")]
RECIPE_FIELD_NAMES = frozenset(f.name for f in RECIPE_FIELDS)


@dataclass(frozen=True)
class TrainConfig:
    """A training run's options (None: the default, or the resumed checkpoint's value)."""
    arch: str = _option(None, "lenet1: the LeNet-1 of the article (3,128 params); zipcode1989: the 1989 zip-code "
                        "net (9,760); lenet1-nips1989: the NIPS 1989 network (2,578)", choices="architecture",
                        default_text=DEFAULT_ARCH)
    recipe: object = _option(None, "1989 (the most faithful): scaled tanh everywhere, MSE to ±1, SDLM, fixed order, "
                             "23 passes. article: tanh, linear outputs, cross-entropy, SGD. modern: cross-entropy, "
                             "shuffling, augmentation, decaying rate", choices="recipe", default_text=DEFAULT_RECIPE)
    seed: int = _option(None, "Initial weights, shuffling, augmentation (0 <= seed < 2**63)", type=int,
                        default_text=str(DEFAULT_SEED))
    dataset: str = _option(None, "usps; mnist16 (seeded 7,291/2,007 split of MNIST t10k at 16x16); mnist16-all "
                           "(all 10,000, tested on USPS: a pre-training stage)", choices="dataset",
                           default_text=DEFAULT_DATASET)
    data_dir: str = _option(None, "Data root", cli=False)
    download: bool = _option(True, "Download missing data", cli=False)
    init_from: str = _option(None, "Start from this checkpoint's weights (training in stages)", path=True)
    out: str = _option(None, "Write the checkpoint (.npz) here (without it nothing is saved)", path=True)
    metrics: str = _option(None, "Write one JSON object per epoch to this file", path=True)
    chunk_size: int = _option(DEFAULT_CHUNK, "Samples per compiled chunk (progress granularity; never changes "
                              "results)", type=int)
    checkpoint_every: int = _option(0, "Rewrite --out after every N epochs (0: at the end only)", type=int)
    validation: int = _option(None, "Hold out N of the training digits (seeded by --seed, stratified by class): "
                              "report valid_error/valid_loss after each pass, train on the rest", type=int,
                              default_text="0")
    test: bool = _option(True, "Evaluate on the test set after each pass; --no-test never reads the test file "
                         "(choosing settings with --validation)", flag="--test/--no-test")
    resume: str = _option(None, "Continue the run saved in this checkpoint (its options) up to --epochs in total",
                          path=True)
    overrides: dict = field(default_factory=dict, metadata={"cli": False})  # recipe fields by name (None: the recipe's)

    def __post_init__(self):
        if self.overrides is not None and not isinstance(self.overrides, dict):
            raise UsageError(f"overrides must be a dict of recipe fields, got {self.overrides!r}")
        object.__setattr__(self, "overrides", dict(self.overrides or {}))  # a copy: the config is immutable

    def __getattr__(self, name):  # only for names that are not fields: 0.1.0 had the recipe's flat
        if name in RECIPE_FIELD_NAMES:
            raise AttributeError(f"TrainConfig has no {name!r}: a recipe field; read config.given({name!r}), "
                                 f"or config.validate().recipe.{name}")
        raise AttributeError(f"TrainConfig has no attribute {name!r}")

    @classmethod
    def from_options(cls, overrides=None, **options):
        """A config from options by their flat names, as `lenet-numba train` takes them: the
        run's own, and the recipe's fields (epochs=5, lr=0.03, ...; or in ``overrides``)."""
        unknown = sorted(k for k in options if k not in _OWN and k not in RECIPE_FIELD_NAMES)
        if unknown:
            raise UsageError(f"unknown option(s): {', '.join(unknown)}")
        flat = {k: v for k, v in options.items() if k in RECIPE_FIELD_NAMES and v is not None}
        return cls(**{k: v for k, v in options.items() if k in _OWN}, overrides={**(overrides or {}), **flat})

    def given(self, name):
        """The value given for a run option or a recipe field (None: not given)."""
        return getattr(self, name) if name in _OWN else self.overrides.get(name)

    def validate(self):
        """The one check of a run's options: a copy with the defaults filled and ``recipe``
        the resolved, checked Recipe (a resumed run: left for its checkpoint to fill).
        Returns self when it is checked already."""
        if self.__dict__.get("_checked"):
            return self
        bad = sorted(k for k in self.overrides if k not in RECIPE_FIELD_NAMES)
        if bad:
            raise UsageError(f"unknown recipe field(s): {', '.join(bad)}")
        for name, kind in (("arch", "architecture"), ("dataset", "dataset")):
            if self.given(name) is not None:
                check_name(kind, self.given(name), name)
        if isinstance(self.recipe, str):
            check_name("recipe", self.recipe)
        elif self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise UsageError(f"recipe must be a recipe's name or a Recipe, got {self.recipe!r}")
        if self.seed is not None:
            check_seed(self.seed)
        check_int("chunk_size", self.chunk_size, 1, MAX_CHUNK)
        check_int("checkpoint_every", self.checkpoint_every, 0, MAX_EPOCHS)
        if self.validation is not None:
            check_int("validation", self.validation, 0, MAX_HELD_OUT)
        for name in ("init_from", "out", "metrics", "resume", "data_dir"):
            check_path(f"--{name.replace('_', '-')}", getattr(self, name))
        if self.checkpoint_every and not self.out:
            raise UsageError("--checkpoint-every needs --out: where should the checkpoints go?")
        if self.resume:
            return self.checked()
        arch = self.arch or DEFAULT_ARCH
        base = self.recipe if isinstance(self.recipe, Recipe) else recipes.get(self.recipe or DEFAULT_RECIPE)
        return self.checked(arch=arch, recipe=base.resolve(arch, **self.overrides), overrides={},
                            seed=DEFAULT_SEED if self.seed is None else self.seed,
                            dataset=self.dataset or DEFAULT_DATASET, validation=self.validation or 0)

    def checked(self, **values):
        """A copy with ``values``, trusted from here on: what validate() returns, and a resumed
        run's config once its checkpoint has filled it (experiment.resolve)."""
        out = replace(self, **values)
        out.__dict__["_checked"] = True
        return out


_OWN = frozenset(f.name for f in fields(TrainConfig)) - {"overrides"}
