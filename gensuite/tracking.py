"""MLflow run lifecycle: one run per case, a parent run per sweep with a child per trial.

Params are flattened only here (the MLflow boundary). Metrics are buffered and sent with
``log_batch`` at evaluation points, so tracking costs little next to the training step.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gensuite.train.loop import Callback, LoopResult


def default_tracking_uri(results_dir: Path) -> str:
    """A sqlite store under the results folder (MLflow's file store needs an opt-in now)."""
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} → {"a.b": "1"}; MLflow params are strings of at most 6000 chars."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)[:6000]
    return out


class Tracker:
    """A thin wrapper over ``MlflowClient`` bound to one experiment (one per suite)."""

    def __init__(self, uri: str, experiment: str, artifact_root: Path | None = None) -> None:
        import logging

        import mlflow  # deferred: importing mlflow costs seconds

        # the sqlite store announces its schema migrations at INFO on every new database
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self._mlflow = mlflow
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            location = None
            if artifact_root is not None:
                location = (Path(artifact_root).resolve() / experiment).as_uri()
            self.experiment_id = self.client.create_experiment(experiment, location)
        else:
            self.experiment_id = exp.experiment_id
        self.experiment = experiment

    @contextlib.contextmanager
    def run(
        self, name: str, *, params: dict[str, Any], tags: dict[str, Any],
        parent_run_id: str | None = None,
    ) -> Iterator[str]:
        """Open a run; it ends FINISHED, or FAILED if the body raises (the error is a tag)."""
        all_tags = {k: str(v) for k, v in flatten(tags).items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        run_id = run.info.run_id
        self.log_params(run_id, params)
        try:
            yield run_id
        except BaseException as exc:
            self.client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:5000])
            self.client.set_terminated(run_id, "KILLED" if _is_interrupt(exc) else "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten(params)
        items = [Param(k, v) for k, v in sorted(flat.items())]
        for i in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, step) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch)

    def log_dict(self, run_id: str, obj: Any, artifact_file: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=2, sort_keys=True, default=str),
                             artifact_file)

    def log_artifact(self, run_id: str, path: Path) -> None:
        self.client.log_artifact(run_id, str(path))

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        for k, v in flatten(tags).items():
            self.client.set_tag(run_id, k, v)

    def callback(self, run_id: str, flush_every: int = 50) -> MlflowCallback:
        return MlflowCallback(self, run_id, flush_every)


def _is_interrupt(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt | SystemExit)


class MlflowCallback(Callback):
    """Buffers per-step metrics and sends them in batches (a sqlite write per step would cost
    more than a ProtoNet episode on CPU)."""

    def __init__(self, tracker: Tracker, run_id: str, flush_every: int) -> None:
        self.tracker, self.run_id, self.flush_every = tracker, run_id, flush_every
        self._buffer: list[tuple[int, dict[str, float]]] = []

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        self._buffer.append((step + 1, {f"train/{k}": v for k, v in metrics.items()}))
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        self._buffer.append((step, {f"val/{k}": v for k, v in metrics.items()}))
        self.flush()

    def on_end(self, result: LoopResult) -> None:
        self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, step) for step, m in self._buffer for k, v in m.items()]
        self._buffer.clear()
        for i in range(0, len(batch), 1000):  # MLflow caps a batch at 1000 metrics
            self.tracker.client.log_batch(self.run_id, metrics=batch[i : i + 1000])
