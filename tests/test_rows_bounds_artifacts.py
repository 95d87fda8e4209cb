"""Suite features the generative suites need: a metric per case, bounds on reported numbers
("ELBO ≥ −102"), "less is better" claims (FID), plug-in figures beside the record and in the
report, and diverging sweep trials that fail without stopping the sweep."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from conftest import MINIMAL_SUITE

from gensuite.api import Estimate, EvalResult
from gensuite.cli import main
from gensuite.config import load_suite
from gensuite.errors import SuiteFileError
from gensuite.records import iter_records
from gensuite.report.stats import pair_verdict, welch
from gensuite.report.verdict import bound_text, row_verdict

EXTRA_CASES = '''
[[cases]]
id = "c1-loss"
table = "t1"
row = "5-way 1-shot, test loss"
metric = "loss"
params = { test_way = 5, test_shot = 1 }
reported = { at_most = 100.0, source = "a target in a report" }

[[checks]]
id = "loss-lower-for-euclid"
claim = "the first model's loss is below a huge number"
source = "a report"
kind = "less"
pairs = [["c1-loss", "c1"]]
'''


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(text)
    return path


def test_case_metric_bounds_and_less_checks_parse(tmp_path):
    spec = load_suite(_suite(tmp_path, MINIMAL_SUITE + EXTRA_CASES))
    case = spec.case("c1-loss")
    assert spec.metric_for(case) == "loss" and spec.metric_for(spec.case("c1")) == "accuracy"
    assert case.reported.value is None and case.reported.at_most == 100.0
    assert spec.checks[0].kind == "less"
    snap = spec.snapshot()["cases"]
    assert snap["c1-loss"]["metric"] == "loss" and snap["c1"]["metric"] == "accuracy"


@pytest.mark.parametrize("bad, key", [
    ('reported = { source = "x" }', "value"),
    ('reported = { value = 1.0, at_least = "high", source = "x" }', "at_least"),
])
def test_reported_without_value_or_bound_is_an_error(tmp_path, bad, key):
    text = MINIMAL_SUITE + EXTRA_CASES.replace(
        'reported = { at_most = 100.0, source = "a target in a report" }', bad)
    with pytest.raises(SuiteFileError, match=rf"reported\.{key}"):
        load_suite(_suite(tmp_path, text))


def test_unknown_check_kind_is_an_error(tmp_path):
    text = MINIMAL_SUITE + EXTRA_CASES.replace('kind = "less"', 'kind = "sideways"')
    with pytest.raises(SuiteFileError, match=r"checks\[0\]\.kind"):
        load_suite(_suite(tmp_path, text))


def test_bound_decides_the_verdict_not_the_distance():
    rep = {"value": -100.69, "at_least": -102.0, "source": "report E-1"}
    assert row_verdict(rep, -101.5, profile="paper", ci95=0.3).label == "pass"
    assert row_verdict(rep, -102.5, profile="paper", ci95=0.3).label == "fail"
    assert row_verdict(rep, -101.8, profile="paper", ci95=0.3).label == "inconclusive"
    # far from the reported value but above the target: still a pass
    v = row_verdict(rep, -90.0, profile="paper", ci95=1.0, suite_tolerance=0.1)
    assert v.label == "pass" and v.delta == pytest.approx(10.69) and "≥ -102" in v.reason
    assert row_verdict({"at_most": 5.0, "source": "s"}, 6.0, profile="quick",
                       ci95=0.5).label.startswith("fail")
    assert row_verdict({"at_most": 5.0, "source": "s"}, 4.0, profile="paper").delta is None
    assert bound_text({"at_least": 1, "at_most": 2}) == "≥ 1 and ≤ 2"
    # a stand-in dataset still makes it "not comparable"
    assert row_verdict(rep, -90.0, profile="paper", stands_in_for="SVHN").label == (
        "not comparable")


def test_less_claims_hold_when_left_is_significantly_lower():
    low, high = welch([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]), welch([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])
    assert pair_verdict(low, low.p, "less") == "holds"
    assert pair_verdict(high, high.p, "less") == "does not hold"
    assert pair_verdict(high, high.p, "greater") == "holds"


def _with_loss_and_figure(monkeypatch):
    """ProtoNet with a second test metric and a figure, as a generative plug-in would have."""
    from gensuite.algorithms.protonet import ProtoNet

    original = ProtoNet.test
    calls = {"test": 0, "write_artifacts": 0}

    def test(self, curves):
        calls["test"] += 1
        out = original(self, curves)
        return EvalResult(metrics={**out.metrics, "loss": Estimate(mean=1.5, ci95=0.1, n=4)},
                          details={"distance": self.config.distance})

    def write_artifacts(self, outdir: Path, result, curves) -> list[Path]:
        calls["write_artifacts"] += 1
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        png = outdir / "samples.png"
        fig.savefig(png)
        plt.close(fig)
        (outdir / "counts.json").write_text(json.dumps(result.details))  # test() → figures
        return [png, outdir / "counts.json"]

    monkeypatch.setattr(ProtoNet, "test", test)
    monkeypatch.setattr(ProtoNet, "write_artifacts", write_artifacts)
    return calls


def test_artifacts_beside_record_in_mlflow_and_report(tmp_path, monkeypatch):
    calls = _with_loss_and_figure(monkeypatch)
    suite = _suite(tmp_path, MINIMAL_SUITE + EXTRA_CASES)
    results, reports = tmp_path / "r", tmp_path / "reports"
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "--suite", str(suite), "--profile", "smoke",
                               "--results-dir", str(results), "--no-progress"])
    assert res.exit_code == 0, res.output
    recs = {r["case"]["id"]: r for r in iter_records(results)}
    rec = recs["c1-loss"]
    assert rec["case"]["metric"] == "loss"
    assert sorted(Path(a).name for a in rec["artifacts"]) == ["counts.json", "samples.png"]
    folder = (results / rec["_path"]).parent
    for a in rec["artifacts"]:
        assert (folder / a).is_file()
    # c1-loss differs from c1 only in its metric: the figures are drawn once, by c1's run
    first = recs["c1"]
    assert all(a.startswith("../c1/") for a in rec["artifacts"])
    assert {(folder / a).resolve() for a in rec["artifacts"]} == {
        ((results / first["_path"]).parent / a).resolve() for a in first["artifacts"]}
    assert len(list((results / "mini").rglob("counts.json"))) == 2  # c1 (+ c1-loss), c2
    # ... and tested once: the runner reuses the evaluation (c1, c2: two; c1-loss: none)
    assert calls == {"test": 2, "write_artifacts": 2}
    assert rec["metrics"] == first["metrics"] and rec["trained_in_this_run"] is False
    counts = next(a for a in rec["artifacts"] if a.endswith("counts.json"))
    assert json.loads((folder / counts).read_text()) == {"distance": "euclidean"}
    # logged to MLflow too
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    names = {f.path for f in client.list_artifacts(rec["tracking"]["run_id"])}
    assert {"samples.png", "counts.json"} <= names

    res = runner.invoke(main, ["report", "--results-dir", str(results), "--reports-dir",
                               str(reports), "--profile", "smoke"])
    assert res.exit_code == 0, res.output
    md = (reports / "mini.md").read_text()
    # the loss row shows the loss metric against its bound, and says which metric it is
    row = next(line for line in md.splitlines() if line.startswith("| 5-way 1-shot, test loss"))
    assert "(`loss`)" in row and "target ≤ 100" in row and "1.5" in row and "pass" in row
    # claim of kind "less": 1.5 < accuracy (a percentage) holds
    assert "Claim: the first model's loss is below a huge number" in md
    assert "(left below right; two-sided test" in md
    # every embedded figure resolves from the report's folder
    links = [line.split("](")[1].rstrip(")") for line in md.splitlines()
             if line.startswith("![samples]")]
    # c1 and c1-loss share one trained model: its figures are drawn once, naming both rows
    assert len(links) == 2
    assert "5-way 1-shot (one model for: 5-way 1-shot, test loss (`loss`)), seed 0" in md
    for link in links:
        assert (reports / link).resolve().is_file()


def test_diverging_sweep_trial_fails_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from gensuite.algorithms.protonet import ProtoNet

    original = ProtoNet.train_step
    calls = {"n": 0}

    def nan_in_second_trial(self, step):
        metrics = original(self, step)
        calls["n"] += 1
        if 4 <= calls["n"] <= 6 and step == 1:  # the second trial (3 steps each)
            metrics["loss"] = float("nan")
        return metrics

    monkeypatch.setattr(ProtoNet, "train_step", nan_in_second_trial)
    results = tmp_path / "r"
    res = CliRunner().invoke(main, [
        "sweep", "--suite", str(_suite(tmp_path, MINIMAL_SUITE)), "--profile", "smoke",
        "--results-dir", str(results), "--no-progress", "--trials", "3"])
    assert res.exit_code == 0, res.output
    study = optuna.load_study(study_name="mini-smoke", storage=f"sqlite:///{results}/optuna.db")
    states = [t.state.name for t in study.get_trials()]
    assert states.count("FAIL") == 1 and states[1] == "FAIL"
    assert study.get_trials()[1].user_attrs["diverged_at_step"] == 1
    # the sweep goes on after the failed trial
    assert states.count("COMPLETE") + states.count("PRUNED") == 2


def test_case_schedule_overrides_only_its_profile_and_keys(tmp_path):
    text = MINIMAL_SUITE + EXTRA_CASES.replace(
        'metric = "loss"\n', 'metric = "loss"\nschedules = { quick = { steps = 2 } }\n')
    spec = load_suite(_suite(tmp_path, text))
    case = spec.case("c1-loss")
    quick = spec.schedule_for(case, "quick")
    assert quick.steps == 2 and quick.eval_every == 2  # eval_every from [profiles.quick]
    assert spec.schedule_for(case, "smoke") == spec.profiles["smoke"].schedule
    assert spec.schedule_for(spec.case("c1"), "quick").steps == 4
    bad = text.replace("{ steps = 2 }", "{ stepz = 2 }")
    with pytest.raises(SuiteFileError, match=r"schedules\.quick\.stepz"):
        load_suite(_suite(tmp_path, bad))


COMPARE = '''
[[compare_figures]]
id = "side"
title = "Our samples beside another suite's"
source = "a report"
case = "c1"
artifact = "samples.png"
other_suite = "other"
other_case = "o1"
other_artifact = "samples.png"
'''


def test_compare_figure_drawn_when_both_runs_exist(tmp_path, monkeypatch):
    _with_loss_and_figure(monkeypatch)
    results, reports = tmp_path / "r", tmp_path / "reports"
    runner = CliRunner()

    def bench(text: str) -> None:
        res = runner.invoke(main, ["bench", "--suite", str(_suite(tmp_path, text)), "--profile",
                                   "smoke", "--results-dir", str(results), "--no-progress",
                                   "--case", text.split('id = "')[1].split('"')[0]])
        assert res.exit_code == 0, res.output

    bench(MINIMAL_SUITE + COMPARE)

    def report() -> str:
        res = runner.invoke(main, ["report", "--results-dir", str(results), "--reports-dir",
                                   str(reports), "--profile", "smoke", "--suite", "mini"])
        assert res.exit_code == 0, res.output
        return (reports / "mini.md").read_text()

    md = report()
    assert "Not drawn: no finished run with the figure for `other` case `o1`" in md
    assert not (reports / "mini" / "smoke-side.png").exists()
    # the other suite's run appears: the figure is drawn beside ours
    other = MINIMAL_SUITE.replace('name = "mini"', 'name = "other"').replace(
        'id = "c1"', 'id = "o1"').replace('case = "c1"', 'case = "o1"')
    bench(other)
    md = report()
    assert "![side](mini/smoke-side.png)" in md and "Right: `other/smoke/o1/" in md
    assert (reports / "mini" / "smoke-side.png").stat().st_size > 0


def test_compare_figure_needs_a_known_case(tmp_path):
    with pytest.raises(SuiteFileError, match=r"compare_figures\[0\]\.case"):
        load_suite(_suite(tmp_path, MINIMAL_SUITE + COMPARE.replace('case = "c1"',
                                                                     'case = "zz"')))
