"""Optuna sweeps: a suite's ``[search]`` space becomes an objective; the study lives in an RDB.

The objective builds the case's config from the trial, trains through the same loop as a bench
run, reports the validation metric at each evaluation (pruning), and returns the last one —
never the test metric, which would tune on the test set. Run by ``gensuite sweep``; a killed
sweep resumes with ``gensuite sweep ... --resume``: completed trials stay in the storage;
trials whose worker died are failed by Optuna's heartbeat and re-queued once by
``RetryFailedTrialCallback``.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gensuite.config import SearchParam, SuiteSpec
from gensuite.errors import DivergedError, GensuiteError
from gensuite.records import write_new_json
from gensuite.repro import provenance
from gensuite.runner import BenchOptions, _DataCache, prepare_case, resolve_device, train
from gensuite.train.loop import Callback

log = logging.getLogger(__name__)

HEARTBEAT_S = 5  # a trial whose worker misses heartbeats for GRACE_S is failed and re-queued
GRACE_S = 15


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{Path(results_dir).resolve() / 'optuna.db'}"


def suggest(trial, p: SearchParam) -> Any:
    if p.type == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log,
                                 step=int(p.step or 1))
    return trial.suggest_categorical(p.name, list(p.choices))


class _PruningCallback(Callback):
    def __init__(self, trial, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.last: float | None = None

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        import optuna

        if self.metric not in metrics:
            raise GensuiteError(f"search.metric {self.metric!r} is not among the validation "
                                f"metrics {sorted(metrics)}")
        self.last = metrics[self.metric]
        self.trial.report(self.last, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}")


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    trials: int
    storage: str | None = None
    study_name: str | None = None
    resume: bool = False
    sampler_seed: int = 0


def run_sweep(
    spec: SuiteSpec, bench: BenchOptions, sweep: SweepOptions,
    *, echo: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Run (or resume) the study towards ``trials`` finished (complete/pruned) trials; this call
    starts at most the missing number, so diverged (FAILED) trials leave a gap that a later
    ``--resume`` fills."""
    import optuna
    from optuna.storages import RDBStorage, fail_stale_trials
    from optuna.trial import TrialState

    from gensuite.tracking import Tracker, default_tracking_uri

    if spec.search is None:
        raise GensuiteError(f"{spec.path}: gensuite sweep needs a [search] table in the suite")
    search = spec.search
    results_dir = Path(bench.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    storage_url = sweep.storage or default_storage(results_dir)
    study_name = sweep.study_name or f"{spec.name}-{bench.profile}"
    with warnings.catch_warnings():  # heartbeats are "experimental" in optuna: not a problem
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(storage_url, heartbeat_interval=HEARTBEAT_S,
                             grace_period=GRACE_S, **_stale_retry())
    sampler = optuna.samplers.TPESampler(seed=sweep.sampler_seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    exists = study_name in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if exists and not sweep.resume:
        raise GensuiteError(f"study {study_name!r} already exists in {storage_url}; "
                            f"add --resume to continue it or --study-name to start another")
    if sweep.resume and not exists:
        raise GensuiteError(f"no study {study_name!r} in {storage_url} to resume")
    study = optuna.create_study(
        study_name=study_name, storage=storage, sampler=sampler, pruner=pruner,
        direction=search.direction, load_if_exists=True,
    )
    with warnings.catch_warnings():  # an "experimental" notice, not a problem
        warnings.simplefilter("ignore")
        fail_stale_trials(study)  # trials of a killed worker, once their heartbeat is stale
    counted = (TrialState.COMPLETE, TrialState.PRUNED)

    device = resolve_device(bench.device)
    data = _DataCache(bench.data_root)
    case = spec.case(search.case)
    seed = (bench.seeds or spec.profiles[bench.profile].seeds)[0]
    tracker = Tracker(bench.tracking_uri or default_tracking_uri(results_dir),
                      f"gensuite/{spec.name}", artifact_root=results_dir / "mlartifacts")
    parent_tag = {"suite": spec.name, "profile": bench.profile, "study": study_name,
                  "storage": storage_url.split("@")[-1], "sweep": True}
    # What the summary's numbers rest on: this worker's commit and environment (each trial also
    # keeps the commit it ran at: workers of one study may differ), data, schedule and seed.
    base = prepare_case(spec, case, profile=bench.profile, seed=seed, device=device, data=data)
    env = provenance(device)
    context = {
        "seed": seed, "case": case.id, "suite_sha256": spec.sha256,
        "schedule": dataclasses.asdict(base.ctx.schedule),
        "dataset": {"name": base.dataset_name, "options": base.dataset_options,
                    "fingerprint": base.data_fingerprint},
        "provenance": env,
    }

    def objective(trial) -> float:
        overrides = {p.name: suggest(trial, p) for p in search.params}
        prepared = prepare_case(spec, case, profile=bench.profile, seed=seed, device=device,
                                data=data, progress=bench.progress, overrides=overrides)
        pruning = _PruningCallback(trial, search.metric)
        with tracker.run(f"trial-{trial.number}", params={"trial": overrides,
                         "config": prepared.config.__dict__}, tags={**parent_tag,
                         "trial": trial.number}, parent_run_id=parent_id) as run_id:
            trial.set_user_attr("mlflow_run_id", run_id)
            trial.set_user_attr("git_commit", env["git_commit"])
            trial.set_user_attr("git_dirty", env["git_dirty"])
            try:
                train(prepared, checkpoint=None,
                      callbacks=[tracker.callback(run_id), pruning])
            except DivergedError as exc:
                # Non-finite loss: the trial is FAILED with its step recorded (catch= below
                # lets the study go on; failed trials do not count towards --trials).
                trial.set_user_attr("diverged_at_step", exc.step)
                raise
        if pruning.last is None:
            raise GensuiteError("the plug-in returned no validation metrics to optimise")
        return pruning.last

    n_done = len(study.get_trials(deepcopy=False, states=counted))
    echo(f"study {study_name!r} in {storage_url}: {n_done}/{sweep.trials} trials done")
    with tracker.run(f"sweep/{study_name}", params={"search": _search_dict(spec)},
                     tags=parent_tag) as parent_id:
        if n_done < sweep.trials:
            study.optimize(
                objective, n_trials=sweep.trials - n_done,
                callbacks=[optuna.study.MaxTrialsCallback(sweep.trials, states=counted)],
                catch=(RuntimeError, DivergedError),
            )
        summary = {**_summary(study, spec, bench, storage_url, counted), **context}
        tracker.log_dict(parent_id, summary, "sweep_summary.json")
    _write_summary(results_dir, spec.name, bench.profile, study_name, summary)
    return summary


def _stale_retry() -> dict[str, Any]:
    """Re-queue a killed worker's trial once. Optuna 4.9 renamed the hook and its callback;
    use the new names where they exist so neither version warns or breaks."""
    from optuna import storages

    with warnings.catch_warnings():  # "experimental" notices, not problems
        warnings.simplefilter("ignore")
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
            return {"heartbeat_stale_trial_callback":
                    storages.RetryHeartbeatStaleTrialCallback(max_retry=1)}
        return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=1)}


def _search_dict(spec: SuiteSpec) -> dict[str, Any]:
    s = spec.search
    return {"case": s.case, "metric": s.metric, "direction": s.direction,
            **{p.name: p.type for p in s.params}}


def _summary(study, spec, bench, storage_url, counted) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state in counted]
    best = None
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    if completed:
        b = study.best_trial
        best = {"number": b.number, "value": b.value, "params": b.params}
    return {
        "schema": "gensuite.sweep/1",
        "suite": spec.name, "profile": bench.profile, "study": study.study_name,
        "storage": storage_url.split("@")[-1], "metric": spec.search.metric,
        "direction": spec.search.direction, "finished_trials": len(done),
        "states": {s: sum(t.state.name == s for t in trials)
                   for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")},
        "best": best,
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                    "params": t.params, "user_attrs": t.user_attrs} for t in trials],
    }


def _write_summary(results_dir: Path, suite: str, profile: str, study: str,
                   summary: dict[str, Any]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # a uuid suffix: two sweeps of one study can end within the same second (a resumed one)
    name = f"{study}_{stamp}_{uuid.uuid4().hex[:8]}.json"
    return write_new_json(results_dir / suite / profile / "_sweeps" / name, summary)
