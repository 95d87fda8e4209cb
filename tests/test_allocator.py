"""The malloc thresholds the training commands set: when they apply, when they step aside, and
that they change no number (each check in a fresh process: mallopt is process-wide)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from tests.conftest import MINIMAL_SUITE

GLIBC = platform.libc_ver()[0] == "glibc"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GENSUITE_MALLOC", "GLIBC_TUNABLES")}
    env.update(extra)
    return env


def _describe(env: dict[str, str]) -> list[str]:
    code = ("import json; from gensuite.allocator import tune_allocator, allocator_description\n"
            "first = tune_allocator(); second = tune_allocator()\n"
            "print(json.dumps([first, second, allocator_description()]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout)


def test_thresholds_are_set_once_on_glibc():
    first, second, described = _describe(_clean_env())
    assert first == second == described
    if GLIBC:
        assert first.startswith("glibc mallopt: mmap_threshold=1000000000")
    else:
        assert first == "system default (not glibc)"


def test_user_malloc_variables_win():
    first, _, _ = _describe(_clean_env(MALLOC_TRIM_THRESHOLD_="12345"))
    assert first == "glibc malloc, user settings: MALLOC_TRIM_THRESHOLD_=12345"


def test_opt_out_keeps_the_system_default():
    first, _, _ = _describe(_clean_env(GENSUITE_MALLOC="default"))
    assert first == "system default (GENSUITE_MALLOC=default)"


def _smoke_metrics(tmp_path, name: str, env: dict[str, str]) -> tuple[dict, str]:
    suite = tmp_path / "mini.toml"
    suite.write_text(MINIMAL_SUITE)
    results = tmp_path / name
    subprocess.run([sys.executable, "-m", "gensuite.cli", "bench", "--suite", str(suite),
                    "--profile", "smoke", "--case", "c1", "--threads", "1", "--no-progress",
                    "--results-dir", str(results)], capture_output=True, text=True, env=env,
                   check=True)
    (path,) = results.rglob("seed0_*.json")
    record = json.loads(path.read_text())
    return record["metrics"], record["provenance"]["allocator"]


@pytest.mark.skipif(not GLIBC, reason="mallopt exists only in glibc; elsewhere nothing is changed")
def test_numbers_are_the_same_with_and_without_the_thresholds(tmp_path):
    tuned, tuned_desc = _smoke_metrics(tmp_path, "tuned", _clean_env())
    plain, plain_desc = _smoke_metrics(tmp_path, "plain", _clean_env(GENSUITE_MALLOC="default"))
    assert tuned_desc.startswith("glibc mallopt") and plain_desc.startswith("system default")
    assert tuned == plain
