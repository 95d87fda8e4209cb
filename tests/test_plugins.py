"""Registry-wide plug-in checks, in the manner of torchvision's test_models.py: every registered
algorithm — built-in or installed — is run with its ``tiny_config`` on synthetic data of its
``Config.data_type`` (``.synthetic()``, named so; never real data) and must

- train two steps, validate and test with finite numbers, and draw its artifacts;
- resume from ``state_dict`` bit-identically, even when the global RNG has moved on;
- train identically whatever its evaluation-only fields say;
- end a run whose loss turns non-finite as diverged, its last checkpoint intact.

A new plug-in gets these checks by registering. Image plug-ins are judged by an evaluation
classifier: the synthetic images are registered here as a dataset whose classifier trains for
one epoch, into a temporary cache.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os

import pytest
import torch

from gensuite.api import (
    EvalResult,
    EvaluationClassifierSpec,
    RunContext,
    Schedule,
    eval_only_fields,
)
from gensuite.data.containers import ImageClassData
from gensuite.errors import DivergedError
from gensuite.plugins import algorithms
from gensuite.registry import DATASETS, registering_from
from gensuite.repro import seed_everything
from gensuite.train.loop import run_loop

PLUGINS = algorithms().names()
ORIGIN = "gensuite tests (synthetic data)"


@pytest.fixture(scope="module", autouse=True)
def synthetic_registered(tmp_path_factory):
    """The synthetic images as a registered dataset with a 1-epoch evaluation classifier,
    cached in a temporary folder; removed again afterwards."""
    with registering_from(ORIGIN):
        DATASETS.register("synthetic-images",
                          evaluation=EvaluationClassifierSpec(epochs=1))(
            lambda root, **kw: ImageClassData.synthetic(**kw))
    saved = os.environ.get("GENSUITE_CACHE_DIR")
    os.environ["GENSUITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    DATASETS.remove_origin(ORIGIN)
    if saved is None:
        os.environ.pop("GENSUITE_CACHE_DIR")
    else:
        os.environ["GENSUITE_CACHE_DIR"] = saved


def _schedule(steps: int = 2) -> Schedule:
    return Schedule(steps=steps, eval_every=1, val_episodes=2)


def build(name: str, steps: int = 2, **overrides):
    """A fresh instance as the runner builds one: seeded, tiny config, synthetic data."""
    cls = algorithms().get(name)
    config = cls.Config(**{**cls.tiny_config, **overrides})
    data = cls.Config.data_type.synthetic(seed=0)
    seed_everything(0)
    return cls(config, data, RunContext(seed=0, schedule=_schedule(steps)))


def _finite(metrics: dict[str, float]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


def _tensors_equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_tensors_equal(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("name", PLUGINS)
def test_trains_validates_tests_and_draws(name, tmp_path):
    algo = build(name)
    steps = [algo.train_step(0), algo.train_step(1)]
    assert all(m and _finite(m) for m in steps), steps
    assert _finite(algo.validate())
    loop = run_loop(build(name), _schedule(), train_key="tiny")
    result = algo.test(loop.curves)
    assert isinstance(result, EvalResult) and result.metrics
    for key, estimate in result.metrics.items():
        assert key == key.lower() and " " not in key, key  # metric keys: lower snake case
        assert math.isfinite(estimate.mean), (key, estimate)
    files = algo.write_artifacts(tmp_path, result, loop.curves)
    assert all(f.is_file() and f.stat().st_size > 0 for f in files), files


@pytest.mark.parametrize("name", PLUGINS)
def test_state_round_trip_continues_bit_identically(name):
    straight = build(name, steps=4)
    for s in range(2):
        straight.train_step(s)
    state = copy.deepcopy(straight.state_dict())
    expected = [straight.train_step(s) for s in (2, 3)]
    resumed = build(name, steps=4)
    torch.manual_seed(12345)  # the global RNG is elsewhere now: resuming must not depend on it
    resumed.load_state_dict(state)
    assert [resumed.train_step(s) for s in (2, 3)] == expected
    assert _tensors_equal(resumed.state_dict(), straight.state_dict())


def _changed(value):
    """Another valid-looking value of an evaluation-only field (None: not varied here)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1
    return None


@pytest.mark.parametrize("name", PLUGINS)
def test_evaluation_only_fields_do_not_change_training(name):
    cls = algorithms().get(name)
    base = cls.Config(**cls.tiny_config)
    changed = {}
    for field in sorted(eval_only_fields(cls.Config)):
        new = _changed(getattr(base, field))
        if new is not None:
            try:
                dataclasses.replace(base, **{field: new})
            except ValueError:  # outside the field's range: vary the others
                continue
            changed[field] = new
    if not changed:
        pytest.skip(f"{name} has no evaluation-only fields to vary")
    a, b = build(name), build(name, **changed)
    assert [a.train_step(s) for s in range(2)] == [b.train_step(s) for s in range(2)], changed
    assert _tensors_equal(a.state_dict(), b.state_dict())


@pytest.mark.parametrize("name", PLUGINS)
def test_non_finite_loss_ends_the_run_as_diverged(name, tmp_path, monkeypatch):
    cls = algorithms().get(name)
    real = cls.train_step

    def poisoned(self, step):
        out = real(self, step)
        return {k: (math.nan if step >= 2 else v) for k, v in out.items()}

    monkeypatch.setattr(cls, "train_step", poisoned)
    ckpt = tmp_path / "run.pt"
    schedule = Schedule(steps=4, checkpoint_every=1)
    with pytest.raises(DivergedError, match="training diverged at step 2: non-finite") as info:
        run_loop(build(name, steps=4), schedule, train_key="k", checkpoint_path=ckpt)
    assert info.value.step == 2 and "\n" not in str(info.value)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["step"] == 2  # the steps before the divergence are kept, resumable
