"""Data root search order, the missing-data message, and file fingerprints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs
import pytest

import gensuite
from gensuite.data import root as root_mod
from gensuite.data.fingerprint import fingerprint, sha256_file
from gensuite.data.omniglot import build_lake, build_vinyals
from gensuite.data.root import DataRoot, download_root, shared_data_dir
from gensuite.errors import MissingDataError


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every candidate root redirected into tmp_path, so nothing real can satisfy a lookup."""
    paths = {k: tmp_path / k for k in ("explicit", "env", "cache", "system", "shared")}
    for p in paths.values():
        p.mkdir()
    monkeypatch.setenv("GENSUITE_DATA_ROOT", str(paths["env"]))
    monkeypatch.setattr(root_mod, "download_root", lambda: paths["cache"])
    monkeypatch.setattr(root_mod, "SYSTEM_ROOTS", (paths["system"],))
    monkeypatch.setattr(root_mod, "shared_data_dir", lambda: paths["shared"])
    return paths


def put(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def test_candidate_order_and_dedup(roots, monkeypatch):
    order = ["explicit", "env", "cache", "system", "shared"]
    assert DataRoot(roots["explicit"]).candidates == [roots[k] for k in order]
    monkeypatch.delenv("GENSUITE_DATA_ROOT")
    assert DataRoot().candidates == [roots[k] for k in ("cache", "system", "shared")]
    monkeypatch.setenv("GENSUITE_DATA_ROOT", str(roots["cache"]))
    assert DataRoot(roots["cache"]).candidates == [roots[k] for k in ("cache", "system", "shared")]


def test_locate_first_root_wins(roots):
    # Add the file to ever earlier roots: each time the newest (earliest) copy must win.
    for name in ("shared", "system", "cache", "env", "explicit"):
        put(roots[name] / "ds" / "a.bin")
        found = DataRoot(roots["explicit"]).locate("ds", "ds/a.bin", how_to_get="-")
        assert found == roots[name] / "ds" / "a.bin"


def test_locate_roots_outer_relpaths_inner(roots):
    put(roots["env"] / "second.bin")
    put(roots["cache"] / "first.bin")
    found = DataRoot().locate("ds", "first.bin", "second.bin", how_to_get="-")
    assert found == roots["env"] / "second.bin"


def test_missing_error_is_one_line_and_complete(roots):
    with pytest.raises(MissingDataError) as exc:
        DataRoot(roots["explicit"]).locate("toy", "toy/a.npz", "toy-py/", how_to_get="get\nit")
    msg = str(exc.value)
    assert isinstance(exc.value, FileNotFoundError)
    assert "\n" not in msg
    assert msg.startswith("dataset 'toy' not found: looked for toy/a.npz, toy-py/ under ")
    assert all(str(p) in msg for p in roots.values())
    assert msg.endswith("; get it")


@pytest.mark.parametrize("build", [build_vinyals, build_lake])
def test_builders_say_how_to_get_omniglot(roots, build):
    with pytest.raises(MissingDataError) as exc:
        build(DataRoot(roots["explicit"]))
    msg = str(exc.value)
    assert "omniglot" in msg and str(roots["explicit"]) in msg and str(roots["shared"]) in msg
    for hint in (
        "brendenlake/omniglot",
        "torchvision.datasets.Omniglot",
        "--data-root",
        "GENSUITE_DATA_ROOT",
    ):
        assert hint in msg


def test_default_locations():
    assert download_root() == platformdirs.user_cache_path("gensuite") / "data"
    shared = Path(gensuite.__file__).resolve().parents[2] / "shared" / "data"
    assert shared_data_dir() == (shared if shared.is_dir() else None)


def test_sha256_file(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc" * 1000)
    assert sha256_file(f) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_fingerprint_stable_order_free_and_content_sensitive(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha")
    b.write_text("beta")
    fp = fingerprint([a, b])
    assert len(fp) == 64 and fp == fingerprint([b, a]) == fingerprint([str(a), str(b)])
    other = tmp_path / "copy"
    other.mkdir()
    (other / "a.txt").write_text("alpha")
    (other / "b.txt").write_text("beta")
    assert fingerprint([other / "a.txt", other / "b.txt"]) == fp  # names, not locations
    t0 = b.stat().st_mtime_ns
    b.write_text("betA")  # same size: the cache key's mtime must change, so set it explicitly
    os.utime(b, ns=(t0, t0 + 1_000_000))
    assert fingerprint([a, b]) != fp
    b.write_text("beta")
    os.utime(b, ns=(t0, t0 + 2_000_000))
    assert fingerprint([a, b]) == fp
