"""Optuna sweeps (``gensuite sweep``), one worker on sqlite: the study-wide target, create-or-join,
per-trial sampler seeds, a killed sweep continued by the same command without losing a trial, and
usage errors in one line. Many workers on PostgreSQL and an MLflow server: test_scaleout.py."""

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

    again = _sweep(results, suite_file, "--trials", "3")  # the same command: joins, starts none
    assert again.exit_code == 0, again.output
    assert "3/3 trials finished" in again.output
    assert _states(storage, "mini-smoke") == states

    refused = _sweep(results, suite_file, "--trials", "4", "--new-study")
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "Traceback" not in refused.output

    more = _sweep(results, suite_file, "--trials", "5")
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
    assert len(parents) == 3 and len(children) == 5
    assert {c.data.tags["mlflow.parentRunId"] for c in children} <= {
        p.info.run_id for p in parents}
    assert {r.info.status for r in runs} == {"FINISHED"}
    for c in children:
        assert c.data.tags["optuna.state"] in ("COMPLETE", "PRUNED")
        assert c.data.tags["mlflow.source.git.commit"]
        assert [d.dataset.name for d in c.inputs.dataset_inputs] == ["omniglot-vinyals"]

    # one study-wide summary naming what its numbers rest on, as a result record does
    summaries = sorted((results / "mini" / "smoke" / "_sweeps").glob("*.json"))
    assert [p.name for p in summaries] == ["mini-smoke.json"]
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
    res = _sweep(results, suite_file, "--trials", str(target))
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


def test_trial_sampler_seeds_differ_per_trial_and_repeat_per_study():
    from gensuite.sweep import trial_sampler_seed

    seeds = [trial_sampler_seed(0, n) for n in range(50)]
    assert len(set(seeds)) == 50 and all(0 <= s < 2**32 for s in seeds)
    assert seeds == [trial_sampler_seed(0, n) for n in range(50)]
    assert trial_sampler_seed(1, 0) != seeds[0]


def test_a_study_rerun_from_scratch_proposes_the_same_points(tmp_path, suite_file):
    params = []
    for name in ("a", "b"):
        results = tmp_path / name
        res = _sweep(results, suite_file, "--trials", "3")
        assert res.exit_code == 0, res.output
        study = optuna.load_study(study_name="mini-smoke",
                                  storage=f"sqlite:///{results / 'optuna.db'}")
        params.append([t.params for t in study.get_trials()])
    assert params[0] == params[1]
    assert len({json.dumps(p, sort_keys=True) for p in params[0]}) == 3, "repeated points"


def test_joining_a_study_of_another_search_space_is_a_one_line_error(tmp_path, suite_file):
    results = tmp_path / "r"
    assert _sweep(results, suite_file, "--trials", "1").exit_code == 0
    other = tmp_path / "other.toml"
    other.write_text(suite_file.read_text().replace("high = 1e-2", "high = 1e-1"))
    res = _sweep(results, other, "--trials", "2")
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "study 'mini-smoke' was made with another search" in lines[0]
    # a note edited between two workers' commits does not matter
    noted = tmp_path / "noted.toml"
    noted.write_text(suite_file.read_text().replace('title = "Minimal suite for tests"',
                                                    'title = "Minimal suite, retitled"'))
    assert _sweep(results, noted, "--trials", "2").exit_code == 0
