"""The benchmark runner: suite → per-case config → plug-in + loop → metrics → tracking + record."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gensuite.api import EvalResult, RunContext, eval_only_fields
from gensuite.config import Case, SuiteSpec
from gensuite.errors import CaseNotRunnable, DivergedError, GensuiteError, MissingDataError
from gensuite.records import make_record, record_path, run_description, write_record
from gensuite.repro import PROJECT_ROOT, config_hash, provenance, seed_everything
from gensuite.train.loop import Callback, LoopResult, run_loop

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    profile: str = "quick"
    seeds: tuple[int, ...] | None = None  # None: the profile's seeds
    cases: tuple[str, ...] = ()  # empty: all cases
    data_root: Path | None = None
    results_dir: Path = Path("results")
    tracking_uri: str | None = None  # None: sqlite under results_dir
    device: str = "auto"
    threads: int | None = None
    resume: bool = True  # reuse/resume checkpoints of the same configuration
    progress: bool = False  # bars (a terminal)
    progress_every: float | None = None  # seconds between progress lines (logs); None: none


@dataclass(frozen=True)
class Evaluated:
    """A trained model's evaluation, shared by the rows of one invocation that have the same
    model *and* evaluation settings (rows differing only in the metric they show): trained,
    tested and drawn once, however many rows read it."""

    loop: LoopResult
    result: EvalResult
    artifacts: tuple[Path, ...]  # absolute paths, in the first such row's folder


@dataclass
class CaseOutcome:
    case_id: str
    seed: int
    status: str  # finished | failed | diverged
    record: Path | None
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedCase:
    """Everything needed to build and train one case, resolved and validated."""

    spec: SuiteSpec
    case: Case
    algo_cls: type
    config: Any
    data: Any
    data_fingerprint: str
    dataset_name: str
    dataset_options: dict[str, Any]
    ctx: RunContext
    train_key: str

    def build(self):
        return build_algorithm(self.algo_cls, self.config, self.data, self.ctx)


def build_algorithm(algo_cls: type, config: Any, data: Any, ctx: RunContext):
    """A plug-in instance as every run builds one: seeded first, so construction (network
    initialisation) draws the same numbers for the same seed."""
    seed_everything(ctx.seed)
    return algo_cls(config, data, ctx)


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GensuiteError(f"--device {name}: CUDA is not available on this machine")
    return name


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of gensuite's source: a checkpoint from other code is never silently reused."""
    h = hashlib.sha256()
    for p in sorted((PROJECT_ROOT / "gensuite").rglob("*.py")):
        h.update(p.relative_to(PROJECT_ROOT).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class _DataCache:
    """Builds each (dataset, options) once per bench invocation."""

    def __init__(self, data_root: Path | None) -> None:
        from gensuite.data.root import DataRoot

        self.explicit = data_root
        self.root = DataRoot(data_root)
        self._cache: dict[str, tuple[Any, str]] = {}

    def get(self, name: str, options: dict[str, Any]) -> tuple[Any, str]:
        from gensuite.data.fingerprint import dataset_fingerprint
        from gensuite.plugins import datasets

        key = config_hash({"name": name, "options": options})
        if key not in self._cache:
            try:
                data = datasets().get(name)(self.root, **options)
            except TypeError as exc:
                raise GensuiteError(f"dataset {name!r}: bad dataset_options: {exc}") from None
            self._cache[key] = (data, dataset_fingerprint(data.info))
        return self._cache[key]


def prepare_case(
    spec: SuiteSpec, case: Case, *, profile: str, seed: int, device: str,
    data: _DataCache, progress: bool = False, overrides: dict[str, Any] | None = None,
) -> PreparedCase:
    from gensuite.plugins import algorithms

    algo_cls = algorithms().get(spec.algorithm)
    params = {**spec.resolve_params(case, profile), **(overrides or {})}
    config = algo_cls.Config(**params)
    ds_name, ds_options = spec.dataset_for(case, profile)
    dataset, fp = data.get(ds_name, ds_options)
    if not isinstance(dataset, algo_cls.Config.data_type):
        raise GensuiteError(f"dataset {ds_name!r} gave {type(dataset).__name__}; plug-in "
                            f"{spec.algorithm!r} takes {algo_cls.Config.data_type.__name__}")
    schedule = spec.schedule_for(case, profile)
    ctx = RunContext(seed=seed, device=device, data_root=data.explicit, profile=profile,
                     schedule=schedule, progress=progress)
    eval_keys = eval_only_fields(algo_cls.Config)
    train_params = {k: v for k, v in dataclasses.asdict(config).items() if k not in eval_keys}
    train_key = config_hash({
        "algorithm": spec.algorithm, "params": train_params, "dataset": ds_name,
        "options": ds_options, "data": fp, "schedule": dataclasses.asdict(schedule),
        "seed": seed, "device": device, "code": code_hash(),
    })
    return PreparedCase(
        spec=spec, case=case, algo_cls=algo_cls, config=config, data=dataset,
        data_fingerprint=fp, dataset_name=ds_name, dataset_options=ds_options, ctx=ctx,
        train_key=train_key,
    )


def checkpoint_path(results_dir: Path, prepared: PreparedCase) -> Path:
    return (Path(results_dir) / ".work" / prepared.spec.name / prepared.ctx.profile
            / f"{prepared.spec.algorithm}-{prepared.train_key}.pt")


def train(
    prepared: PreparedCase, *, checkpoint: Path | None, callbacks: list[Callback] = (),
) -> tuple[Any, LoopResult]:
    algo = prepared.build()
    result = run_loop(algo, prepared.ctx.schedule, train_key=prepared.train_key,
                      checkpoint_path=checkpoint, callbacks=list(callbacks),
                      progress=prepared.ctx.progress)
    return algo, result


def run_suite(
    spec: SuiteSpec, opts: BenchOptions, *, echo: Callable[[str], None] = log.info,
) -> list[CaseOutcome]:
    """Run every (case, seed) of a suite at a profile; a failing case never stops the others."""
    import torch

    from gensuite.tracking import default_tracking_uri, open_tracker

    if opts.profile not in spec.profiles:
        raise GensuiteError(f"suite {spec.name!r} has no profile {opts.profile!r}")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = resolve_device(opts.device)
    cases = [spec.case(c) for c in opts.cases] if opts.cases else list(spec.cases)
    seeds = opts.seeds or spec.profiles[opts.profile].seeds
    results_dir = Path(opts.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    tracker = open_tracker(opts.tracking_uri or default_tracking_uri(results_dir),
                           f"gensuite/{spec.name}", artifact_root=results_dir / "mlartifacts")
    data = _DataCache(opts.data_root)
    outcomes = []
    evaluated: dict[str, Evaluated] = {}  # this invocation's evaluations, by evaluation_key
    for case in cases:
        for seed in seeds:
            echo(f"[{spec.name}/{opts.profile}] {case.id} seed {seed}: {case.row}")
            try:
                outcome = run_case(spec, case, opts=opts, seed=seed, device=device, data=data,
                                   tracker=tracker, evaluated=evaluated)
            except MissingDataError as exc:
                # a row whose data may be absent here (SVHN offline) is recorded "not run" when
                # the whole suite runs; asked for by name, the data-root error stands
                if not case.data_optional or opts.cases:
                    raise
                outcome = record_absent_data(spec, case, opts=opts, seed=seed, device=device,
                                             error=exc)
            shown = ", ".join(f"{k} {v['mean']:.2f}±{v['ci95']:.2f}{v['unit']}"
                              for k, v in outcome.metrics.items())
            why = outcome.error.split(": ", 1)[0] if outcome.status == "not run" else \
                outcome.error  # the whole reason is in the log line above and the record
            echo(f"  → {outcome.status}: {shown or why}")
            outcomes.append(outcome)
    return outcomes


def run_case(
    spec: SuiteSpec, case: Case, *, opts: BenchOptions, seed: int, device: str,
    data: _DataCache, tracker, evaluated: dict[str, Evaluated] | None = None,
) -> CaseOutcome:
    """Train (or reuse a finished checkpoint, or this invocation's evaluation of the same model
    and settings), test, log to MLflow and write the record."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    evaluated = {} if evaluated is None else evaluated
    prepared = prepare_case(spec, case, profile=opts.profile, seed=seed, device=device,
                            data=data, progress=opts.progress)
    key = evaluation_key(prepared)
    ckpt = checkpoint_path(opts.results_dir, prepared)
    if not opts.resume and ckpt.exists() and key not in evaluated:
        ckpt.unlink()
    env = provenance(device)
    description = run_description(prepared, env)
    tags = {"suite": spec.name, "case": case.id, "profile": opts.profile, "seed": seed,
            "data_fingerprint": prepared.data_fingerprint, "train_key": prepared.train_key,
            **{k: v for k, v in env.items() if k != "packages"},
            "packages": env["packages"], "mlflow.source.git.commit": env["git_commit"]}
    status, error, metrics, loop = "finished", None, {}, LoopResult(steps=0)
    run_id, artifacts, trained = None, [], False
    path = record_path(opts.results_dir, spec.name, opts.profile, case.id, seed)
    try:
        with tracker.run(f"{case.id}/seed{seed}", params={"config": description["config"],
                         "schedule": description["schedule"],
                         "dataset": description["dataset"]}, tags=tags) as run_id:
            tracker.log_dict(run_id, description, "resolved_config.json")
            tracker.log_dataset(run_id, **dataset_input(prepared))
            if key not in evaluated:
                evaluated[key] = _train_and_evaluate(prepared, ckpt, path, tracker, run_id,
                                                     opts.progress_every)
                trained = not evaluated[key].loop.reused
            done = evaluated[key]
            loop = done.loop
            metrics = {k: e.to_dict() for k, e in done.result.metrics.items()}
            tracker.log_metrics(run_id, {f"test/{k}": e.mean
                                         for k, e in done.result.metrics.items()},
                                step=loop.steps)
            tracker.set_tags(run_id, {"reused_checkpoint": not trained})
            for f in done.artifacts:
                tracker.log_artifact(run_id, f)
            base = path.parent.resolve()
            artifacts = [Path(os.path.relpath(f, base)).as_posix() for f in done.artifacts]
            png = _curve_png(loop, ckpt.with_suffix(".curves.png"), f"{spec.name}: {case.row}")
            if png is not None:
                tracker.log_artifact(run_id, png)
    except DivergedError as exc:
        status, error = "diverged", str(exc)
    except CaseNotRunnable as exc:  # e.g. no pretrained weights: the report says why
        status, error = "not run", str(exc)
        log.error("case %s not run: %s", case.id, exc)
    except GensuiteError:
        raise
    except Exception as exc:  # a plug-in bug must not lose the other cases' results
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ValueError):  # a setting that does not fit the data: one line says it
            log.error("case %s failed: %s", case.id, error)
        else:  # anything else is a bug: keep the traceback
            log.exception("case %s failed", case.id)
    finished = datetime.now(UTC)
    record = make_record(
        description, status=status, error=error, metrics=metrics,
        curves={"train": loop.train_curve, "val": loop.val_curve},
        trained_in_this_run=trained,
        timing={
            "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "wall_s": round(time.perf_counter() - t0, 2),
            "train_s": round(loop.train_seconds, 2),
        },
        tracking={"uri": tracker.uri, "experiment": tracker.experiment, "run_id": run_id},
        artifacts=artifacts, stopping=loop.stopping,
    )
    path = write_record(path, record)
    return CaseOutcome(case.id, seed, status, path, error or "", metrics)


def record_absent_data(spec: SuiteSpec, case: Case, *, opts: BenchOptions, seed: int,
                       device: str, error: MissingDataError) -> CaseOutcome:
    """The "not run" record of a ``data_optional`` case whose dataset is absent: what would
    have run (config, schedule) and why it did not; nothing trained, nothing tracked."""
    from types import SimpleNamespace

    from gensuite.api import DatasetInfo
    from gensuite.plugins import algorithms

    now = datetime.now(UTC).isoformat(timespec="seconds")
    algo_cls = algorithms().get(spec.algorithm)
    ds_name, ds_options = spec.dataset_for(case, opts.profile)
    absent = SimpleNamespace(info=DatasetInfo(name=ds_name, description=f"absent: {error}",
                                              files=()))
    prepared = PreparedCase(
        spec=spec, case=case, algo_cls=algo_cls,
        config=algo_cls.Config(**spec.resolve_params(case, opts.profile)), data=absent,
        data_fingerprint="", dataset_name=ds_name, dataset_options=ds_options,
        ctx=RunContext(seed=seed, device=device, profile=opts.profile,
                       schedule=spec.schedule_for(case, opts.profile)),
        train_key="",
    )
    why = f"{error.dataset or ds_name} not in the data root: {error}"
    log.error("case %s not run: %s", case.id, why)
    record = make_record(
        run_description(prepared, provenance(device)), status="not run", error=why, metrics={},
        curves={"train": [], "val": []}, trained_in_this_run=False,
        timing={"started": now, "finished": now, "wall_s": 0.0, "train_s": 0.0},
        tracking={"uri": None, "experiment": None, "run_id": None}, artifacts=[],
    )
    path = write_record(record_path(opts.results_dir, spec.name, opts.profile, case.id, seed),
                        record)
    return CaseOutcome(case.id, seed, "not run", path, why)


def dataset_input(prepared: PreparedCase) -> dict[str, str]:
    """What MLflow's Dataset column shows: name, data fingerprint, the folder it was read from."""
    info = getattr(prepared.data, "info", None)
    files = [Path(f) for f in getattr(info, "files", ())]
    source = os.path.commonpath([str(f.parent) for f in files]) if files else "generated"
    return {"name": prepared.dataset_name, "digest": prepared.data_fingerprint,
            "source": source, "description": getattr(info, "description", "")}


def progress_lines(prepared: PreparedCase, every_s: float | None) -> list[Callback]:
    """The progress-line callback when lines are asked for (no terminal), else none."""
    from gensuite.train.progress import ProgressLines

    return [] if not every_s else [ProgressLines(prepared.ctx.schedule.steps, every_s)]


def _train_and_evaluate(prepared: PreparedCase, ckpt: Path, record: Path, tracker,
                        run_id: str, every_s: float | None = None) -> Evaluated:
    """Train (or resume), test, and let the plug-in draw its figures beside ``record``."""
    algo, loop = train(prepared, checkpoint=ckpt,
                       callbacks=[tracker.callback(run_id), *progress_lines(prepared, every_s)])
    result = algo.test(loop.curves)
    out = artifact_dir(record)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted({Path(f).resolve() for f in algo.write_artifacts(out, result, loop.curves)})
    if not files:
        out.rmdir()
    return Evaluated(loop=loop, result=result, artifacts=tuple(files))


def artifact_dir(record: Path) -> Path:
    """A record's figures live in a folder beside it named after it (without ``.json``)."""
    return record.with_suffix("")


def evaluation_key(prepared: PreparedCase) -> str:
    """Rows with the same trained model *and* the same evaluation settings share one
    evaluation and one set of figures (a cGAN asked for 4s and for 9s do not)."""
    return config_hash({"train": prepared.train_key,
                        "config": dataclasses.asdict(prepared.config), "seed": prepared.ctx.seed})


def _curve_png(loop: LoopResult, path: Path, title: str) -> Path | None:
    """The run's learning curves, drawn by the same code as the report's figure."""
    from gensuite.report.figures import learning_curves

    curves = {"train": loop.train_curve, "val": loop.val_curve}
    return path if learning_curves([(title, curves)], path, title) else None
