"""``gensuite verify``: re-run a committed record's case and say whether its numbers come back.

The re-run uses what the record says and nothing else — its plug-in, resolved config, dataset and
options (whose fingerprint must match), schedule, seed, profile, device and thread count — trains
from scratch (no checkpoint), tests, and compares every metric:

- identical: the same mean and interval, bit for bit. Where the record's device, thread count
  and torch version are those of the re-run, gensuite claims determinism, so anything else
  *differs* (a changed number, an edited record);
- within the evaluation interval: on another device or thread count, |re-run − recorded| ≤ the
  recorded 95% half-width;
- differs: otherwise, or a metric missing on one side.

The source must be the record's: the checkout at the recorded commit without uncommitted
changes to gensuite/, benchmarks/ or pyproject.toml (``git worktree add DIR COMMIT`` gives one);
``allow_dirty`` re-runs anyway and says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensuite.errors import GensuiteError
from gensuite.records import SCHEMA

IDENTICAL, WITHIN, DIFFERS = "identical", "within the evaluation interval", "differs"


@dataclass(frozen=True, kw_only=True)
class MetricCheck:
    name: str
    recorded: dict[str, Any] | None
    rerun: dict[str, Any] | None
    verdict: str


@dataclass(frozen=True, kw_only=True)
class Verification:
    path: Path
    record: dict[str, Any]
    checks: list[MetricCheck]
    deterministic: bool  # same device, threads and torch: only "identical" passes
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.verdict != DIFFERS for c in self.checks)


def load_record(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GensuiteError(f"{path}: not a readable result record ({exc})") from None
    if rec.get("schema") != SCHEMA or rec.get("status") != "finished":
        raise GensuiteError(f"{path}: not a finished gensuite result record")
    return rec


def check_source(rec: dict[str, Any], *, allow_dirty: bool) -> list[str]:
    """Refuse (one line) when this checkout is not the record's source, unless allowed; the
    notes say what was allowed."""
    from gensuite.repro import git_state

    commit, dirty = git_state()
    recorded = rec["provenance"]["git_commit"]
    problems = []
    if rec["provenance"].get("git_dirty"):
        problems.append(f"the record was made from uncommitted changes at {recorded[:12]}")
    if commit != recorded:
        problems.append(f"the record was made at {recorded[:12]}, this checkout is at "
                        f"{commit[:12]}")
    elif dirty:
        problems.append("this checkout has uncommitted changes to gensuite/, benchmarks/ or "
                        "pyproject.toml")
    if problems and not allow_dirty:
        raise GensuiteError("; ".join(problems) + f" (check out {recorded[:12]} with `git "
                            "worktree add`, or pass --allow-dirty to re-run anyway)")
    return [f"re-run from another source (--allow-dirty): {p}" for p in problems]


def rerun(rec: dict[str, Any], *, data_root: Path | None, device: str | None = None,
          threads: int | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Train and test the record's case from scratch; (metrics, the re-run's setting)."""
    import torch

    from gensuite.api import RunContext, Schedule
    from gensuite.data.fingerprint import dataset_fingerprint
    from gensuite.data.root import DataRoot
    from gensuite.plugins import algorithms, datasets
    from gensuite.runner import build_algorithm
    from gensuite.train.loop import run_loop

    prov = rec["provenance"]
    torch.set_num_threads(threads or int(prov.get("threads") or torch.get_num_threads()))
    device = device or str(prov.get("device") or "cpu")
    algo_cls = algorithms().get(rec["algorithm"])
    try:
        config = algo_cls.Config(**rec["config"])
    except (TypeError, ValueError) as exc:
        raise GensuiteError(f"the record's config no longer fits plug-in "
                            f"{rec['algorithm']!r}: {exc}") from None
    ds = rec["dataset"]
    data = datasets().get(ds["name"])(DataRoot(data_root), **ds["options"])
    fp = dataset_fingerprint(data.info)
    if fp != ds["fingerprint"]:
        raise GensuiteError(f"dataset {ds['name']!r} differs from the record's (fingerprint "
                            f"{fp[:12]}…, recorded {ds['fingerprint'][:12]}…)")
    schedule = Schedule(**rec["schedule"])
    ctx = RunContext(seed=int(rec["seed"]), device=device, data_root=data_root,
                     profile=rec["profile"], schedule=schedule)
    algo = build_algorithm(algo_cls, config, data, ctx)
    loop = run_loop(algo, schedule, train_key="verify")
    result = algo.test(loop.curves)
    setting = {"device": device, "threads": torch.get_num_threads(), "torch": torch.__version__}
    return {k: e.to_dict() for k, e in result.metrics.items()}, setting


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def compare(recorded: dict[str, dict[str, Any]], rerun_metrics: dict[str, dict[str, Any]], *,
            deterministic: bool) -> list[MetricCheck]:
    """Each metric's verdict; only "identical" passes where determinism is claimed."""
    checks = []
    for name in sorted(set(recorded) | set(rerun_metrics)):
        old, new = recorded.get(name), rerun_metrics.get(name)
        if old is None or new is None:
            verdict = DIFFERS
        elif _same(old["mean"], new["mean"]) and _same(old.get("ci95"), new.get("ci95")):
            verdict = IDENTICAL
        else:
            half = old.get("ci95")
            close = (half is not None and math.isfinite(half)
                     and abs(float(new["mean"]) - float(old["mean"])) <= half)
            verdict = WITHIN if close and not deterministic else DIFFERS
        checks.append(MetricCheck(name=name, recorded=old, rerun=new, verdict=verdict))
    return checks


def verify_record(path: Path, *, allow_dirty: bool = False, data_root: Path | None = None,
                  device: str | None = None, threads: int | None = None) -> Verification:
    rec = load_record(path)
    notes = check_source(rec, allow_dirty=allow_dirty)
    metrics, setting = rerun(rec, data_root=data_root, device=device, threads=threads)
    prov = rec["provenance"]
    deterministic = (setting["device"] == prov.get("device")
                     and setting["threads"] == prov.get("threads")
                     and setting["torch"] == prov.get("torch"))
    if not deterministic:
        notes.append(f"re-run on {setting['device']}, {setting['threads']} threads, torch "
                     f"{setting['torch']} (recorded: {prov.get('device')}, "
                     f"{prov.get('threads')} threads, torch {prov.get('torch')}): numbers "
                     "may differ within their evaluation interval")
    return Verification(path=Path(path), record=rec, notes=notes, deterministic=deterministic,
                        checks=compare(rec.get("metrics") or {}, metrics,
                                       deterministic=deterministic))


def suite_records(results_dir: Path, suite: str, cases: tuple[str, ...] = (),
                  profile: str | None = None) -> list[Path]:
    """The records a report shows for a suite: newest finished per (profile, case, seed)."""
    from gensuite.records import iter_records
    from gensuite.report.aggregate import latest_finished

    records = [r for r in iter_records(results_dir, suite)
               if (not cases or r["case"]["id"] in cases)
               and (profile is None or r["profile"] == profile)]
    chosen = latest_finished(records, lambda r: r["case"].get("metric") or r["suite"]["metric"])
    if not chosen:
        raise GensuiteError(f"no finished record of suite {suite!r}"
                            + (f" case {', '.join(cases)}" if cases else "")
                            + (f" at profile {profile}" if profile else "")
                            + f" under {results_dir}")
    return [Path(results_dir) / chosen[k]["_path"] for k in sorted(chosen)]
