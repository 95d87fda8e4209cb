"""MLflow run lifecycle: one run per case, a parent run per sweep with a child per trial.

Params are flattened only here (the MLflow boundary). Metrics are buffered and sent with
``log_batch`` at evaluation points, so tracking costs little next to the training step.

A tracking server (``http://…``) is checked before anything else starts, its requests get
bounded retries (a lost server fails the run within about a minute instead of hanging), and its
experiments keep the server's own artifact root (proxied ``mlflow-artifacts:``), so figures
logged by any worker are readable from the UI; a local store keeps ``results/mlartifacts``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gensuite.errors import GensuiteError
from gensuite.storage import mask_url
from gensuite.train.loop import Callback, LoopResult

HEALTH_TIMEOUT_S = 5
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# MLflow's own defaults retry for minutes (7 retries, factor-2 back-off, 120 s timeouts); and it
# prints two "View run" lines per finished run, per trial — the sweep prints its own lines.
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def default_tracking_uri(results_dir: Path) -> str:
    """A sqlite store under the results folder (MLflow's file store needs an opt-in now)."""
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_tracking_server(uri: str) -> None:
    """A one-line error within seconds when the tracking server does not answer ``/health``."""
    import requests

    try:
        reply = requests.get(uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT_S)
        reply.raise_for_status()
    except requests.RequestException as exc:
        reason = type(exc).__name__
        if isinstance(exc, requests.HTTPError):
            reason = f"HTTP {exc.response.status_code}"
        raise GensuiteError(
            f"MLflow tracking server {mask_url(uri)} is not reachable ({reason}); start it "
            f"(mlflow server ...) or leave out --tracking-uri for the local sqlite store"
        ) from None


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
        if is_remote(uri):
            import os

            for key, value in HTTP_SETTINGS.items():
                os.environ.setdefault(key, value)
            check_tracking_server(uri)
            artifact_root = None  # the server's root: proxied, readable from every machine
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment = experiment
        try:
            self.experiment_id = self._experiment_id(experiment, artifact_root)
            self._tag_experiment_kind()
        except mlflow.exceptions.MlflowException as exc:
            raise tracking_fault(uri, exc) from None

    def _tag_experiment_kind(self) -> None:
        """The UI opens on the runs, not on GenAI traces. Workers starting together may both
        set it; a server that refuses the second (a duplicate key) already has it."""
        from mlflow.exceptions import MlflowException

        if EXPERIMENT_KIND[0] in self.client.get_experiment(self.experiment_id).tags:
            return
        try:
            self.client.set_experiment_tag(self.experiment_id, *EXPERIMENT_KIND)
        except MlflowException:
            if EXPERIMENT_KIND[0] not in self.client.get_experiment(self.experiment_id).tags:
                raise

    def _experiment_id(self, name: str, artifact_root: Path | None) -> str:
        """Get or create; two workers creating it at once both end up with the same one."""
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        location = None
        if artifact_root is not None:
            location = (Path(artifact_root).resolve() / name).as_uri()
        try:
            return self.client.create_experiment(name, location)
        except MlflowException:
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

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
            # Closing may fail too (a lost server): the original error is the one to report.
            with contextlib.suppress(Exception):
                self.client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:5000])
                self.client.set_terminated(run_id, "KILLED" if _is_interrupt(exc) else "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")

    def close_abandoned(self, run_id: str, reason: str) -> None:
        """End a run whose process died (RUNNING forever otherwise), and its parent's."""
        run = self.client.get_run(run_id)
        for rid in (run_id, run.data.tags.get("mlflow.parentRunId")):
            if rid and self.client.get_run(rid).info.status == "RUNNING":
                self.client.set_tag(rid, "error", reason)
                self.client.set_terminated(rid, "KILLED")

    def log_dataset(self, run_id: str, *, name: str, digest: str, source: str,
                    description: str = "") -> None:
        """The run's Dataset column: name, fingerprint as digest, where it was read from."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(name=name, digest=digest[:36], source_type="local",
                          source=json.dumps({"uri": source}), profile=json.dumps(
                              {"description": description[:500]}) if description else None)
        inputs = [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])]
        try:
            self.client.log_inputs(run_id, datasets=inputs)
        except self._mlflow.exceptions.MlflowException:
            # workers logging the same new dataset at once: the loser's insert is a duplicate
            # key on the server, and the dataset exists by now; once more links this run to it
            self.client.log_inputs(run_id, datasets=inputs)

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


NO_TRACKING = "none"  # --tracking-uri none: records only, no MLflow


class NullTracker:
    """``--tracking-uri none``: nothing is logged to MLflow, and mlflow need not be installed;
    the record (the source of every report) is written as always, with ``tracking.uri`` null.
    For machines that cannot carry MLflow, such as the GPU run of bench/gpu_run.sh."""

    uri = None
    experiment = None

    @contextlib.contextmanager
    def run(self, name: str, **_: Any) -> Iterator[None]:
        yield None

    def _ignore(self, *_: Any, **__: Any) -> None:
        return None

    log_dataset = log_params = log_metrics = log_dict = log_artifact = set_tags = _ignore
    close_abandoned = _ignore

    def callback(self, run_id: None, flush_every: int = 50) -> Callback:
        return Callback()


def open_tracker(uri: str, experiment: str, artifact_root: Path | None = None):
    """The MLflow tracker of ``uri``, or the NullTracker for ``none``."""
    if uri == NO_TRACKING:
        return NullTracker()
    return Tracker(uri, experiment, artifact_root)


def tracking_fault(uri: str, exc: BaseException) -> GensuiteError:
    """An MLflow client error → one line naming the server (password masked) and the cause."""
    import re

    text = " ".join(str(exc).split())
    request = re.search(r"API request to \S*?(/api/\S+) failed", text)
    for marker, cause in (("Connection refused", "connection refused"),
                          ("NewConnectionError", "connection refused"),
                          ("Read timed out", "timed out"), ("ConnectTimeout", "timed out"),
                          ("RemoteDisconnected", "connection closed by the server")):
        if marker in text:
            text = cause + (f" ({request.group(1)}, after "
                            f"{HTTP_SETTINGS['MLFLOW_HTTP_REQUEST_MAX_RETRIES']} retries)"
                            if request else "")
            break
    if len(text) > 300:
        text = text[:297] + "..."
    return GensuiteError(f"MLflow tracking at {mask_url(uri)} failed: {text}")


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
