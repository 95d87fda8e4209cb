"""`gensuite verify`: a smoke record re-run from its own settings comes back identical; a
record whose metric was edited by hand is caught; a record from another commit is refused in
one line unless --allow-dirty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gensuite.cli import main
from gensuite.records import iter_records
from gensuite.verify import DIFFERS, IDENTICAL, WITHIN, compare


@pytest.fixture(scope="module")
def smoke_record(tmp_path_factory) -> Path:
    from conftest import MINIMAL_SUITE

    base = tmp_path_factory.mktemp("verify")
    suite = base / "mini.toml"
    suite.write_text(MINIMAL_SUITE)
    res = CliRunner().invoke(main, ["bench", "--suite", str(suite), "--profile", "smoke",
                                    "--case", "c1", "--results-dir", str(base / "results"),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    (rec,) = iter_records(base / "results")
    return base / "results" / rec["_path"]


def _verify(*args: str):
    # --allow-dirty: a developer's checkout may have uncommitted changes; the record is made
    # by this very checkout, so the source is the same either way
    return CliRunner().invoke(main, ["verify", *args, "--allow-dirty"])


def test_untouched_record_is_identical(smoke_record):
    res = _verify(str(smoke_record))
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.strip().startswith("accuracy"))
    assert line.rstrip().endswith(IDENTICAL)
    assert "1/1 records reproduced" in res.output


def test_record_edited_by_hand_is_caught(smoke_record, tmp_path):
    rec = json.loads(smoke_record.read_text())
    rec["metrics"]["accuracy"]["mean"] += 0.01  # well inside its interval: still caught
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(rec))
    res = _verify(str(edited))
    assert res.exit_code == 1, res.output
    line = next(ln for ln in res.output.splitlines() if ln.strip().startswith("accuracy"))
    assert line.rstrip().endswith(DIFFERS) and "0/1 records reproduced" in res.output


def test_record_of_another_commit_is_refused_in_one_line(smoke_record, tmp_path):
    rec = json.loads(smoke_record.read_text())
    rec["provenance"]["git_commit"] = "0" * 40
    other = tmp_path / "other.json"
    other.write_text(json.dumps(rec))
    res = CliRunner().invoke(main, ["verify", str(other)])
    assert res.exit_code != 0
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert "the record was made at 000000000000" in line and "--allow-dirty" in line
    allowed = _verify(str(other))  # explicitly asked for: re-run, and say so
    assert allowed.exit_code == 0 and "note: re-run from another source" in allowed.output


def test_suite_mode_verifies_what_the_report_shows(smoke_record):
    results = smoke_record.parents[3]
    res = _verify("--suite", "mini", "--results-dir", str(results), "--case", "c1")
    assert res.exit_code == 0 and "1/1 records reproduced" in res.output
    none = _verify("--suite", "mini", "--results-dir", str(results), "--case", "c2")
    assert none.exit_code != 0 and "no finished record of suite 'mini' case c2" in none.output


def test_compare_rules():
    rec = {"a": {"mean": 1.0, "ci95": 0.5}, "b": {"mean": 2.0, "ci95": float("nan")}}
    same = compare(rec, {"a": {"mean": 1.0, "ci95": 0.5}, "b": {"mean": 2.0,
                                                             "ci95": float("nan")}},
                   deterministic=True)
    assert [c.verdict for c in same] == [IDENTICAL, IDENTICAL]
    near = {"a": {"mean": 1.4, "ci95": 0.5}, "b": {"mean": 2.0, "ci95": float("nan")}}
    assert [c.verdict for c in compare(rec, near, deterministic=False)] == [WITHIN, IDENTICAL]
    assert [c.verdict for c in compare(rec, near, deterministic=True)] == [DIFFERS, IDENTICAL]
    far = {"a": {"mean": 1.6, "ci95": 0.5}}
    assert [c.verdict for c in compare(rec, far, deterministic=False)] == [DIFFERS, DIFFERS]
