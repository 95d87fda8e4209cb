"""Shared test set-up: real data from ../shared/data unless GENSUITE_DATA_ROOT says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"

os.environ.setdefault("GENSUITE_DATA_ROOT", str(SHARED_DATA))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def empty_roots(tmp_path, monkeypatch) -> Path:
    """Every candidate data root redirected into tmp_path; returns the (empty) explicit root."""
    from gensuite.data import root as root_mod

    for name in ("env", "cache", "system", "shared", "explicit"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("GENSUITE_DATA_ROOT", str(tmp_path / "env"))
    monkeypatch.setattr(root_mod, "download_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(root_mod, "SYSTEM_ROOTS", (tmp_path / "system",))
    monkeypatch.setattr(root_mod, "shared_data_dir", lambda: tmp_path / "shared")
    return tmp_path / "explicit"


@pytest.fixture
def data_root() -> Path:
    root = Path(os.environ["GENSUITE_DATA_ROOT"])
    if not (root / "omniglot").is_dir():
        pytest.fail(f"test data missing: {root}/omniglot (set GENSUITE_DATA_ROOT)")
    return root


MINIMAL_SUITE = '''
[suite]
name = "mini"
title = "Minimal suite for tests"
algorithm = "protonet"
dataset = "omniglot-vinyals"
metric = "accuracy"

[dataset_options]
train_split = "train"

[defaults]
train_way = 5
train_shot = 1
train_query = 2
test_episodes = 4

[profiles.smoke]
schedule = { steps = 3, eval_every = 2, val_episodes = 2 }
[profiles.quick]
schedule = { steps = 4, eval_every = 2, val_episodes = 2 }
[profiles.paper]
schedule = { steps = 5 }

[tables.t1]
title = "Table one"
source = "a citation"

[[cases]]
id = "c1"
table = "t1"
row = "5-way 1-shot"
params = { test_way = 5, test_shot = 1 }
reported = { value = 98.8, source = "Snell et al. (2017), Table 1" }

[[cases]]
id = "c2"
table = "t1"
row = "5-way 1-shot, cosine"
params = { distance = "cosine", test_way = 5, test_shot = 1 }

[search]
case = "c1"
metric = "val_acc"
[search.params]
lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
'''


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(MINIMAL_SUITE)
    return path
