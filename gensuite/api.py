"""The contracts between the runner, the training loop, plug-ins and datasets.

A plug-in (an *algorithm*) is a class registered with ``@register_algorithm(name)``:

- ``Config``: a frozen, keyword-only dataclass of its hyperparameters. Fields whose metadata has
  ``{"eval": True}`` only change evaluation (test way/shot, number of test episodes): cases that
  differ only in those share one trained model (see ``train_key``).
- ``__init__(config, data, ctx)``: builds networks and optimisers; ``data`` is what the dataset
  builder returned.
- ``train_step(step) -> dict[str, float]``: one iteration (an episode, a mini-batch, n_critic
  updates...); returns scalar metrics such as ``{"loss": ..., "acc": ...}``.
- ``validate() -> dict[str, float]``: a cheap validation pass used for curves, pruning and
  checkpoint selection.
- ``test() -> dict[str, Estimate]``: the final numbers a report shows.
- ``state_dict()`` / ``load_state_dict(state)``: everything needed to resume (nets, optimisers,
  schedulers, RNG of its samplers).

The loop owns time (iterations, evaluation cadence, checkpoints, resume); the plug-in owns its
step; tracking is a callback. The loop never branches on the algorithm.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A measured value with its 95% confidence half-width over ``n`` samples (episodes, seeds)."""

    mean: float
    ci95: float = math.nan
    n: int = 1
    unit: str = ""  # "%" for accuracies shown as percentages, "" for plain numbers
    over: str = "episodes"  # what the n samples are: episodes, seeds, runs, images

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Estimate:
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


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Where and how a plug-in runs; nothing here changes its numbers except ``seed``/``device``."""

    seed: int
    device: str = "cpu"
    data_root: Path | None = None
    profile: str = "smoke"
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=2))
    progress: bool = False  # plug-ins may show a progress bar for long evaluations


class Algorithm(Protocol):
    """What the loop calls; see the module docstring."""

    Config: type

    def train_step(self, step: int) -> dict[str, float]: ...

    def validate(self) -> dict[str, float]: ...

    def test(self) -> dict[str, Estimate]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """What a dataset builder tells the record: its name, a description and the files it read."""

    name: str
    description: str
    files: tuple[Path, ...]
    # When the data stands in for another dataset (e.g. MNIST-M for SVHN), name the original:
    # the report then says so and the verdict against the original's numbers is "not comparable".
    stands_in_for: str | None = None


def eval_only_fields(config_cls: type) -> frozenset[str]:
    """Names of a Config's fields that only affect evaluation (metadata ``{"eval": True}``)."""
    return frozenset(f.name for f in dataclasses.fields(config_cls) if f.metadata.get("eval"))
