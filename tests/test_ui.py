"""``gensuite ui --optuna``: both servers answer, the Optuna view lists the study, and MLflow
starts no job workers (huey consumers) for a local UI."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import requests

from tests.servers import free_port

IGNORE_SIGINT_THEN_UI = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                         "from gensuite.cli import main; sys.exit(main())")


def _descendant_pids(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent[int(stat.parent.name)] = int(fields[1])  # field 4 of stat: the parent pid
        except (OSError, IndexError, ValueError):
            continue
    out = []
    for pid in parent:
        p = pid
        while p in parent and p != root:
            p = parent[p]
        if p == root and pid != root:
            out.append(pid)
    return out


def _descendant_cmdlines(root: int) -> list[str]:
    out = []
    for pid in _descendant_pids(root):
        try:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return out


def _wait_ok(url: str, proc: subprocess.Popen, timeout_s: float = 180) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gensuite ui exited"
        try:
            reply = requests.get(url, timeout=2)
            if reply.ok:
                return reply
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


def test_ui_serves_mlflow_and_the_optuna_dashboard_without_job_workers(tmp_path):
    from gensuite.tracking import Tracker

    results = tmp_path / "results"
    results.mkdir()
    Tracker(f"sqlite:///{results / 'mlflow.db'}", "gensuite/mini")
    study = optuna.create_study(study_name="mini-smoke",
                                storage=f"sqlite:///{results / 'optuna.db'}")
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-2), n_trials=2)
    port = free_port()
    # started with SIGINT ignored, as under a script's background job: SIGTERM must still work
    proc = subprocess.Popen([sys.executable, "-c", IGNORE_SIGINT_THEN_UI, "ui", "--results-dir",
                             str(results), "--port", str(port), "--optuna"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait_ok(f"http://127.0.0.1:{port}/health", proc)
        studies = _wait_ok(f"http://127.0.0.1:{port + 1}/api/studies", proc).json()
        assert [s["study_name"] for s in studies["study_summaries"]] == ["mini-smoke"]
        cmdlines = _descendant_cmdlines(proc.pid)
        assert any("mlflow" in c for c in cmdlines) and any("optuna_dashboard._cli" in c
                                                            for c in cmdlines)
        assert not [c for c in cmdlines if "huey" in c], cmdlines
        os.kill(proc.pid, signal.SIGTERM)  # (SIGINT may be ignored where CI starts tests)
        assert proc.wait(timeout=60) == 0
    finally:
        leftovers = _descendant_pids(proc.pid)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in leftovers:  # servers run in sessions of their own: a failed test kills them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    out = proc.stdout.read().decode()
    assert f"MLflow UI at http://127.0.0.1:{port}" in out
    assert f"Optuna dashboard at http://127.0.0.1:{port + 1}" in out
