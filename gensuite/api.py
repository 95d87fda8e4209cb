"""The contracts between the runner, the training loop, plug-ins and datasets.

A plug-in (an *algorithm*) is a class registered with ``@register_algorithm(name)``; the
registry checks it against ``Algorithm`` when it is imported (``check_algorithm``). Inherit
``AlgorithmBase`` for the defaults of the optional parts. What the runner calls, in order:

- ``Config``: a frozen, keyword-only dataclass of its hyperparameters, with a class attribute
  ``data_type``: the data container it trains on (``ImageClassData``, ``FewShotData``, ...), so
  a suite pairing it with another kind of dataset is refused before any training. Fields whose
  metadata has ``{"eval": True}`` only change evaluation (test way/shot, number of test
  episodes): cases that differ only in those share one trained model (see ``train_key``).
- ``__init__(config, data, ctx)``: builds networks and optimisers; ``data`` is what the dataset
  builder returned (an instance of ``Config.data_type``).
- ``train_step(step) -> dict[str, float]``: one iteration (an episode, a mini-batch, n_critic
  updates...); returns scalar metrics such as ``{"loss": ..., "acc": ...}``.
- ``validate() -> dict[str, float]`` (optional; default: none): a cheap validation pass used
  for curves, pruning and checkpoint selection. The loop keeps the curve: plug-ins keep no copy.
- ``test(curves) -> EvalResult``: the final numbers a report shows (``metrics``) and what the
  figures and the evaluation record need (``details``, JSON-able); ``curves`` are the loop's.
- ``write_artifacts(outdir, result, curves) -> list[Path]`` (optional; default: no figures):
  figures and files drawn from the test result, the curves and the trained model.
- ``state_dict()`` / ``load_state_dict(state)``: everything needed to resume (nets, optimisers,
  schedulers, RNG of its samplers, figure data gathered during training).
- ``tiny_config`` (optional class attribute): parameters that make a run take well under a second
  on the CPU on ``Config.data_type.synthetic()``; the registry-wide test (tests/test_plugins.py)
  runs every registered plug-in with them.

Metric keys are lower snake case and name what is measured, not how: ``fid``, ``is``, ``kid``,
``accuracy``, ``elbo``; validation metrics (``validate()``) start with ``val_``. Which network
extracted the features is provenance, kept in the result details, never in the key.

The loop owns time (iterations, evaluation cadence, checkpoints, resume); the plug-in owns its
step; tracking is a callback. The loop never branches on the algorithm.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from gensuite.errors import RegistryError

# The profiles every suite supports, declared once: smoke (seconds on CPU, used by tests), quick
# (minutes on a 2-core CPU, real data), paper (the paper's own schedule).
PROFILES = ("smoke", "quick", "paper")


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A measured value with its 95% confidence half-width over ``n`` samples (episodes, seeds)."""

    mean: float
    ci95: float = math.nan
    n: int = 1
    unit: str = ""  # "%" for accuracies shown as percentages, "" for plain numbers
    over: str = "episodes"  # what the n samples are: episodes, seeds, runs, images
    # The per-unit values behind the mean, with an id of the evaluation units they were scored
    # on (the same test episodes, the same test images): two models scored on the same units
    # are compared by a paired test. Kept only where the units are shared across models.
    samples: tuple[float, ...] | None = None
    units: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.samples is None:  # records stay as small as before where nothing is paired
            del d["samples"], d["units"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
        if d.get("samples") is not None:
            d = {**d, "samples": tuple(d["samples"])}
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How long to train and how often to evaluate/checkpoint: set per profile in a suite file."""

    steps: int
    eval_every: int = 0  # 0: only at the end
    checkpoint_every: int = 0  # 0: only at the end
    # episodic plug-ins' cheap validation pass (0: the plug-in's default); others ignore it, and
    # reports mention it only when a suite sets it
    val_episodes: int = 0
    # Early stopping (Snell et al. 2017: "until the validation loss stops improving"): after
    # ``patience`` evaluations without a new best ``monitor`` (a key of validate(), minimised;
    # maximised with monitor_mode "max") training stops and the best evaluation's weights are
    # kept; ``steps`` is then the cap. 0: train all ``steps``.
    patience: int = 0
    monitor: str = ""
    monitor_mode: str = "min"


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Where and how a plug-in runs; nothing here changes its numbers except ``seed``/``device``."""

    seed: int
    device: str = "cpu"
    data_root: Path | None = None
    profile: str = "smoke"
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=2))
    progress: bool = False  # plug-ins may show a progress bar for long evaluations


@dataclass(frozen=True, kw_only=True)
class Curves:
    """The loop's learning curves: windowed train metrics and every validation result."""

    train: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """What ``test()`` returns: the report's numbers and the details its figures need."""

    metrics: dict[str, Estimate]
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able: histograms, settings...


class Algorithm(Protocol):
    """What the runner and the loop call; see the module docstring."""

    Config: ClassVar[type]

    def __init__(self, config: Any, data: Any, ctx: RunContext) -> None: ...

    def train_step(self, step: int) -> dict[str, float]: ...

    def validate(self) -> dict[str, float]: ...

    def test(self, curves: Curves) -> EvalResult: ...

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class AlgorithmBase:
    """Defaults for the optional parts of ``Algorithm``: no validation pass, no figures."""

    tiny_config: ClassVar[dict[str, Any]] = {}

    def validate(self) -> dict[str, float]:
        return {}

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        return []


_REQUIRED_METHODS = ("train_step", "validate", "test", "write_artifacts", "state_dict",
                     "load_state_dict")


def check_algorithm(name: str, cls: Any) -> None:
    """Refuse, with one line, a plug-in class that breaks the ``Algorithm`` contract."""
    where = f"plug-in {name!r} ({getattr(cls, '__module__', '?')}." \
            f"{getattr(cls, '__qualname__', cls)!s})"
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)
            and config.__dataclass_params__.frozen):
        raise RegistryError(f"{where}: Config must be a frozen dataclass")
    if not isinstance(getattr(config, "data_type", None), type):
        raise RegistryError(f"{where}: Config.data_type must name the data container it takes "
                            "(e.g. ImageClassData)")
    missing = [m for m in _REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise RegistryError(f"{where}: missing {', '.join(missing)} (inherit "
                            "gensuite.api.AlgorithmBase for the optional ones)")


@dataclass(frozen=True, kw_only=True)
class EvaluationClassifierSpec:
    """Which classifier judges generated images of a dataset, and how it is trained; declared on
    the dataset's registration (``register_dataset(name, evaluation=...)``), as torchvision's
    ``Weights.meta`` carries a recipe. Its features give IS/FID/KID ("FID (MNIST classifier)"),
    its predictions class-conditional accuracy and class histograms."""

    dataset: str | None = None  # the registered dataset it is trained on (None: this one)
    options: Mapping[str, Any] = field(default_factory=dict)  # that builder's options
    size_option: str | None = None  # builder option given the model's image size ("size")
    epochs: int = 2  # training epochs (the recipe's other settings: evaluators.TrainSettings)


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """What a dataset builder tells the record: its name, a description and the files it read."""

    name: str
    description: str
    files: tuple[Path, ...]
    # When the data stands in for another dataset (e.g. MNIST-M for SVHN), name the original:
    # the report then says so and the verdict against the original's numbers is "not comparable".
    stands_in_for: str | None = None
    # Data read from no file (synthetic test data): a sha256 of its content, the fingerprint.
    digest: str = ""


def eval_field(default: Any) -> Any:
    """A Config field that only changes evaluation (``test_limit``, ``tsne_points``...): cases
    differing only in such fields share one trained model (see ``eval_only_fields``)."""
    return field(default=default, metadata={"eval": True})


def eval_only_fields(config_cls: type) -> frozenset[str]:
    """Names of a Config's fields that only affect evaluation (metadata ``{"eval": True}``)."""
    return frozenset(f.name for f in dataclasses.fields(config_cls) if f.metadata.get("eval"))
