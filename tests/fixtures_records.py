"""Synthetic result records for the report tests. Every number here is invented: none is a result.

``golden_records()`` is a small suite with two tables, a claim, a case without a reported number,
a not-comparable case (unknown dataset), a stand-in dataset, failed runs (one superseded by a
later rerun), an older record replaced by a newer one, and a case that never ran.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gensuite.records import write_record

SUITE = "synthetic"
PAPER = "Fixture paper (2000), Table 1"
REPORT = "Fixture course report, Q3"

SNAPSHOT: dict[str, Any] = {
    "name": SUITE,
    "title": "Synthetic suite (test fixture)",
    "file": "synthetic.toml",
    "sha256": "5e" * 32,
    "metric": "accuracy",
    "tolerance": 1.0,
    "description": "Invented records built by tests/fixtures_records.py; no number is a result.",
    "notes": ["Reported numbers are invented.", "Table 2 mirrors a report that names no dataset."],
    # ids sort in the opposite order to the cases: the report must follow case_order
    "tables": {
        "a_transfer": {"id": "a_transfer", "title": "Table 2: transfer (synthetic)",
                       "source": REPORT, "note": "The report does not name its dataset."},
        "z_main": {"id": "z_main", "title": "Table 1: distance functions (synthetic)",
                   "source": PAPER, "note": ""},
    },
    "checks": [{
        "id": "euclid_beats_cosine", "claim": "Euclidean distance beats cosine (synthetic)",
        "source": "Fixture paper (2000), Section 4", "kind": "greater",
        "pairs": [["euclid", "cosine"], ["euclid", "cosine_1shot"]],
    }],
    "case_order": ["euclid", "cosine", "cosine_1shot", "transfer", "transfer_standin", "oracle"],
}

CASES: dict[str, dict[str, Any]] = {
    "euclid": {"table": "z_main", "row": "Euclidean, 5-way 5-shot",
               "reported": {"value": 80.0, "source": PAPER, "tolerance": None,
                            "comparable": True, "note": ""}},
    "cosine": {"table": "z_main", "row": "Cosine, 5-way 5-shot",
               "reported": {"value": 70.0, "source": PAPER, "tolerance": 2.0,
                            "comparable": True, "note": ""}},
    "cosine_1shot": {"table": "z_main", "row": "Cosine, 5-way 1-shot", "reported": None},
    "transfer": {"table": "a_transfer", "row": "Source only, A → B",
                 "reported": {"value": 42.0, "source": REPORT, "tolerance": None,
                              "comparable": False, "note": "the report names no dataset"}},
    "transfer_standin": {"table": "a_transfer", "row": "Adapted, A → B",
                         "reported": {"value": 45.0, "source": REPORT, "tolerance": None,
                                      "comparable": True, "note": ""}},
}

SCHEDULES = {
    "paper": {"steps": 1000, "eval_every": 100, "checkpoint_every": 0, "val_episodes": 50},
    "quick": {"steps": 100, "eval_every": 20, "checkpoint_every": 0, "val_episodes": 20},
    "smoke": {"steps": 40, "eval_every": 10, "checkpoint_every": 0, "val_episodes": 5},
}


def _curves(steps: int, every: int, level: float, phase: float) -> dict[str, list[dict]]:
    """Deterministic made-up curves: a decaying loss with a wiggle, a rising accuracy."""
    log = max(1, steps // 100)
    train = [
        {"step": s, "loss": 2.0 * math.exp(-3 * s / steps) + 0.1 * math.sin(s / 7 + phase) + 0.3}
        for s in range(log, steps + 1, log)
    ]
    val = [
        {"step": s, "val_acc": level / 100 * (1 - math.exp(-4 * s / steps))}
        for s in range(every, steps + 1, every)
    ]
    return {"train": train, "val": val}


def make_record(
    case_id: str,
    *,
    profile: str = "paper",
    seed: int = 0,
    mean: float = 50.0,
    ci95: float = 0.5,
    n: int = 1000,
    status: str = "finished",
    error: str | None = None,
    finished: str = "2025-01-01T00:10:00Z",
    wall_s: float = 600.0,
    stands_in_for: str | None = None,
    dirty: bool = False,
    snapshot: dict[str, Any] | None = None,
    samples: list[float] | None = None,
) -> dict[str, Any]:
    """One synthetic record in the ``gensuite.result/1`` shape (without ``schema``)."""
    case = {"id": case_id, "reference_note": "no published reference", **CASES[case_id]}
    sched = SCHEDULES[profile]
    ok = status == "finished"
    return {
        "suite": snapshot or SNAPSHOT,
        "case": case,
        "algorithm": "fixture",
        "profile": profile,
        "seed": seed,
        "config": {"distance": case_id},
        "schedule": sched,
        "dataset": {
            "name": "synthetic-digits", "options": {}, "files": [],
            "description": "invented 28×28 digits (fixture)",
            "fingerprint": "0123456789abcdef" * 4, "stands_in_for": stands_in_for,
        },
        "metrics": {"accuracy": {"mean": mean, "ci95": ci95, "n": n, "unit": "%",
                                 "over": "episodes",
                                 # per-episode values on episodes every case shares
                                 **({"samples": samples, "units": f"episodes-{profile}-{seed}"}
                                    if samples else {})}} if ok else {},
        "curves": _curves(sched["steps"], sched["eval_every"], mean, seed + len(case_id))
        if ok else {"train": [], "val": []},
        "status": status,
        "error": error,
        "train_key": f"{case_id}-{profile}",
        "timing": {"started": "2025-01-01T00:00:00Z", "finished": finished, "wall_s": wall_s},
        "provenance": {
            "python": "3.11.7", "torch": "2.14.1", "cuda": None, "device_name": "cpu (fixture)",
            "threads": 2, "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "git_dirty": dirty, "platform": "Linux-fixture-x86_64",
        },
        "tracking": {"uri": None, "experiment": None, "run_id": None},
        "artifacts": [],
    }


# Per-episode accuracies (%) of two models on the same 20 episodes: means 45.0 and 40.0.
SMOKE_EUCLID = [42.0, 62.0, 22.0, 82.0, 42.0, 62.0, 22.0, 42.0, 62.0, 42.0,
                42.0, 62.0, 22.0, 42.0, 62.0, 42.0, 42.0, 22.0, 42.0, 42.0]
SMOKE_COSINE = [37.0, 52.0, 22.0, 77.0, 37.0, 52.0, 22.0, 37.0, 57.0, 37.0,
                37.0, 52.0, 22.0, 37.0, 57.0, 37.0, 37.0, 22.0, 37.0, 32.0]


def golden_records() -> list[dict[str, Any]]:
    r = make_record
    return [
        # paper: three seeds of euclid (one rerun after a crash), cosine replaced by a rerun
        r("euclid", seed=0, mean=79.5, finished="2025-01-01T01:00:00Z", wall_s=610.0),
        r("euclid", seed=1, status="failed", error="CUDA out of memory\nTraceback: ...",
          finished="2025-01-01T01:05:00Z", wall_s=30.0),
        r("euclid", seed=1, mean=80.5, finished="2025-01-01T02:00:00Z", wall_s=605.0),
        r("euclid", seed=2, mean=80.2, finished="2025-01-01T03:00:00Z", wall_s=598.0),
        r("cosine", seed=0, mean=71.0, ci95=0.9, finished="2025-01-01T04:00:00Z"),
        r("cosine", seed=0, mean=66.0, ci95=0.8, finished="2025-01-02T04:00:00Z", wall_s=620.0),
        r("cosine", seed=1, mean=67.1, ci95=0.8, finished="2025-01-02T05:00:00Z", wall_s=615.0),
        r("cosine", seed=2, mean=65.8, ci95=0.8, finished="2025-01-02T06:00:00Z", wall_s=611.0),
        r("cosine_1shot", seed=0, mean=60.0, ci95=1.1, finished="2025-01-01T05:00:00Z"),
        r("transfer", seed=0, mean=41.0, ci95=0.4, n=10000, finished="2025-01-01T06:00:00Z"),
        r("transfer_standin", seed=0, status="diverged",
          error="training diverged at step 12: non-finite loss=nan",
          finished="2025-01-01T07:00:00Z", wall_s=12.0),
        # smoke: one seed each, a dirty tree, a stand-in dataset; euclid and cosine scored the
        # same 20 episodes (a paired test)
        r("euclid", profile="smoke", mean=45.0, ci95=4.0, n=20, wall_s=3.5, dirty=True,
          finished="2025-01-03T00:00:01Z", samples=SMOKE_EUCLID),
        r("cosine", profile="smoke", mean=40.0, ci95=4.2, n=20, wall_s=3.0, dirty=True,
          finished="2025-01-03T00:00:02Z", samples=SMOKE_COSINE),
        r("transfer_standin", profile="smoke", mean=30.0, ci95=5.0, n=20, wall_s=2.0,
          stands_in_for="dataset B", dirty=True, finished="2025-01-03T00:00:03Z"),
    ]


def write_records(results_dir: Path, records: list[dict[str, Any]]) -> list[Path]:
    """Write records where the runner would, with names fixed by their content (no clock)."""
    paths = []
    for i, rec in enumerate(records):
        stamp = rec["timing"]["finished"].replace("-", "").replace(":", "")
        name = f"seed{rec['seed']}_{stamp}_{i:08x}.json"
        path = Path(results_dir) / rec["suite"]["name"] / rec["profile"] / rec["case"]["id"] / name
        paths.append(write_record(path, rec))
    return paths
