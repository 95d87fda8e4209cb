"""The CLI end to end on real Omniglot at the smoke profile: records, MLflow, reuse, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gensuite.cli import main
from gensuite.records import iter_records

REQUIRED_RECORD_KEYS = {
    "suite", "case", "algorithm", "profile", "seed", "config", "schedule", "dataset", "metrics",
    "curves", "status", "provenance", "timing", "tracking", "train_key",
}


def _bench(runner, suite_file, results, *extra):
    return runner.invoke(main, ["bench", "--suite", str(suite_file), "--profile", "smoke",
                                "--results-dir", str(results), "--no-progress", *extra])


def _records(results: Path) -> list[dict]:
    return list(iter_records(results))


def test_help_is_instant_and_does_not_import_torch():
    code = ("import sys; from gensuite.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'mlflow' not in sys.modules, 'heavy import'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "bench" in out.stdout and "report" in out.stdout and "ui" in out.stdout
    assert "sweep" in out.stdout


def test_bench_writes_records_and_mlflow_runs(tmp_path, suite_file):
    runner = CliRunner()
    results = tmp_path / "results"
    res = _bench(runner, suite_file, results)
    assert res.exit_code == 0, res.output
    records = _records(results)
    assert len(records) == 2
    for rec in records:
        assert set(rec) >= REQUIRED_RECORD_KEYS
        assert rec["status"] == "finished" and rec["profile"] == "smoke"
        acc = rec["metrics"]["accuracy"]
        assert 0 <= acc["mean"] <= 100 and acc["n"] == 4 and acc["unit"] == "%"
        assert len(rec["dataset"]["fingerprint"]) == 64
        assert rec["provenance"]["threads"] >= 1 and rec["provenance"]["torch"]
        assert rec["curves"]["val"], "validation curve missing"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("gensuite/mini")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2
    run = runs[0]
    assert run.info.status == "FINISHED"
    for tag in ("git_commit", "torch", "device_name", "threads", "seed", "data_fingerprint",
                "mlflow.source.git.commit"):
        assert tag in run.data.tags, tag
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "omniglot-vinyals" and dataset.digest == \
        run.data.tags["data_fingerprint"][:36] and "omniglot" in dataset.source
    assert "config.train_way" in run.data.params
    assert any(k.startswith("train/") for k in run.data.metrics)
    assert "test/accuracy" in run.data.metrics
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in history] == [1, 2, 3]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "resolved_config.json" in artifacts and any(p.endswith(".png") for p in artifacts)


def test_rerun_reuses_trained_model_and_gives_same_numbers(tmp_path, suite_file):
    runner = CliRunner()
    results = tmp_path / "results"
    assert _bench(runner, suite_file, results, "--case", "c1").exit_code == 0
    assert _bench(runner, suite_file, results, "--case", "c1").exit_code == 0
    first, second = _records(results)
    assert first["trained_in_this_run"] != second["trained_in_this_run"]
    assert first["metrics"] == second["metrics"]


def test_cases_differing_only_in_evaluation_share_training(tmp_path, suite_file):
    text = suite_file.read_text().replace(
        'params = { distance = "cosine", test_way = 5, test_shot = 1 }',
        'params = { test_way = 3, test_shot = 1 }')
    suite_file.write_text(text)
    res = _bench(CliRunner(), suite_file, tmp_path / "r")
    assert res.exit_code == 0, res.output
    recs = {r["case"]["id"]: r for r in _records(tmp_path / "r")}
    assert recs["c1"]["train_key"] == recs["c2"]["train_key"]
    assert recs["c1"]["trained_in_this_run"] and not recs["c2"]["trained_in_this_run"]


def test_diverging_case_is_recorded_and_others_continue(tmp_path, suite_file, monkeypatch):
    from gensuite.algorithms.protonet import ProtoNet

    original = ProtoNet.train_step

    def nan_for_cosine(self, step):
        metrics = original(self, step)
        if self.config.distance == "cosine" and step == 1:
            metrics["loss"] = float("nan")
        return metrics

    monkeypatch.setattr(ProtoNet, "train_step", nan_for_cosine)
    res = _bench(CliRunner(), suite_file, tmp_path / "r")
    assert res.exit_code == 1
    assert "c2 seed 0: training diverged at step 1: non-finite loss=nan" in res.output
    recs = {r["case"]["id"]: r for r in _records(tmp_path / "r")}
    assert recs["c1"]["status"] == "finished" and recs["c2"]["status"] == "diverged"


@pytest.mark.parametrize("error, traceback", [(ValueError, False), (RuntimeError, True)])
def test_failing_case_is_recorded_with_its_cause(tmp_path, suite_file, monkeypatch, caplog,
                                                 error, traceback):
    """A setting that does not fit the data (ValueError) is reported in one line; any other
    exception is a bug and keeps its traceback. Either way the other cases run."""
    from gensuite.algorithms.protonet import ProtoNet

    original = ProtoNet.train_step

    def fail_for_cosine(self, step):
        if self.config.distance == "cosine":
            raise error("batch_size 64 exceeds the 24 training images")
        return original(self, step)

    monkeypatch.setattr(ProtoNet, "train_step", fail_for_cosine)
    res = _bench(CliRunner(), suite_file, tmp_path / "r")
    assert res.exit_code == 1
    assert f"c2 seed 0: {error.__name__}: batch_size 64 exceeds the 24 training images" in (
        res.output)
    recs = {r["case"]["id"]: r for r in _records(tmp_path / "r")}
    assert recs["c1"]["status"] == "finished" and recs["c2"]["status"] == "failed"
    assert recs["c2"]["error"].startswith(error.__name__)
    logged = [r for r in caplog.records if "case c2 failed" in r.getMessage()]
    assert len(logged) == 1 and (logged[0].exc_info is not None) == traceback


def test_unknown_suite_is_a_one_line_error():
    res = CliRunner().invoke(main, ["bench", "--suite", "nonesuch", "--profile", "smoke"])
    assert res.exit_code != 0
    assert res.output.strip().splitlines() == [
        res.output.strip().splitlines()[0]] and "unknown suite 'nonesuch'" in res.output


def test_malformed_suite_is_a_one_line_error(tmp_path, suite_file):
    suite_file.write_text(suite_file.read_text().replace("train_way = 5", "train_wya = 5"))
    res = CliRunner().invoke(main, ["bench", "--suite", str(suite_file), "--profile", "smoke"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "defaults.train_wya: unknown parameter" in lines[0]


@pytest.mark.parametrize("old", [["--trials", "8"], ["--storage", "sqlite:///x.db"],
                                 ["--study-name", "s", "--resume"]])
def test_bench_sweep_options_point_to_the_sweep_command(tmp_path, suite_file, old):
    results = tmp_path / "r"
    res = _bench(CliRunner(), suite_file, results, *old)
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    assert f"use `gensuite sweep --suite {suite_file} --trials N`" in lines[0]
    assert not results.exists()  # nothing ran
    assert "--trials" not in CliRunner().invoke(main, ["bench", "--help"]).output


def test_list_shows_suites_plugins_and_data_presence(data_root):
    res = CliRunner().invoke(main, ["list", "--data-root", str(data_root)])
    assert res.exit_code == 0, res.output
    assert "protonet" in res.output
    assert "omniglot-vinyals" in res.output and "present" in res.output


def test_report_after_bench(tmp_path, suite_file):
    runner = CliRunner()
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert _bench(runner, suite_file, results).exit_code == 0
    res = runner.invoke(main, ["report", "--results-dir", str(results), "--reports-dir",
                               str(reports), "--profile", "smoke"])
    assert res.exit_code == 0, res.output
    text = (reports / "mini.md").read_text()
    assert "98.8" in text and "Snell et al. (2017), Table 1" in text
    assert "5-way 1-shot" in text


@pytest.mark.parametrize("threads", [2])
def test_same_seed_same_threads_gives_identical_metrics(tmp_path, suite_file, threads):
    runner = CliRunner()
    outs = []
    for name in ("a", "b"):
        res = _bench(runner, suite_file, tmp_path / name, "--threads", str(threads))
        assert res.exit_code == 0, res.output
        outs.append([(r["case"]["id"], r["metrics"], r["curves"]) for r in
                     _records(tmp_path / name)])
    assert outs[0] == outs[1]


def test_ui_starts_mlflow_on_loopback_with_the_project_store(tmp_path):
    from gensuite.ui import commands

    (mlflow,) = commands(results_dir=tmp_path, tracking_uri=None, port=5099, with_optuna=False,
                         storage=None)
    name, argv, url = mlflow
    assert argv[1:4] == ["-m", "mlflow", "ui"] and url == "http://127.0.0.1:5099"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    # a tracking server has its own UI: only the study view is started here, or a clear error
    (optuna_view,) = commands(results_dir=tmp_path, tracking_uri="http://srv:5000", port=5099,
                              with_optuna=True, storage=None)
    assert optuna_view[0] == "Optuna dashboard" and optuna_view[2] == "http://127.0.0.1:5100"
    res = CliRunner().invoke(main, ["ui", "--tracking-uri", "http://u:pw@srv:5000"])
    assert res.exit_code == 1 and "own UI" in res.output and "pw" not in res.output


def test_missing_dataset_is_a_one_line_error_and_writes_nothing(tmp_path, suite_file,
                                                                monkeypatch):
    import gensuite.data.root as root

    monkeypatch.setenv("GENSUITE_DATA_ROOT", str(tmp_path / "empty-env"))
    monkeypatch.setattr(root, "shared_data_dir", lambda: None)
    monkeypatch.setattr(root, "download_root", lambda: tmp_path / "empty-cache")
    monkeypatch.setattr(root, "SYSTEM_ROOTS", (tmp_path / "empty-system",))
    res = _bench(CliRunner(), suite_file, tmp_path / "r", "--data-root", str(tmp_path / "none"))
    assert res.exit_code == 1
    lines = [ln for ln in res.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, res.output
    assert "dataset 'omniglot-vinyals' not found" in lines[0]
    assert str(tmp_path / "none") in lines[0] and "--data-root" in lines[0]
    assert not list(iter_records(tmp_path / "r"))


def test_tracking_none_writes_records_without_mlflow(tmp_path, suite_file, monkeypatch):
    """--tracking-uri none: the records as always, no MLflow store, and mlflow never imported
    (a machine that cannot carry it: the GPU run of bench/gpu_run.sh)."""
    monkeypatch.setitem(sys.modules, "mlflow", None)  # any `import mlflow` now fails
    results = tmp_path / "results"
    res = _bench(CliRunner(), suite_file, results, "--tracking-uri", "none")
    assert res.exit_code == 0, res.output
    records = _records(results)
    assert len(records) == 2 and all(r["status"] == "finished" for r in records)
    assert all(r["tracking"] == {"uri": None, "experiment": None, "run_id": None}
               for r in records)
    assert not (results / "mlflow.db").exists()


def test_sweep_refuses_tracking_none(tmp_path, suite_file):
    res = CliRunner().invoke(main, ["sweep", "--suite", str(suite_file), "--trials", "1",
                                    "--results-dir", str(tmp_path), "--tracking-uri", "none"])
    assert res.exit_code != 0
    assert "--tracking-uri none is for gensuite bench only" in res.output
