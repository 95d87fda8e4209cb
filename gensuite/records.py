"""Result records: one JSON per case per run under ``results/``, written once, never rewritten.

A record holds everything a report needs (the suite's tables and citations, the case's reported
number, the reproduced metrics and curves) and everything needed to trust it (resolved config,
seed, profile, schedule, git commit, environment, data fingerprint). Layout::

    results/<suite>/<profile>/<case>/seed<seed>_<UTC time>_<id>.json

Schema (``schema: gensuite.result/1``, built by ``run_description`` + ``make_record`` only):
suite (snapshot), case {id, table, row, reported, reference_note, metric}, algorithm, profile,
seed, config, schedule, profile_note, dataset {name, options, description, files, fingerprint,
stands_in_for}, metrics {name: Estimate dict}, curves {train:
[{step, ...}], val: [{step, ...}]}, status (finished | failed | diverged), error, train_key,
trained_in_this_run, timing {started, finished, wall_s, train_s}, provenance {...}, tracking
{uri, experiment, run_id}, artifacts [paths relative to the record's folder], stopping (early
stopping: {monitor, best, best_step, stopped_early, patience}, or null).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gensuite.runner import PreparedCase

SCHEMA = "gensuite.result/1"


def run_description(prepared: PreparedCase, provenance: dict[str, Any]) -> dict[str, Any]:
    """What a run is, known before it trains: the record's first half (also logged to MLflow as
    resolved_config.json)."""
    spec, case = prepared.spec, prepared.case
    return {
        "suite": {**spec.snapshot(), "tolerance": spec.tolerance},
        "case": spec.case_summary(case),
        "algorithm": spec.algorithm,
        "profile": prepared.ctx.profile,
        "seed": prepared.ctx.seed,
        "config": dataclasses.asdict(prepared.config),
        "schedule": dataclasses.asdict(prepared.ctx.schedule),
        "profile_note": spec.profiles[prepared.ctx.profile].note,
        "dataset": {
            "name": prepared.dataset_name, "options": prepared.dataset_options,
            "description": prepared.data.info.description,
            "files": sorted(p.name for p in prepared.data.info.files),
            "fingerprint": prepared.data_fingerprint,
            "stands_in_for": prepared.data.info.stands_in_for,
        },
        "train_key": prepared.train_key,
        "provenance": provenance,
    }


def make_record(
    description: dict[str, Any], *, status: str, error: str | None,
    metrics: dict[str, Any], curves: dict[str, list], trained_in_this_run: bool,
    timing: dict[str, Any], tracking: dict[str, Any], artifacts: list[str],
    stopping: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole record: the run's description plus what came of it (see the module docstring
    for the schema). The one place a record's fields are named."""
    return {
        "schema": SCHEMA, **description,
        "metrics": metrics, "curves": curves, "status": status, "error": error,
        "trained_in_this_run": trained_in_this_run, "timing": timing, "tracking": tracking,
        "artifacts": artifacts, "stopping": stopping,
    }


def record_path(results_dir: Path, suite: str, profile: str, case_id: str, seed: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"seed{seed}_{stamp}_{uuid.uuid4().hex[:8]}.json"
    return Path(results_dir) / suite / profile / case_id / name


def write_record(path: Path, record: dict[str, Any]) -> Path:
    """Write a ``make_record`` result atomically; refuse to overwrite an existing record."""
    return write_new_json(path, {"schema": SCHEMA, **record})


def write_new_json(path: Path, obj: dict[str, Any]) -> Path:
    """Write ``obj`` as JSON atomically (temp file + hard link): a killed writer leaves no torn
    file, and an existing file is never replaced (FileExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(obj, indent=2, sort_keys=True, allow_nan=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails with FileExistsError instead of replacing a record
    finally:
        os.unlink(tmp)
    return path


def iter_records(results_dir: Path, suite: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield every record (with ``_path`` added), in sorted path order so output is stable.
    Folders named ``_*`` or ``.*`` (sweep summaries, checkpoints) and temp files hold none."""
    base = Path(results_dir) / suite if suite else Path(results_dir)
    for p in sorted(base.rglob("*.json")):
        if any(part.startswith(("_", ".")) for part in p.relative_to(base).parts):
            continue
        with p.open(encoding="utf-8") as fh:
            rec = json.load(fh)
        if rec.get("schema") != SCHEMA:
            continue
        rec["_path"] = str(p.relative_to(results_dir))
        yield rec
