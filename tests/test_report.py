"""Tests of gensuite.report: aggregation and verdict rules, and the rendered markdown.

The golden file tests/golden/synthetic.md is the expected report for the synthetic records of
tests/fixtures_records.py. After an intended change to the report layout, refresh it with

    GENSUITE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report.py

and review the diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from scipy import stats

from gensuite.errors import GensuiteError
from gensuite.report import (
    claim_verdict,
    combine,
    fmt,
    latest_finished,
    render_reports,
    row_verdict,
)
from gensuite.report.verdict import DEFAULT_TOLERANCE, tolerance_for
from tests.fixtures_records import SNAPSHOT, golden_records, make_record, write_records

GOLDEN = Path(__file__).parent / "golden" / "synthetic.md"
ALL_PROFILES = ("paper", "quick", "smoke")
REP = {"value": 80.0, "source": "Fixture", "tolerance": None, "comparable": True, "note": ""}


def _est(mean: float, ci95: float = 0.5, n: int = 600) -> dict:
    return {"mean": mean, "ci95": ci95, "n": n, "unit": "%", "over": "episodes"}


# --------------------------------------------------------------------------- aggregation


def test_one_seed_keeps_its_own_interval():
    r = combine([_est(64.2, 0.7, 600)], [0])
    assert (r.mean, r.ci95, r.n, r.over, r.unit) == (64.2, 0.7, 600, "episodes", "%")


def test_several_seeds_use_a_t_interval_over_seed_means():
    means = [79.5, 80.5, 80.2, 78.9]
    r = combine([_est(m) for m in means], [0, 1, 2, 3])
    lo, hi = stats.t.interval(0.95, len(means) - 1, loc=stats.tmean(means), scale=stats.sem(means))
    assert r.mean == pytest.approx((lo + hi) / 2)
    assert r.ci95 == pytest.approx((hi - lo) / 2)
    assert (r.n, r.over, r.seeds) == (4, "seeds", (0, 1, 2, 3))
    # the evaluation spread of one model is kept beside the between-seed interval
    assert (r.eval_ci95, r.eval_n, r.eval_over) == (0.5, 600, "episodes")
    assert r.per_seed == tuple(means)


def test_identical_seed_values_are_that_value_with_no_spread():
    r = combine([_est(22.96, 0.0, 1)] * 3, [0, 1, 2])  # a parameter count: 3 × 22.96 / 3 ≠ 22.96
    assert (r.mean, r.ci95, r.n, r.over) == (22.96, 0.0, 3, "seeds")


def _rec(seed: int, finished: str, path: str, status: str = "finished", mean: float = 50.0):
    rec = make_record("euclid", seed=seed, status=status, finished=finished, mean=mean)
    return {**rec, "_path": path}


def test_newest_finished_record_per_seed_wins():
    recs = [
        _rec(0, "2025-01-01T00:00:00Z", "a.json", mean=1.0),
        _rec(0, "2025-01-02T00:00:00Z", "b.json", mean=2.0),
        _rec(0, "2025-01-03T00:00:00Z", "c.json", status="failed"),  # newer, but failed
        _rec(1, "2025-01-01T00:00:00Z", "e.json", mean=3.0),
        _rec(1, "2025-01-01T00:00:00Z", "d.json", mean=4.0),  # same time: path decides
        _rec(2, "2025-01-01T00:00:00Z", "f.json", status="diverged"),
    ]
    chosen = latest_finished(recs, lambda r: "accuracy")
    assert sorted(chosen) == [("paper", "euclid", 0), ("paper", "euclid", 1)]
    assert chosen[("paper", "euclid", 0)]["_path"] == "b.json"
    assert chosen[("paper", "euclid", 1)]["_path"] == "e.json"


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("reported", "value", "kwargs", "label"),
    [  # REP: 80.0, suite tolerance 1 → accepted [79.0, 81.0]; the interval is value ± ci95
        (REP, 80.5, {"ci95": 0.5}, "pass"),  # [80.0, 81.0]: touches the edge, inside
        (REP, 80.6, {"ci95": 0.5}, "inconclusive"),  # [80.1, 81.1]: straddles 81
        (REP, 81.6, {"ci95": 0.5}, "fail"),  # [81.1, 82.1]: wholly outside
        (REP, 81.2, {"ci95": 0.1, "suite_tolerance": 1.5}, "pass"),
        ({**REP, "tolerance": 0.5}, 80.7, {"ci95": 0.1, "suite_tolerance": 1.5}, "fail"),
        # the source's own ± is the margin where it gives one
        ({**REP, "plus_minus": 2.0}, 81.5, {"ci95": 0.3}, "pass"),
        (REP, 80.0, {}, "inconclusive"),  # no interval: nothing is decided
        (REP, 79.5, {"ci95": 0.2, "profile": "quick"}, "pass (shortened schedule)"),
        (REP, 70.0, {"ci95": 0.2, "profile": "quick"}, "fail (shortened schedule)"),
        (None, 70.0, {}, "no reference"),
        ({**REP, "comparable": False}, 80.0, {}, "not comparable"),
        (REP, 80.0, {"stands_in_for": "SVHN"}, "not comparable"),
        (REP, None, {}, "not run"),
        (REP, None, {"failed": True}, "run failed"),
    ],
)
def test_row_verdict(reported, value, kwargs, label):
    kwargs = {"profile": "paper", **kwargs}
    assert row_verdict(reported, value, **kwargs).label == label


def test_unknown_interval_says_so():
    assert row_verdict(REP, 80.0, profile="paper").text() == "inconclusive (no interval)"


def test_verdict_delta_is_signed_and_absent_when_not_comparable():
    assert row_verdict(REP, 78.5, profile="paper").delta == pytest.approx(-1.5)
    v = row_verdict({**REP, "comparable": False, "note": "unknown dataset"}, 80.0, profile="paper")
    assert (v.delta, v.text()) == (None, "not comparable (unknown dataset)")
    v = row_verdict(REP, 80.0, profile="paper", stands_in_for="SVHN")
    assert "SVHN" in v.reason


def test_missing_suite_tolerance_defaults_to_one():
    assert DEFAULT_TOLERANCE == 1.0
    assert tolerance_for(REP, None) == 1.0
    assert tolerance_for({**REP, "tolerance": 0.2}, 3.0) == 0.2


@pytest.mark.parametrize(
    ("holds", "verdict"),
    [
        (["holds", "holds"], "holds"),
        (["holds", "does not hold"], "does not hold"),
        ([None, "does not hold"], "does not hold"),
        (["holds", "inconclusive"], "inconclusive"),
        (["holds", None], "incomplete"),
        ([], "incomplete"),
    ],
)
def test_claim_verdict(holds, verdict):
    assert claim_verdict(holds) == verdict


def test_formatting():
    assert fmt.duration(751) == "12 min 31 s"
    assert fmt.duration(3725.4) == "1 h 2 min 5 s"
    assert fmt.duration(8) == "8 s"
    assert (fmt.value(98.84, "%"), fmt.delta(-0.26, "%"), fmt.ci(0.34, "%")) == (
        "98.8%", "-0.3 pp", "± 0.3")
    assert (fmt.value(-100.6912, "nats"), fmt.ci(math.nan, "")) == ("-100.7 nats", "")
    assert fmt.cell("a | b\nc") == "a \\| b c"


def test_schedule_line_names_validation_episodes_only_when_used():
    from gensuite.report.markdown import _schedule

    assert _schedule({"steps": 400, "eval_every": 100, "val_episodes": 0}) == (
        "400 steps, evaluation every 100 steps")
    assert _schedule({"steps": 1, "val_episodes": 1}) == (
        "1 step, evaluation at the end only, 1 validation episode")
    # older records kept a default of 100 for every plug-in: shown only for episodic ones
    old = {"steps": 300, "eval_every": 50, "val_episodes": 100}
    assert _schedule(old, "gan") == "300 steps, evaluation every 50 steps"
    assert _schedule(old, "protonet") == (
        "300 steps, evaluation every 50 steps, 100 validation episodes")


# --------------------------------------------------------------------------- rendering


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    write_records(tmp_path / "results", golden_records())
    return tmp_path / "results"


def _render(results: Path, reports: Path, **kw) -> list[Path]:
    return render_reports(results, reports, profiles=kw.pop("profiles", ALL_PROFILES), **kw)


def test_golden_markdown(results: Path, tmp_path: Path):
    written = _render(results, tmp_path / "reports")
    md = tmp_path / "reports" / "synthetic.md"
    assert md in written
    text = md.read_text(encoding="utf-8")
    if os.environ.get("GENSUITE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_rerender_is_byte_identical(results: Path, tmp_path: Path):
    def files(out: Path) -> dict[Path, bytes]:
        return {p.relative_to(out): p.read_bytes() for p in _render(results, out)}

    first, second = files(tmp_path / "a"), files(tmp_path / "b")
    assert sorted(map(str, first)) == [
        "synthetic.md", "synthetic/paper-curves.png", "synthetic/smoke-curves.png"]
    # Agg draws deterministically and savefig(metadata={"Software": None}) drops the version
    # text, so the PNGs are compared byte for byte too
    assert first == second


def test_render_never_writes_under_results(results: Path, tmp_path: Path):
    def listing() -> dict[str, tuple[int, int]]:
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in results.rglob("*")}

    before = listing()
    _render(results, tmp_path / "reports")
    assert listing() == before


def test_smoke_records_are_ignored_by_default(tmp_path: Path):
    results = tmp_path / "results"
    smoke = [r for r in golden_records() if r["profile"] == "smoke"]
    write_records(results, smoke)
    assert render_reports(results, tmp_path / "reports") == []
    with pytest.raises(GensuiteError, match="synthetic"):
        render_reports(results, tmp_path / "reports", suites=["synthetic"])
    write_records(results, [make_record("euclid", mean=80.0)])
    render_reports(results, tmp_path / "reports")
    text = (tmp_path / "reports" / "synthetic.md").read_text(encoding="utf-8")
    assert "- Profiles: paper\n" in text and "smoke" not in text
    assert "## Profile:" not in text  # one profile: tables sit directly under the title


def test_unknown_suite_names_the_suites_present(results: Path, tmp_path: Path):
    with pytest.raises(GensuiteError, match=r"nope.*suites with records: synthetic"):
        _render(results, tmp_path / "reports", suites=["nope"])


def test_suite_versions_are_those_behind_the_numbers_shown(tmp_path: Path):
    """A rerun after editing the suite supersedes the old record: the header names the one
    version behind the numbers; two versions are named only when shown rows come from both."""
    old = {**SNAPSHOT, "sha256": "0a" * 32}
    results = tmp_path / "results"
    write_records(results, [
        make_record("euclid", mean=70.0, finished="2025-01-01T00:10:00Z", snapshot=old),
        make_record("euclid", mean=80.0, finished="2025-01-02T00:10:00Z"),
        make_record("cosine", mean=60.0, finished="2025-01-02T00:10:00Z"),
    ])
    render_reports(results, tmp_path / "reports")
    text = (tmp_path / "reports" / "synthetic.md").read_text(encoding="utf-8")
    assert f"(sha256 `{'5e' * 6}`)\n" in text and "versions of it" not in text
    write_records(results, [make_record("cosine_1shot", finished="2025-01-03T00:10:00Z",
                                        snapshot=old)])
    render_reports(results, tmp_path / "reports")
    text = (tmp_path / "reports" / "synthetic.md").read_text(encoding="utf-8")
    assert f"`{'0a' * 6}`, `{'5e' * 6}`); records come from 2 versions of it" in text


def _sweep_summary(study: str, direction: str, values: list[float | None]) -> dict:
    """An invented sweep summary (gensuite.sweep/1 shape); no number in it is a result."""
    trials = [{"number": i, "state": "COMPLETE" if v is not None else "FAIL", "value": v,
               "params": {"lr": 10.0 ** -i}, "user_attrs": {"git_commit": "abc1234def"}}
              for i, v in enumerate(values)]
    return {"schema": "gensuite.sweep/1", "suite": "synthetic", "profile": "paper",
            "study": study, "storage": "sqlite:///x/optuna.db", "metric": "val_acc",
            "direction": direction, "case": "euclid", "seed": 0,
            "states": {"COMPLETE": sum(v is not None for v in values),
                       "FAIL": sum(v is None for v in values)},
            "trials": trials, "provenance": {"git_commit": "abc1234def", "torch": "2",
                                             "device": "cpu", "threads": 1},
            "dataset": {"name": "synthetic-digits", "fingerprint": "f" * 64}}


def test_sweep_section_lists_each_studys_newest_summary_best_first(tmp_path: Path):
    import json

    results = tmp_path / "results"
    write_records(results, [make_record("euclid", mean=80.0)])
    sweeps = results / "synthetic" / "paper" / "_sweeps"
    sweeps.mkdir(parents=True)
    (sweeps / "s-max_20250101T000000Z_aaaa.json").write_text(
        json.dumps(_sweep_summary("s-max", "maximize", [1.0])))
    (sweeps / "s-max_20250102T000000Z_bbbb.json").write_text(  # resumed: supersedes
        json.dumps(_sweep_summary("s-max", "maximize", [1.0, 3.0, None, 2.0])))
    (sweeps / "s-min_20250101T000000Z_cccc.json").write_text(
        json.dumps(_sweep_summary("s-min", "minimize", [5.0, 4.0])))
    (sweeps / "s-min_20250103T000000Z_dddd.json").write_text('{"torn')  # killed writer
    render_reports(results, tmp_path / "reports")
    text = (tmp_path / "reports" / "synthetic.md").read_text(encoding="utf-8")
    assert text.count("Sweep: study `s-max`") == 1 and "Sweep: study `s-min`" in text
    assert "trials: 3 complete, 1 fail" in text and "not test numbers" in text
    top = text.split("Sweep: study `s-max`")[1].split("|---|---|---|\n")[1].splitlines()
    assert [row.split(" | ")[0] for row in top[:3]] == ["| #1", "| #3", "| #0"]
    low = text.split("Sweep: study `s-min`")[1].split("|---|---|---|\n")[1].splitlines()
    assert [row.split(" | ")[0] for row in low[:2]] == ["| #1", "| #0"]
    assert "commit(s) `abc1234`" in text and "fingerprint `ffffffffffff`" in text


def test_curves_plot_the_validation_twin_of_the_suite_metric_when_there_is_one():
    from gensuite.report.figures import _val_key

    curves = [{"val": [{"step": 1, "val_acc": 0.3, "val_bpc": 3.1, "val_loss": 2.2}]}]
    assert _val_key(curves, "val_bpc") == "val_bpc"
    assert _val_key(curves, "val_fid") == "val_acc"  # absent: the first val_* key
    assert _val_key(curves) == "val_acc"
