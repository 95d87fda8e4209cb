"""The ``gensuite`` command: parse options, call the library, turn errors into one line.

Heavy imports (torch, mlflow, optuna) happen inside commands so ``gensuite --help`` is instant.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from gensuite.api import PROFILES
from gensuite.errors import GensuiteError, MissingDataError


def _shared_options(func):
    """Options every running command takes, defined once (pip-tools style)."""
    options = [
        click.option("--profile", type=click.Choice(PROFILES), default="quick", show_default=True,
                     help="smoke: seconds on CPU; quick: minutes on CPU, real data; "
                          "paper: the paper's schedule (GPU)."),
        click.option("--seed", "seeds", type=int, multiple=True,
                     help="Seed(s); repeatable. Default: the profile's seeds."),
        click.option("--seeds", "seed_count", type=int, default=None,
                     help="Run seeds 0..N-1 (instead of --seed)."),
        click.option("--data-root", type=click.Path(path_type=Path), default=None,
                     help="Dataset folder searched first (then $GENSUITE_DATA_ROOT, the user "
                          "cache, /usr/share/datasets, ../shared/data)."),
        click.option("--tracking-uri", default=None,
                     help="MLflow tracking URI. Default: sqlite:///<results-dir>/mlflow.db; "
                          "'none' (bench only): records only, no MLflow."),
        click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"),
                     show_default=True),
        click.option("--device", default="auto", show_default=True,
                     help="auto, cpu, cuda, cuda:1 ..."),
    ]
    return functools.reduce(lambda f, opt: opt(f), reversed(options), func)


def _fail_cleanly(func):
    """A GensuiteError becomes 'error: <cause>' and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GensuiteError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gensuite")
def main() -> None:
    """gensuite: re-run classic deep-learning experiments; show reported vs reproduced."""


def _removed_sweep_option(ctx, param, value):
    """``bench --trials/--storage/--study-name`` (old notes): a one-line pointer to ``sweep``."""
    if value is None:
        return None
    suite = ctx.params.get("suite_name") or "NAME"
    raise click.ClickException(
        f"bench no longer sweeps: use `gensuite sweep --suite {suite} --trials N` "
        f"(with --storage/--study-name/--resume there)")


def _bench_options(profile, seeds, seed_count, data_root, tracking_uri, results_dir, device,
                   threads, progress, **kwargs):
    from gensuite.allocator import tune_allocator
    from gensuite.runner import BenchOptions
    from gensuite.train.progress import DEFAULT_EVERY_S

    tune_allocator()  # before torch allocates: freed step buffers stay in the heap (issue 17)
    if seed_count is not None:
        seeds = tuple(range(seed_count))
    # --progress: bars; --no-progress: silence; neither: bars on a terminal, else a progress
    # line every GENSUITE_PROGRESS_EVERY seconds (60) so a log shows where a long run is.
    tty = sys.stderr.isatty()
    every = None
    if progress is None and not tty:
        every = float(os.environ.get("GENSUITE_PROGRESS_EVERY") or DEFAULT_EVERY_S)
    return BenchOptions(
        profile=profile, seeds=tuple(seeds) or None, data_root=data_root,
        results_dir=results_dir, tracking_uri=tracking_uri, device=device, threads=threads,
        progress=tty if progress is None else progress, progress_every=every, **kwargs,
    )


@main.command()
@click.option("--suite", "suite_name", required=True, help="Suite name in benchmarks/ or a path.")
@_shared_options
@click.option("--case", "cases", multiple=True, help="Run only these case ids (repeatable).")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Reuse/resume checkpoints of the same configuration.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars / nothing (default: bars on a terminal, else a line a minute).")
@click.option("--trials", "--storage", "--study-name", "removed_sweep_option", hidden=True,
              expose_value=False, callback=_removed_sweep_option)
@_fail_cleanly
def bench(suite_name, profile, seeds, seed_count, data_root, tracking_uri, results_dir, device,
          cases, threads, resume, progress):
    """Run a suite's cases (sweeps: `gensuite sweep`)."""
    from gensuite.config import load_suite
    from gensuite.runner import run_suite

    spec = load_suite(suite_name)
    opts = _bench_options(profile, seeds, seed_count, data_root, tracking_uri, results_dir,
                          device, threads, progress, cases=tuple(cases), resume=resume)
    outcomes = run_suite(spec, opts, echo=click.echo)
    failed = [o for o in outcomes if o.status not in ("finished", "not run")]
    not_run = [o for o in outcomes if o.status == "not run"]
    finished = len(outcomes) - len(failed) - len(not_run)
    skipped = f", {len(not_run)} not run here (the reason is in their records)" if not_run else ""
    click.echo(f"{finished}/{len(outcomes)} runs finished{skipped}; records under "
               f"{results_dir}/{spec.name}/{profile}/")
    if failed:
        for o in failed:
            click.echo(f"error: {o.case_id} seed {o.seed}: {o.error}", err=True)
        sys.exit(1)


@main.command()
@click.option("--suite", "suite_name", required=True, help="Suite name in benchmarks/ or a path.")
@click.option("--trials", type=click.IntRange(min=1), required=True,
              help="Finished (complete or pruned) trials the whole study should hold; never "
                   "overshot, however many workers run the command.")
@_shared_options
@click.option("--storage", default=None,
              help="Optuna storage URL (default sqlite:///<results-dir>/optuna.db; "
                   "postgresql://user:password@host/db for many workers).")
@click.option("--study-name", default=None, help="Default: <suite>-<profile>.")
@click.option("--new-study", is_flag=True, default=False,
              help="Refuse to join a study that already exists (default: create or join).")
@click.option("--resume", is_flag=True, default=False, hidden=True,
              help="Accepted for old commands: every sweep now joins an existing study.")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars / nothing (default: bars on a terminal, else a line a minute).")
@_fail_cleanly
def sweep(suite_name, trials, profile, seeds, seed_count, data_root, tracking_uri, results_dir,
          device, storage, study_name, new_study, resume, threads, progress):
    """Sweep a suite's [search] space with Optuna: the same command on every worker.

    The study is created if absent and joined otherwise; --trials is the study-wide target.
    """
    from gensuite.config import load_suite
    from gensuite.sweep import SweepOptions, run_sweep

    spec = load_suite(suite_name)
    opts = _bench_options(profile, seeds, seed_count, data_root, tracking_uri, results_dir,
                          device, threads, progress)
    if threads:
        import torch

        torch.set_num_threads(threads)
    summary = run_sweep(spec, opts, SweepOptions(
        trials=trials, storage=storage, study_name=study_name, new_study=new_study),
        echo=click.echo)
    best = summary["best"]
    click.echo(f"{summary['finished_trials']} trials finished; best: "
               f"{best['value']:.4g} with {best['params']}" if best else "no trial completed")


@main.command()
@click.option("--suite", "suites", multiple=True, help="Only these suites (default: all).")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--reports-dir", type=click.Path(path_type=Path), default=Path("reports"),
              show_default=True)
@click.option("--profile", "profiles", multiple=True, type=click.Choice(PROFILES),
              help="Profiles to show (default: paper and quick).")
@_fail_cleanly
def report(suites, results_dir, reports_dir, profiles):
    """Render reports/<suite>.md from results/ (byte-identical for the same results)."""
    from gensuite.report import render_reports

    written = render_reports(results_dir, reports_dir, suites=list(suites) or None,
                             profiles=tuple(profiles) or ("paper", "quick"))
    if not written:
        raise GensuiteError(f"no result records under {results_dir}; run `gensuite bench` first")
    for p in written:
        click.echo(f"wrote {p}")


@main.command()
@click.argument("record", required=False, type=click.Path(path_type=Path))
@click.option("--suite", "suite_name", default=None,
              help="Verify the records this suite's report shows (instead of RECORD).")
@click.option("--case", "cases", multiple=True, help="With --suite: only these case ids.")
@click.option("--profile", type=click.Choice(PROFILES), default=None,
              help="With --suite: only this profile.")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@click.option("--device", default=None, help="Default: the record's device.")
@click.option("--threads", type=int, default=None, help="Default: the record's thread count.")
@click.option("--allow-dirty", is_flag=True,
              help="Re-run even when this checkout is not the record's commit (or has "
                   "uncommitted changes); the output says so.")
@_fail_cleanly
def verify(record, suite_name, cases, profile, results_dir, data_root, device, threads,
           allow_dirty):
    """Re-run a record's case at its recorded config, seed, profile and schedule; compare.

    Per metric: identical, within the evaluation interval, or differs (exit status 1). Where
    the device and thread count are the record's, only identical passes.
    """
    from gensuite.allocator import tune_allocator
    from gensuite.verify import IDENTICAL, suite_records, verify_record

    tune_allocator()
    if (record is None) == (suite_name is None):
        raise click.UsageError("give a RECORD or --suite NAME (not both)")
    paths = [record] if record is not None else suite_records(
        results_dir, suite_name, tuple(cases), profile)
    failed = 0
    for path in paths:
        v = verify_record(path, allow_dirty=allow_dirty, data_root=data_root, device=device,
                          threads=threads)
        rec = v.record
        click.echo(f"verify {path} ({rec['suite']['name']}/{rec['profile']}, "
                   f"{rec['case']['id']}, seed {rec['seed']}; commit "
                   f"{rec['provenance']['git_commit'][:12]})")
        for note in v.notes:
            click.echo(f"  note: {note}")
        for c in v.checks:
            old, new = (_shown(e) for e in (c.recorded, c.rerun))
            click.echo(f"  {c.name:22} recorded {old:26} re-run {new:26} {c.verdict}")
        failed += not v.ok
        click.echo("  → " + ("reproduced" if v.ok else "DIFFERS") + (
            "" if all(c.verdict == IDENTICAL for c in v.checks) or not v.ok
            else " (within the evaluation interval)"))
    click.echo(f"{len(paths) - failed}/{len(paths)} records reproduced")
    if failed:
        sys.exit(1)


def _shown(estimate: dict | None) -> str:
    if estimate is None:
        return "(missing)"
    ci = estimate.get("ci95")
    ci_text = "" if ci is None or ci != ci else f" ± {ci:.6g}"
    return f"{estimate['mean']:.10g}{ci_text}"


@main.command("list")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@_fail_cleanly
def list_(data_root):
    """List suites, plug-ins (and the package each came from) and datasets (with whether each
    is in the data root); third-party plug-in packages that failed to load, one line each."""
    from gensuite.config import list_suites, load_suite
    from gensuite.data.root import DataRoot
    from gensuite.plugins import algorithms, datasets, load_plugins

    loaded = load_plugins()
    click.echo("suites:")
    for name in list_suites():
        try:
            spec = load_suite(name)
            click.echo(f"  {name:24} {spec.algorithm:12} {spec.dataset:20} {len(spec.cases)} cases")
        except GensuiteError as exc:
            click.echo(f"  {name:24} INVALID: {exc}")
    click.echo("plug-ins:")
    for name in algorithms().names():
        entry = algorithms().entry(name)
        doc = (entry.obj.__doc__ or "").strip().splitlines()
        click.echo(f"  {name:24} [{entry.origin}] {doc[0] if doc else ''}")
    for name, cause in loaded.broken.items():
        click.echo(f"  BROKEN plug-in package {name!r}: {cause}")
    root = DataRoot(data_root)
    click.echo("datasets (data roots: " + ", ".join(map(str, root.candidates)) + "):")
    for name in datasets().names():
        entry = datasets().entry(name)
        probe = entry.meta.get("probe")
        try:
            shown = f"present: {probe(root).parent}" if probe else "(no presence check)"
        except MissingDataError:
            shown = "MISSING (gensuite bench names what to get and where)"
        click.echo(f"  {name:24} [{entry.origin}] {shown}")


@main.command()
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--tracking-uri", default=None,
              help="Default: sqlite:///<results-dir>/mlflow.db. An http:// server: only the "
                   "Optuna view is started here (the server has its own UI).")
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--optuna", "with_optuna", is_flag=True,
              help="Also start optuna-dashboard on the study storage (port + 1).")
@click.option("--storage", default=None,
              help="Optuna storage for --optuna (default sqlite:///<results-dir>/optuna.db).")
@_fail_cleanly
def ui(results_dir, tracking_uri, port, with_optuna, storage):
    """Start the MLflow UI (and with --optuna, optuna-dashboard) on 127.0.0.1."""
    from gensuite.ui import serve

    sys.exit(serve(results_dir=results_dir, tracking_uri=tracking_uri, port=port,
                   with_optuna=with_optuna, storage=storage, echo=click.echo))


if __name__ == "__main__":
    main()
