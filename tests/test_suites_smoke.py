"""Registry-wide smoke test: every registered plug-in has a suite, and every suite runs all its
cases at the smoke profile (two or three steps + evaluation) with finite metrics."""

from __future__ import annotations

import math

import pytest

from gensuite.config import list_suites, load_suite
from gensuite.records import iter_records
from gensuite.registry import ALGORITHMS
from gensuite.runner import BenchOptions, run_suite


def test_every_registered_algorithm_has_a_suite():
    used = {load_suite(name).algorithm for name in list_suites()}
    missing = set(ALGORITHMS.names()) - used
    assert not missing, f"plug-ins without a suite (so without a smoke run): {missing}"


@pytest.mark.parametrize("suite", list_suites())
def test_suite_runs_at_smoke_profile(suite, tmp_path):
    spec = load_suite(suite)
    outcomes = run_suite(spec, BenchOptions(profile="smoke", results_dir=tmp_path,
                                            device="cpu"), echo=lambda _: None)
    assert len(outcomes) == len(spec.cases) * len(spec.profiles["smoke"].seeds)
    # "not run": a case that needs what this machine lacks (pretrained weights): it says why
    assert {o.status for o in outcomes} <= {"finished", "not run"}, [
        (o.case_id, o.status, o.error) for o in outcomes]
    assert any(o.status == "finished" for o in outcomes)
    records = list(iter_records(tmp_path, spec.name))
    assert len(records) == len(outcomes)
    for rec in records:
        if rec["status"] == "not run":
            assert rec["error"] and not rec["metrics"]
            continue
        value = rec["metrics"][spec.metric]
        assert math.isfinite(value["mean"]), (rec["case"]["id"], value)
