"""Plug-ins from outside gensuite: an installed package declares an entry point in the group
``gensuite.plugins``; gensuite loads it beside the built-ins, `gensuite list` says where each
plug-in came from, its suite runs at the smoke profile, and a broken package is one line that
names it while everything else still loads.

The packages are temporary distributions on sys.path (a module plus a ``.dist-info`` folder with
METADATA and entry_points.txt: what pip installs), so the test needs no network or pip.
"""

from __future__ import annotations

import importlib
import math
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from gensuite import plugins
from gensuite.cli import main
from gensuite.config import load_suite
from gensuite.registry import ALGORITHMS, DATASETS
from gensuite.runner import BenchOptions, run_suite

EXAMPLE = '''
"""A nearest-class-mean image classifier on synthetic blobs: an out-of-tree gensuite plug-in."""
from dataclasses import dataclass
from typing import ClassVar

import torch

from gensuite.api import AlgorithmBase, DatasetInfo, Estimate, EvalResult
from gensuite.data.containers import ImageClassData
from gensuite.registry import register_algorithm, register_dataset


def build_blobs(root, *, classes: int = 3) -> ImageClassData:
    """SYNTHETIC Gaussian blobs, one mean image per class (not real data)."""
    g = torch.Generator().manual_seed(0)
    means = torch.rand(classes, 1, 8, 8, generator=g) * 200
    def split(n):
        y = torch.arange(n) % classes
        x = (means[y] + 20 * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 255)
        return x.to(torch.uint8), y
    (xtr, ytr), (xte, yte) = split(60), split(30)
    info = DatasetInfo(name="example-blobs", description="SYNTHETIC blobs", files=(),
                       digest="blobs-v1")
    return ImageClassData(info=info, train_images=xtr, train_labels=ytr, test_images=xte,
                          test_labels=yte, classes=tuple(map(str, range(classes))))


register_dataset("example-blobs")(build_blobs)


@dataclass(frozen=True, kw_only=True)
class MeanConfig:
    data_type: ClassVar[type] = ImageClassData
    batch_size: int = 10


@register_algorithm("nearest-mean")
class NearestMean(AlgorithmBase):
    """Nearest class mean (a classic baseline; example plug-in)."""
    Config = MeanConfig

    def __init__(self, config, data, ctx):
        self.config, self.data = config, data
        self.sums = torch.zeros(data.num_classes, data.train_images[0].numel())
        self.counts = torch.zeros(data.num_classes)
        self.pos = 0

    def train_step(self, step):
        x = self.data.train_images[self.pos: self.pos + self.config.batch_size].flatten(1)
        y = self.data.train_labels[self.pos: self.pos + self.config.batch_size]
        self.sums.index_add_(0, y, x.float())
        self.counts += torch.bincount(y, minlength=len(self.counts))
        self.pos = (self.pos + self.config.batch_size) % len(self.data.train_images)
        return {"seen": float(self.counts.sum())}

    def test(self, curves):
        means = self.sums / self.counts.clamp_min(1)[:, None]
        x = self.data.test_images.flatten(1).float()
        pred = torch.cdist(x, means).argmin(1)
        acc = float((pred == self.data.test_labels).float().mean())
        return EvalResult(metrics={"accuracy": Estimate(mean=100 * acc, n=len(x), unit="%")})

    def state_dict(self):
        return {"sums": self.sums.clone(), "counts": self.counts.clone(), "pos": self.pos}

    def load_state_dict(self, state):
        self.sums, self.counts, self.pos = state["sums"], state["counts"], state["pos"]
'''

SUITE = '''
[suite]
name = "example-nearest-mean"
title = "An out-of-tree plug-in's suite"
algorithm = "nearest-mean"
dataset = "example-blobs"
metric = "accuracy"

[profiles.smoke]
schedule = { steps = 6 }
[profiles.quick]
schedule = { steps = 12 }
[profiles.paper]
schedule = { steps = 12 }

[tables.t]
title = "Nearest class mean on synthetic blobs"

[[cases]]
id = "blobs"
table = "t"
row = "3 blobs"
'''


def _distribution(site: Path, dist: str, version: str, module: str, body: str) -> None:
    (site / module).mkdir()
    (site / module / "__init__.py").write_text(textwrap.dedent(body))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[gensuite.plugins]\n{dist} = {module}\n")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Two third-party packages on sys.path, loaded; removed again afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    _distribution(site, "gensuite-example", "0.1", "gensuite_example", EXAMPLE)
    _distribution(site, "broken-plugin", "0.3", "broken_plugin",
                  'raise ImportError("needs the frobnicate package")\n')
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    state = plugins.load_entry_points(plugins.load_plugins())
    yield state
    for registry in (ALGORITHMS, DATASETS):
        registry.remove_origin("gensuite-example 0.1")
    for name in ("gensuite-example", "broken-plugin"):
        state.loaded.pop(name, None)
        state.broken.pop(name, None)
    for module in ("gensuite_example", "broken_plugin"):
        sys.modules.pop(module, None)


def test_entry_point_package_loads_beside_the_builtins(installed):
    assert installed.loaded["gensuite-example"] == "gensuite-example 0.1"
    assert plugins.algorithms().entry("nearest-mean").origin == "gensuite-example 0.1"
    assert plugins.datasets().entry("example-blobs").origin == "gensuite-example 0.1"
    assert {"gan", "protonet", "vae"} <= set(plugins.algorithms().names())


def test_broken_package_is_one_line_naming_it(installed):
    cause = installed.broken["broken-plugin"]
    assert cause == ("broken-plugin 0.3 (broken_plugin): ImportError: needs the frobnicate "
                     "package")
    assert "\n" not in cause


def test_list_shows_origins_and_the_broken_package(installed):
    res = CliRunner().invoke(main, ["list"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.strip().startswith("nearest-mean"))
    assert "[gensuite-example 0.1]" in line and "Nearest class mean" in line
    assert any(ln.strip().startswith("gan") and "[gensuite]" in ln
               for ln in res.output.splitlines())
    broken = [ln for ln in res.output.splitlines() if "BROKEN" in ln]
    assert broken == ["  BROKEN plug-in package 'broken-plugin': broken-plugin 0.3 "
                      "(broken_plugin): ImportError: needs the frobnicate package"]


def test_out_of_tree_suite_runs_at_smoke_profile(installed, tmp_path):
    suite = tmp_path / "example.toml"
    suite.write_text(SUITE)
    spec = load_suite(suite)
    outcomes = run_suite(spec, BenchOptions(profile="smoke", results_dir=tmp_path / "results",
                                            device="cpu"), echo=lambda _: None)
    assert [o.status for o in outcomes] == ["finished"]
    acc = outcomes[0].metrics["accuracy"]["mean"]
    assert math.isfinite(acc) and acc > 100 / 3  # the blobs are separable: above chance


def test_suite_naming_a_plugin_of_a_broken_package_says_why(installed, tmp_path):
    suite = tmp_path / "frob.toml"
    suite.write_text(SUITE.replace('"nearest-mean"', '"frobnicator"'))
    res = CliRunner().invoke(main, ["bench", "--suite", str(suite), "--profile", "smoke",
                                    "--results-dir", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "unknown plug-in 'frobnicator'" in res.output
    assert "plug-in package 'broken-plugin' failed to load: broken-plugin 0.3" in res.output
