"""Progress lines for runs without a terminal: when they appear and what they say."""

from __future__ import annotations

import subprocess
import sys

from gensuite.train.progress import ProgressLines
from tests.conftest import MINIMAL_SUITE


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_with_rate_and_time_left():
    clock, lines = FakeClock(), []
    p = ProgressLines(total_steps=1000, every_s=60, write=lines.append, clock=clock)
    for step in range(300):  # 0.5 s per step: a line at 60 s, 120 s
        p.on_step(step, {"loss": 2.0 - step / 1000})
        if step == 150:
            p.on_eval(150, {"val_loss": 1.25})
        clock.now += 0.5
    assert len(lines) == 2
    assert lines[0].startswith("  step 121/1000 (12%), 0.5 s/step, loss 1.88")
    assert lines[1].startswith("  step 241/1000 (24%), 0.5 s/step")
    assert "val_loss 1.25 at 150" in lines[1]
    assert lines[1].endswith("at most 6m19s left")  # 759 steps × 0.5 s


def test_hours_are_shown_as_hours():
    clock, lines = FakeClock(), []
    p = ProgressLines(total_steps=20000, every_s=10, write=lines.append, clock=clock)
    for step in range(40):
        p.on_step(step, {"loss": 1.0})
        clock.now += 0.36
    assert lines[-1].endswith("at most 1h59m left"), lines[-1]


def test_bench_without_a_terminal_prints_progress_lines(tmp_path):
    suite = tmp_path / "mini.toml"
    suite.write_text(MINIMAL_SUITE)
    env_code = ("import os, sys; os.environ['GENSUITE_PROGRESS_EVERY'] = '1e-9'\n"
                "from gensuite.cli import main; sys.exit(main())")
    out = subprocess.run([sys.executable, "-c", env_code, "bench", "--suite", str(suite),
                          "--profile", "smoke", "--case", "c1", "--results-dir",
                          str(tmp_path / "r")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    steps = [ln for ln in out.stderr.splitlines() if ln.startswith("  step ")]
    assert [ln.split(",")[0] for ln in steps] == ["  step 2/3 (67%)", "  step 3/3 (100%)"]
    quiet = subprocess.run([sys.executable, "-c", env_code, "bench", "--suite", str(suite),
                            "--profile", "smoke", "--case", "c1", "--no-progress",
                            "--no-resume", "--results-dir", str(tmp_path / "q")],
                           capture_output=True, text=True)
    assert quiet.returncode == 0 and "  step " not in quiet.stderr
