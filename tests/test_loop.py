"""The generic loop: cadence, checkpoint + resume, refusal of drift, divergence."""

from __future__ import annotations

import math

import pytest
import torch

from gensuite.api import Estimate, Schedule
from gensuite.errors import DivergedError, GensuiteError
from gensuite.train.loop import Callback, run_loop


class Counter:
    """A toy plug-in (synthetic): its 'loss' is a deterministic function of its own state."""

    def __init__(self, nan_at: int | None = None, crash_at: int | None = None) -> None:
        self.w = torch.zeros(1)
        self.nan_at, self.crash_at = nan_at, crash_at
        self.steps_seen: list[int] = []

    def train_step(self, step):
        if step == self.crash_at:
            raise KeyboardInterrupt("killed")
        self.steps_seen.append(step)
        self.w += 1
        loss = math.nan if step == self.nan_at else 1.0 / float(self.w)
        return {"loss": loss}

    def validate(self):
        return {"val_acc": float(self.w)}

    def test(self):
        return {"accuracy": Estimate(mean=float(self.w))}

    def state_dict(self):
        return {"w": self.w.clone()}

    def load_state_dict(self, state):
        self.w = state["w"].clone()


class Recorder(Callback):
    def __init__(self):
        self.steps, self.evals, self.ended = [], [], False

    def on_step(self, step, metrics):
        self.steps.append(step)

    def on_eval(self, step, metrics):
        self.evals.append(step)

    def on_end(self, result):
        self.ended = True


def test_cadence_and_curves():
    algo, rec = Counter(), Recorder()
    result = run_loop(algo, Schedule(steps=10, eval_every=4), train_key="f", callbacks=[rec])
    assert rec.steps == list(range(10))
    assert rec.evals == [4, 8, 10]  # every 4 steps, and always at the end
    assert [p["step"] for p in result.val_curve] == [4, 8, 10]
    assert result.train_curve[-1]["step"] == 10 and rec.ended


def test_resume_after_kill_continues_where_it_stopped(tmp_path):
    ckpt = tmp_path / "c.pt"
    sched = Schedule(steps=10, eval_every=2, checkpoint_every=3)
    with pytest.raises(KeyboardInterrupt):
        run_loop(Counter(crash_at=7), sched, train_key="f", checkpoint_path=ckpt)
    resumed = Counter()
    result = run_loop(resumed, sched, train_key="f", checkpoint_path=ckpt)
    assert result.resumed_from == 6 and resumed.steps_seen == [6, 7, 8, 9]
    fresh = Counter()
    run_loop(fresh, sched, train_key="f")
    assert float(resumed.w) == float(fresh.w) == 10
    assert [p["step"] for p in result.val_curve] == [2, 4, 6, 8, 10]


def test_finished_checkpoint_is_reused_without_training(tmp_path):
    ckpt = tmp_path / "c.pt"
    run_loop(Counter(), Schedule(steps=5), train_key="f", checkpoint_path=ckpt)
    again = Counter()
    result = run_loop(again, Schedule(steps=5), train_key="f", checkpoint_path=ckpt)
    assert result.reused and again.steps_seen == [] and float(again.w) == 5


def test_resume_with_other_configuration_is_refused(tmp_path):
    ckpt = tmp_path / "c.pt"
    run_loop(Counter(), Schedule(steps=3), train_key="one", checkpoint_path=ckpt)
    with pytest.raises(GensuiteError, match="another configuration"):
        run_loop(Counter(), Schedule(steps=3), train_key="two", checkpoint_path=ckpt)


def test_non_finite_loss_raises_with_the_step():
    with pytest.raises(DivergedError, match=r"diverged at step 3: non-finite loss=nan") as info:
        run_loop(Counter(nan_at=3), Schedule(steps=10), train_key="f")
    assert info.value.step == 3


class Valley(Counter):
    """Validation loss (w − 6)²: best at w = 6, then worse — early stopping's test case."""

    def validate(self):
        return {"val_loss": (float(self.w) - 6.0) ** 2}


EARLY = Schedule(steps=40, eval_every=2, patience=3, monitor="val_loss")


def test_early_stopping_stops_after_patience_and_keeps_the_best_weights():
    algo = Valley()
    result = run_loop(algo, EARLY, train_key="e")
    # evaluations at w = 2, 4, 6 (best), 8, 10, 12: three without improvement → stop at 12
    assert result.steps == 12 and algo.steps_seen[-1] == 11
    assert float(algo.w) == 6.0  # the best evaluation's state was restored
    assert result.stopping == {"monitor": "val_loss", "best": 0.0, "best_step": 6,
                               "stopped_early": True, "patience": 3}
    assert [p["step"] for p in result.val_curve] == [2, 4, 6, 8, 10, 12]


def test_early_stopping_resumes_exactly_and_a_finished_run_is_reused(tmp_path):
    ckpt = tmp_path / "c.pt"
    sched = Schedule(steps=40, eval_every=2, checkpoint_every=2, patience=3, monitor="val_loss")
    with pytest.raises(KeyboardInterrupt):
        run_loop(Valley(crash_at=9), sched, train_key="e", checkpoint_path=ckpt)
    resumed = Valley()
    result = run_loop(resumed, sched, train_key="e", checkpoint_path=ckpt)
    assert result.steps == 12 and float(resumed.w) == 6.0 and result.stopping["best_step"] == 6
    again = Valley()
    reused = run_loop(again, sched, train_key="e", checkpoint_path=ckpt)
    assert reused.reused and again.steps_seen == [] and float(again.w) == 6.0
    assert reused.stopping == result.stopping


def test_without_improvement_window_it_trains_to_the_cap():
    algo = Counter()  # val_acc rises forever: maximised, never stale
    sched = Schedule(steps=10, eval_every=2, patience=2, monitor="val_acc", monitor_mode="max")
    result = run_loop(algo, sched, train_key="e")
    assert result.steps == 10 and result.stopping["stopped_early"] is False
    assert result.stopping["best_step"] == 10


def test_unknown_monitor_is_one_line():
    sched = Schedule(steps=4, eval_every=2, patience=1, monitor="val_nope")
    with pytest.raises(GensuiteError, match="schedule.monitor 'val_nope' is not among"):
        run_loop(Valley(), sched, train_key="e")


class _Payload:
    """Unpickling this would call os.system: what a tampered checkpoint could carry."""

    def __reduce__(self):
        import os

        return (os.system, ("echo tampered > /dev/null",))


def test_checkpoint_with_a_pickled_callable_is_refused_in_one_line(tmp_path):
    ckpt = tmp_path / "c.pt"
    run_loop(Counter(), Schedule(steps=2), train_key="f", checkpoint_path=ckpt)
    payload = torch.load(ckpt, weights_only=True)  # what the loop writes loads safely
    payload["algo"]["hook"] = _Payload()
    torch.save(payload, ckpt)
    with pytest.raises(GensuiteError, match="holds more than tensors and plain types") as info:
        run_loop(Counter(), Schedule(steps=4), train_key="f", checkpoint_path=ckpt)
    assert "\n" not in str(info.value) and "--no-resume" in str(info.value)
