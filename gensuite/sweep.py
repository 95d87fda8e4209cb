"""Optuna sweeps: a suite's ``[search]`` space becomes trials of one study in an RDB, run by any
number of workers with the same command.

- One command for every worker: the study is created if absent and joined otherwise; a worker
  whose suite, data or search space differ from the study's is refused in one line.
- ``--trials N`` is a study-wide target of finished (complete or pruned) trials and is never
  overshot: counting and starting a trial happen under a lock in the study's own database
  (``study_lock``). A worker with nothing left to start waits for the running trials of others
  (one may still fail and free a slot), then exits.
- Each trial's sampler is seeded from the study seed and the trial's number, so concurrent
  workers explore different points, and one worker re-running a study from scratch proposes the
  same points (why not per worker: the proposals would depend on which worker ran a trial).
- A killed worker's trial is failed by the heartbeat of whichever worker notices first; that
  worker also ends the dead one's MLflow runs as KILLED, then Optuna re-queues the trial once.
- Pruned trials end their MLflow run FINISHED with the tag ``optuna.state = PRUNED`` (they did
  what was asked: stopped early on purpose; FAILED would read as an error). Diverged trials are
  FAILED and do not count.
- The objective returns the last *validation* metric, never a test metric.
- The study-wide summary is written from the RDB by every worker as it leaves: the same content
  for the same study state, in ``results/<suite>/<profile>/_sweeps/<study>.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gensuite.config import SearchParam, SuiteSpec
from gensuite.errors import DivergedError, GensuiteError
from gensuite.repro import provenance
from gensuite.runner import (
    BenchOptions,
    _DataCache,
    dataset_input,
    prepare_case,
    progress_lines,
    resolve_device,
    train,
)
from gensuite.storage import mask_url, normalise_db_url, open_storage, retry_once
from gensuite.study_lock import StudyLock
from gensuite.train.loop import Callback

log = logging.getLogger(__name__)

HEARTBEAT_S = 5  # a trial whose worker misses heartbeats for GRACE_S is failed and re-queued
GRACE_S = 15
CONTEXT_ATTR = "gensuite"  # the study's user attribute holding what its trials rest on
SUMMARY_SCHEMA = "gensuite.sweep/1"
SCHEMA_LOCK = "\0schema"  # the lock around creating Optuna's tables (no study has this name)


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{Path(results_dir).resolve() / 'optuna.db'}"


def suggest(trial, p: SearchParam) -> Any:
    if p.type == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log,
                                 step=int(p.step or 1))
    return trial.suggest_categorical(p.name, list(p.choices))


def trial_sampler_seed(study_seed: int, number: int) -> int:
    """The sampler seed of trial ``number``: sha256 of both, 32 bits (numpy's seed range)."""
    digest = hashlib.sha256(f"{study_seed}/sweep-trial/{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
    new_study: bool = False  # refuse to join an existing study
    sampler_seed: int = 0  # the study seed (a joining worker uses the study's own)


class _CloseStaleRuns:
    """Optuna calls this in the worker that failed a dead worker's trial: end that trial's
    MLflow run (and its parent) as KILLED, then re-queue the trial once."""

    def __init__(self, tracker, retry, echo: Callable[[str], None]) -> None:
        self.tracker, self.retry, self.echo = tracker, retry, echo

    def __call__(self, study, trial) -> None:
        self.echo(f"  trial {trial.number} of worker {trial.user_attrs.get('worker', '?')}: no "
                  f"heartbeat for {GRACE_S} s, failed; its runs closed, trial re-queued once")
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            with contextlib.suppress(Exception):  # the run store may be gone; the trial is not
                self.tracker.close_abandoned(run_id, f"worker {trial.user_attrs.get('worker')} "
                                             f"stopped sending heartbeats; trial "
                                             f"{trial.number} failed by {worker_name()}")
        self.retry(study, trial)


@contextlib.contextmanager
def _heartbeat(storage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every HEARTBEAT_S while its body runs (Optuna does this only
    inside ``study.optimize``; the ask/tell loop here needs its own)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is what grace is for
                storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_S + 1)


def run_sweep(
    spec: SuiteSpec, bench: BenchOptions, sweep: SweepOptions,
    *, echo: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Work on the study until it holds ``trials`` finished trials (or this worker has started
    ``trials`` of its own); return the study-wide summary."""
    import optuna

    from gensuite.tracking import (
        NO_TRACKING,
        Tracker,
        default_tracking_uri,
        is_remote,
        tracking_fault,
    )

    if bench.tracking_uri == NO_TRACKING:
        raise GensuiteError("gensuite sweep logs every trial to MLflow: --tracking-uri none is "
                            "for gensuite bench only")
    if spec.search is None:
        raise GensuiteError(f"{spec.path}: gensuite sweep needs a [search] table in the suite")
    search = spec.search
    results_dir = Path(bench.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    storage_url = normalise_db_url(sweep.storage or default_storage(results_dir))
    shown_url = mask_url(storage_url)
    study_name = sweep.study_name or f"{spec.name}-{bench.profile}"
    tracking_uri = bench.tracking_uri or default_tracking_uri(results_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    # The tracking server first: nothing is created in the study when it is down.
    tracker = Tracker(tracking_uri, f"gensuite/{spec.name}",
                      artifact_root=results_dir / "mlartifacts")
    if is_remote(tracking_uri):
        echo(f"MLflow: {mask_url(tracking_uri)}/#/experiments/{tracker.experiment_id}")
    # Workers started together on a new database would race to create Optuna's tables (seen:
    # "duplicate key value violates unique constraint pg_type_typname_nsp_index").
    schema_lock = StudyLock(storage_url, SCHEMA_LOCK)
    try:
        with schema_lock():
            storage = open_storage(storage_url, heartbeat_s=HEARTBEAT_S, grace_s=GRACE_S,
                                   stale_callback=_CloseStaleRuns(tracker, retry_once(), echo))
    finally:
        schema_lock.close()

    device = resolve_device(bench.device)
    data = _DataCache(bench.data_root)
    case = spec.case(search.case)
    seed = (bench.seeds or spec.profiles[bench.profile].seeds)[0]
    base = prepare_case(spec, case, profile=bench.profile, seed=seed, device=device, data=data)
    env = provenance(device)
    context = {
        "seed": seed, "case": case.id, "suite_sha256": spec.sha256,
        "search": json.loads(json.dumps(dataclasses.asdict(search), default=str)),
        "config": json.loads(json.dumps(dataclasses.asdict(base.config), default=str)),
        "sampler_seed": sweep.sampler_seed,
        "schedule": dataclasses.asdict(base.ctx.schedule),
        "dataset": {"name": base.dataset_name, "options": base.dataset_options,
                    "fingerprint": base.data_fingerprint},
        "provenance": env,
    }
    study = _create_or_join(storage, storage_url, study_name, search.direction, context,
                            new_study=sweep.new_study)
    study_seed = int(study.user_attrs[CONTEXT_ATTR]["sampler_seed"])
    lock = StudyLock(storage_url, study_name)
    worker = worker_name()
    counted = _counted_states()
    n_done = len(study.get_trials(deepcopy=False, states=counted))
    echo(f"study {study_name!r} in {shown_url}: {n_done}/{sweep.trials} trials finished "
         f"(worker {worker})")

    def run_trial(trial) -> None:
        overrides = {p.name: suggest(trial, p) for p in search.params}
        prepared = prepare_case(spec, case, profile=bench.profile, seed=seed, device=device,
                                data=data, progress=bench.progress, overrides=overrides)
        pruning = _PruningCallback(trial, search.metric)
        tags = {**parent_tags, "trial": trial.number, "worker": worker,
                "mlflow.source.git.commit": env["git_commit"]}
        outcome: dict[str, Any] = {"state": "FAIL"}
        try:
            with _heartbeat(storage, trial._trial_id), tracker.run(
                    f"trial-{trial.number}", params={"trial": overrides,
                    "config": prepared.config.__dict__}, tags=tags,
                    parent_run_id=parent_id) as run_id:
                for key, value in (("mlflow_run_id", run_id), ("worker", worker),
                                   ("git_commit", env["git_commit"]),
                                   ("git_dirty", env["git_dirty"])):
                    trial.set_user_attr(key, value)
                tracker.log_dataset(run_id, **dataset_input(base))
                try:
                    train(prepared, checkpoint=None, callbacks=[
                        tracker.callback(run_id), pruning,
                        *progress_lines(prepared, bench.progress_every)])
                    if pruning.last is None:
                        raise GensuiteError("the plug-in returned no validation metrics")
                    outcome = {"state": "COMPLETE", "value": pruning.last}
                except optuna.TrialPruned:
                    outcome = {"state": "PRUNED"}
                tracker.set_tags(run_id, {"optuna.state": outcome["state"]})
        except DivergedError as exc:
            # Non-finite loss: FAILED with its step recorded; it does not count, and the loop
            # starts another trial in its place.
            trial.set_user_attr("diverged_at_step", exc.step)
            outcome = {"state": "FAIL", "error": str(exc)}
        except RuntimeError as exc:  # e.g. a configuration torch cannot run: the sweep goes on
            outcome = {"state": "FAIL", "error": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:
            _tell(study, trial, {"state": "FAIL"})
            if _is_tracking_error(exc):
                raise GensuiteError(
                    f"{tracking_fault(tracking_uri, exc)}; trial {trial.number} failed, finished "
                    f"trials are kept: run the same command again to continue") from None
            raise
        except BaseException:
            _tell(study, trial, {"state": "FAIL"})
            raise
        _tell(study, trial, outcome)
        shown = f" {outcome['value']:.4g}" if "value" in outcome else ""
        echo(f"  trial {trial.number}: {outcome['state'].lower()}{shown}"
             + (f" ({outcome['error']})" if "error" in outcome else ""))

    parent_tags = {"suite": spec.name, "profile": bench.profile, "study": study_name,
                   "storage": shown_url, "sweep": True, "worker": worker}
    started = 0
    try:
        with tracker.run(f"sweep/{study_name}", params={"search": _search_dict(spec)},
                         tags={**parent_tags, "mlflow.source.git.commit": env["git_commit"]}
                         ) as parent_id:
            tracker.log_dataset(parent_id, **dataset_input(base))
            while started < sweep.trials:
                trial, done = _next_trial(study, storage, lock, sweep.trials, study_seed)
                if done:
                    break
                if trial is None:  # others' trials fill the target: wait, one may fail
                    time.sleep(HEARTBEAT_S)
                    continue
                started += 1
                run_trial(trial)
            summary = study_summary(study, spec, bench.profile, shown_url)
            with contextlib.suppress(Exception):  # a copy for the UI; the file is the record
                tracker.log_dict(parent_id, summary, "sweep_summary.json")
    except Exception as exc:
        with contextlib.suppress(Exception):  # the study as it stands, for whoever looks next
            write_study_summary(results_dir, spec.name, bench.profile, study_name,
                                study_summary(study, spec, bench.profile, shown_url))
        if _is_tracking_error(exc):
            raise tracking_fault(tracking_uri, exc) from None
        raise
    finally:
        lock.close()
    path = write_study_summary(results_dir, spec.name, bench.profile, study_name, summary)
    if summary["finished_trials"] < sweep.trials:
        echo(f"this worker started its limit of {sweep.trials} trials; the study holds "
             f"{summary['finished_trials']} finished ({summary['states']['FAIL']} failed): "
             f"run the same command again to continue")
    echo(f"study summary: {path}")
    return summary


def _counted_states():
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


def _next_trial(study, storage, lock: StudyLock, target: int, study_seed: int):
    """Under the study lock: (trial to run, False), (None, False) to wait, or (None, True)."""
    import optuna
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    with lock():
        with contextlib.suppress(Exception), _quiet():
            fail_stale_trials(study)  # a dead worker's trial: FAIL, close its runs, re-queue
        trials = study.get_trials(deepcopy=False)
        n = {s: sum(t.state == s for t in trials) for s in TrialState}
        finished = n[TrialState.COMPLETE] + n[TrialState.PRUNED]
        if finished >= target:
            return None, True
        waiting = n[TrialState.WAITING]
        if not waiting and finished + n[TrialState.RUNNING] >= target:
            return None, False
        if not waiting:  # a new trial: its number is the count of trials, known under the lock
            study.sampler = optuna.samplers.TPESampler(
                seed=trial_sampler_seed(study_seed, len(trials)), constant_liar=True)
        with _quiet():  # "heartbeat is supposed to be used with optimize": ours is _heartbeat
            trial = study.ask()
        storage.record_heartbeat(trial._trial_id)  # stale-checkable from its first second
        return trial, False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():  # "experimental" notices, not problems
        warnings.simplefilter("ignore")
        yield


def _tell(study, trial, outcome: dict[str, Any]) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    state = TrialState[outcome["state"]]
    try:
        if state == TrialState.COMPLETE:
            study.tell(trial, outcome["value"])
        else:
            study.tell(trial, state=state)
    except (UpdateFinishedTrialError, RuntimeError, ValueError):
        # another worker already failed it (this one missed its heartbeats): its verdict stands
        pass


def _is_tracking_error(exc: BaseException) -> bool:
    import requests
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException | requests.RequestException)


def _create_or_join(storage, url: str, name: str, direction: str, context: dict[str, Any],
                    *, new_study: bool):
    """Optuna's load_if_exists, plus a check that a joining worker runs the same experiment."""
    import optuna

    try:
        exists = name in {s.study_name for s in optuna.get_all_study_summaries(storage)}
        if exists and new_study:
            raise GensuiteError(f"study {name!r} already exists in {mask_url(url)}; leave out "
                                f"--new-study to join it, or choose another --study-name")
        study = optuna.create_study(study_name=name, storage=storage, direction=direction,
                                    load_if_exists=True)
    except GensuiteError:
        raise
    except Exception as exc:  # a storage fault after connecting (permissions, schema)
        from gensuite.storage import db_fault

        raise db_fault(url, exc) from None
    theirs = study.user_attrs.get(CONTEXT_ATTR)
    if theirs is None:
        study.set_user_attr(CONTEXT_ATTR, context)
        theirs = context
    if study.direction.name.lower() != direction:
        raise GensuiteError(f"study {name!r} {study.direction.name.lower()}s; this suite's "
                            f"search asks to {direction}: use another --study-name")
    # What a trial's number depends on must match; the suite's prose (notes, reported numbers)
    # may differ between workers' commits.
    for key in ("case", "seed", "search", "config", "schedule"):
        if theirs.get(key) != context.get(key):
            raise GensuiteError(f"study {name!r} was made with another {key} "
                                f"({_short(theirs.get(key))} vs this worker's "
                                f"{_short(context.get(key))}): use another --study-name")
    if theirs["dataset"]["fingerprint"] != context["dataset"]["fingerprint"]:
        raise GensuiteError(f"study {name!r} was made on other data (fingerprint "
                            f"{theirs['dataset']['fingerprint'][:12]} vs "
                            f"{context['dataset']['fingerprint'][:12]} here)")
    return study


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _search_dict(spec: SuiteSpec) -> dict[str, Any]:
    s = spec.search
    return {"case": s.case, "metric": s.metric, "direction": s.direction,
            **{p.name: p.type for p in s.params}}


def study_summary(study, spec: SuiteSpec, profile: str, shown_url: str) -> dict[str, Any]:
    """The study as its database holds it (every worker's trials); no per-worker content, so
    the same study state gives the same summary whoever writes it."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    best = None
    if completed:
        b = study.best_trial
        best = {"number": b.number, "value": b.value, "params": b.params}
    context = dict(study.user_attrs.get(CONTEXT_ATTR, {}))
    return {
        "schema": SUMMARY_SCHEMA,
        "suite": spec.name, "profile": profile, "study": study.study_name,
        "storage": shown_url, "metric": spec.search.metric,
        "direction": spec.search.direction, "finished_trials": len(done),
        "states": {s: sum(t.state.name == s for t in trials)
                   for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")},
        "best": best,
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                    "params": t.params, "user_attrs": t.user_attrs,
                    "started": t.datetime_start.isoformat() if t.datetime_start else None,
                    "finished": t.datetime_complete.isoformat() if t.datetime_complete
                    else None} for t in trials],
        **context,
    }


def write_study_summary(results_dir: Path, suite: str, profile: str, study: str,
                        summary: dict[str, Any]) -> Path:
    """Atomically (re)write ``_sweeps/<study>.json``: workers finishing together never tear it."""
    path = Path(results_dir) / suite / profile / "_sweeps" / f"{study}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path

