"""Optuna sweeps (``gensuite sweep``): trials counted, existing studies refused without --resume,
a sweep killed mid-study resumes without losing a completed trial, and usage errors are one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
from click.testing import CliRunner

from gensuite.cli import main


def _sweep(results, suite_file, *extra):
    return CliRunner().invoke(main, [
        "sweep", "--suite", str(suite_file), "--profile", "smoke", "--results-dir",
        str(results), "--no-progress", *extra])


def _states(storage: str, name: str) -> dict[str, list]:
    study = optuna.load_study(study_name=name, storage=storage)
    out: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        out.setdefault(t.state.name, []).append((t.number, t.value, t.params))
    return out


def test_sweep_runs_and_resumes(tmp_path, suite_file):
    results = tmp_path / "r"
    storage = f"sqlite:///{results / 'optuna.db'}"
    res = _sweep(results, suite_file, "--trials", "3")
    assert res.exit_code == 0, res.output
    assert "3 trials finished" in res.output
    states = _states(storage, "mini-smoke")
    assert len(states.get("COMPLETE", [])) + len(states.get("PRUNED", [])) == 3

    again = _sweep(results, suite_file, "--trials", "3")
    assert again.exit_code == 1 and "already exists" in again.output and "--resume" in again.output
    assert len(again.output.strip().splitlines()) == 1 and "Traceback" not in again.output

    more = _sweep(results, suite_file, "--trials", "5", "--resume")
    assert more.exit_code == 0, more.output
    after = _states(storage, "mini-smoke")
    assert len(after.get("COMPLETE", [])) + len(after.get("PRUNED", [])) == 5
    # the first three trials are untouched
    assert after["COMPLETE"][:len(states.get("COMPLETE", []))] == states.get("COMPLETE", [])

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gensuite/mini")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.info.run_name.startswith("sweep/")]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(children) == 5
    assert {c.data.tags["mlflow.parentRunId"] for c in children} <= {
        p.info.run_id for p in parents}

    # each summary names what its numbers rest on, as a result record does
    summaries = sorted((results / "mini" / "smoke" / "_sweeps").glob("mini-smoke_*.json"))
    assert len(summaries) == 2
    summary = json.loads(summaries[-1].read_text())
    commit = summary["provenance"]["git_commit"]
    assert commit and summary["dataset"]["fingerprint"] and summary["seed"] == 0
    assert summary["schedule"]["steps"] == 3 and len(summary["suite_sha256"]) == 64
    assert len(summary["trials"]) == 5
    assert {t["user_attrs"]["git_commit"] for t in summary["trials"]} == {commit}


def test_killed_sweep_resumes_without_losing_trials(tmp_path, suite_file):
    results = tmp_path / "r"
    results.mkdir()
    storage = f"sqlite:///{results / 'optuna.db'}"
    cmd = [sys.executable, "-m", "gensuite.cli", "sweep", "--suite", str(suite_file),
           "--profile", "smoke", "--results-dir", str(results), "--no-progress",
           "--trials", "500"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, env={**os.environ})
    try:
        deadline = time.monotonic() + 120
        done_before: list = []
        while time.monotonic() < deadline:
            time.sleep(0.3)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                done_before = _states(storage, "mini-smoke").get("COMPLETE", [])
            except (KeyError, optuna.exceptions.StorageInternalError, ValueError):
                continue
            if len(done_before) >= 2:
                break
        os.killpg(proc.pid, signal.SIGKILL)  # no clean-up: like a killed worker
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    killed = _states(storage, "mini-smoke")
    n_done = len(killed.get("COMPLETE", [])) + len(killed.get("PRUNED", []))
    assert n_done >= 2
    target = n_done + 2
    res = _sweep(results, suite_file, "--trials", str(target), "--resume")
    assert res.exit_code == 0, res.output
    after = _states(storage, "mini-smoke")
    assert len(after.get("COMPLETE", [])) + len(after.get("PRUNED", [])) == target
    for trial in killed.get("COMPLETE", []):
        assert trial in after["COMPLETE"], "a completed trial was lost"


def test_sweep_without_trials_fails_cleanly_and_creates_no_study(tmp_path, suite_file):
    results = tmp_path / "r"
    res = _sweep(results, suite_file)
    assert res.exit_code == 2  # click's usage error, not a crash
    assert "Missing option '--trials'" in res.output and "Traceback" not in res.output
    assert not (results / "optuna.db").exists()


def test_sweep_resume_of_a_missing_study_is_a_one_line_error(tmp_path, suite_file):
    results = tmp_path / "r"
    res = _sweep(results, suite_file, "--trials", "2", "--resume", "--study-name", "nope")
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "no study 'nope'" in lines[0] and "to resume" in lines[0]
    assert "nope" not in {s.study_name for s in optuna.get_all_study_summaries(
        f"sqlite:///{results / 'optuna.db'}")}


def test_sweep_of_a_suite_without_search_space_is_a_one_line_error(tmp_path, suite_file):
    text = suite_file.read_text()
    suite_file.write_text(text[:text.index("[search]")])
    res = _sweep(tmp_path / "r", suite_file, "--trials", "2")
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "gensuite sweep needs a [search] table" in lines[0]
