"""One training loop for every plug-in: it owns iteration, evaluation cadence, checkpoints and
resume; the plug-in owns its step; tracking, pruning and progress are callbacks.

With ``schedule.patience`` the loop stops early once the monitored validation metric has not
improved for that many evaluations, and restores the best evaluation's weights (Snell et al.
2017's rule); ``steps`` is then a cap. The early-stopping state is in every checkpoint, so a
resumed run stops where an uninterrupted one would.

A checkpoint holds the plug-in's state, the step, the curves so far and the run's train key
(a hash of everything that decides the trained weights: config, data fingerprint, schedule,
seed, device, code). Resuming with a different configuration raises instead of silently mixing runs
(mimicry's rule). A finished checkpoint is reused: cases that differ only in evaluation settings
share one trained model.
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gensuite.api import Algorithm, Curves, Schedule
from gensuite.errors import DivergedError, GensuiteError


class Callback:
    """Hooks called by ``run_loop``; override what you need. Exceptions propagate (pruning)."""

    def on_step(self, step: int, metrics: dict[str, float]) -> None: ...

    def on_eval(self, step: int, metrics: dict[str, float]) -> None: ...

    def on_end(self, result: LoopResult) -> None: ...


@dataclass
class LoopResult:
    steps: int  # steps trained in all (fewer than the schedule's when stopped early)
    resumed_from: int = 0
    train_seconds: float = 0.0
    train_curve: list[dict[str, float]] = field(default_factory=list)
    val_curve: list[dict[str, float]] = field(default_factory=list)
    stopping: dict[str, Any] | None = None  # early stopping: monitor, best, best_step, stopped


    @property
    def curves(self) -> Curves:
        return Curves(train=self.train_curve, val=self.val_curve)

    @property
    def reused(self) -> bool:
        """True when a finished checkpoint was loaded and no training step ran."""
        return self.resumed_from >= self.steps


class _CurveWindow:
    """Averages train metrics over windows so a record holds ~200 points, not every step."""

    def __init__(self, total_steps: int, points: int = 200) -> None:
        self.every = max(1, total_steps // points)
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, step: int, metrics: dict[str, float]) -> dict[str, float] | None:
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1
        if (step + 1) % self.every:
            return None
        point = {"step": step + 1, **{k: v / self.count for k, v in self.sums.items()}}
        self.sums, self.count = {}, 0
        return point


def _check_finite(step: int, metrics: dict[str, float]) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        raise DivergedError(step, bad)


class _EarlyStop:
    """Tracks the best monitored validation value, keeps that evaluation's state, and says
    when ``patience`` evaluations have passed without a better one."""

    def __init__(self, schedule: Schedule) -> None:
        self.monitor, self.patience = schedule.monitor, schedule.patience
        self.sign = 1.0 if schedule.monitor_mode == "min" else -1.0
        self.best: float | None = None
        self.best_step = 0
        self.best_state: dict[str, Any] | None = None
        self.since_best = 0

    def update(self, step: int, val: dict[str, float], algo: Algorithm) -> bool:
        """Record an evaluation; True when training should stop."""
        if self.monitor not in val:
            raise GensuiteError(f"schedule.monitor {self.monitor!r} is not among the validation "
                                f"metrics {sorted(val)}")
        value = float(val[self.monitor])
        if self.best is None or self.sign * value < self.sign * self.best:
            self.best, self.best_step, self.since_best = value, step, 0
            self.best_state = copy.deepcopy(algo.state_dict())
        else:
            self.since_best += 1
        return self.since_best >= self.patience

    def summary(self, stopped: bool) -> dict[str, Any]:
        return {"monitor": self.monitor, "best": self.best, "best_step": self.best_step,
                "stopped_early": stopped, "patience": self.patience}

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "best_state": self.best_state,
                "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = state["best"], state["best_step"]
        self.best_state, self.since_best = state["best_state"], state["since_best"]


def _load(path: Path) -> dict[str, Any]:
    """A checkpoint of tensors and plain types only: ``weights_only`` refuses anything that
    would run code when unpickled (a tampered checkpoint in a shared results folder)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise GensuiteError(f"checkpoint {path} holds more than tensors and plain types, so it "
                            f"was not loaded ({first[:120]}); delete it or use --no-resume"
                            ) from None


def _save(path: Path, payload: dict[str, Any]) -> None:
    # write-then-rename: a run killed while saving leaves the previous checkpoint intact
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def run_loop(
    algo: Algorithm,
    schedule: Schedule,
    *,
    train_key: str,
    checkpoint_path: Path | None = None,
    callbacks: list[Callback] = (),
    progress: bool = False,
) -> LoopResult:
    """Train ``algo`` for ``schedule.steps`` steps (or until early stopping), resuming from
    ``checkpoint_path`` if present."""
    result = LoopResult(steps=schedule.steps)
    stopper = _EarlyStop(schedule) if schedule.patience else None
    start, finished = 0, False
    if checkpoint_path is not None and checkpoint_path.exists():
        ckpt = _load(checkpoint_path)
        if ckpt.get("train_key") != train_key:  # None: a checkpoint of older code
            raise GensuiteError(
                f"checkpoint {checkpoint_path} was made with another configuration "
                f"({ckpt.get('train_key')} != {train_key}); delete it or use --no-resume"
            )
        algo.load_state_dict(ckpt["algo"])
        start = result.resumed_from = ckpt["step"]
        result.train_curve, result.val_curve = ckpt["train_curve"], ckpt["val_curve"]
        result.train_seconds = ckpt.get("train_seconds", 0.0)
        finished = bool(ckpt.get("finished", start >= schedule.steps))
        if stopper is not None and ckpt.get("early_stop"):
            stopper.load_state_dict(ckpt["early_stop"])
        result.stopping = ckpt.get("stopping")
        if finished:
            result.steps = start

    def checkpoint(step: int, done_training: bool = False) -> None:
        if checkpoint_path is not None:
            _save(checkpoint_path, {
                "train_key": train_key, "step": step, "algo": algo.state_dict(),
                "train_curve": result.train_curve, "val_curve": result.val_curve,
                "train_seconds": result.train_seconds, "finished": done_training,
                "early_stop": None if stopper is None else stopper.state_dict(),
                "stopping": result.stopping,
            })

    window = _CurveWindow(schedule.steps)
    bar = None
    if progress and not finished:
        from tqdm.auto import tqdm

        bar = tqdm(total=schedule.steps, initial=start, unit="step", leave=False,
                   dynamic_ncols=True)
    t0 = time.perf_counter()
    stop = False
    try:
        for step in ([] if finished else range(start, schedule.steps)):
            metrics = algo.train_step(step)
            _check_finite(step, metrics)
            for cb in callbacks:
                cb.on_step(step, metrics)
            point = window.add(step, metrics)
            if point is not None:
                result.train_curve.append(point)
            done = step + 1
            if bar is not None:
                bar.update(1)
                if point is not None:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in point.items() if k != "step"})
            is_last = done == schedule.steps
            if is_last or (schedule.eval_every and done % schedule.eval_every == 0):
                val = algo.validate()
                if val:
                    _check_finite(step, val)
                    result.val_curve.append({"step": done, **val})
                    for cb in callbacks:
                        cb.on_eval(done, val)
                    if stopper is not None:
                        stop = stopper.update(done, val, algo)
            if stop:
                result.steps = done
                break
            if schedule.checkpoint_every and done % schedule.checkpoint_every == 0 and not is_last:
                result.train_seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                checkpoint(done)
    finally:
        if bar is not None:
            bar.close()
    if not finished:
        result.train_seconds += time.perf_counter() - t0
        if stopper is not None and stopper.best_state is not None:
            algo.load_state_dict(stopper.best_state)  # the best evaluation's weights
            result.stopping = stopper.summary(stopped=stop)
        checkpoint(result.steps, done_training=True)
    for cb in callbacks:
        cb.on_end(result)
    return result
