"""Every suite at the smoke profile, its numbers written to JSON, or compared with an earlier run.

A refactoring check, not a test: the numbers of a smoke run depend on the CPU and the thread
count, so a committed golden file would fail on another machine. Run it before and after a change
on the same machine, one thread, fresh caches (``XDG_CACHE_HOME`` pointed at an empty folder so
every evaluation classifier is trained anew), and compare:

    XDG_CACHE_HOME=$(mktemp -d) python bench/smoke_numbers.py --out before.json
    ...change the code...
    XDG_CACHE_HOME=$(mktemp -d) python bench/smoke_numbers.py --out after.json \\
        --compare before.json --rename fid_mnist_classifier=fid

``--rename OLD=NEW`` maps an earlier metric key onto a renamed one. Exit status 1 when any number
differs (or a case/metric appears on one side only).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_all(suites: list[str], threads: int) -> dict[str, Any]:
    """{suite: {"<case>/seed<seed>": {"status": ..., "metrics": {key: [mean, ci95]}}}}."""
    from gensuite.config import list_suites, load_suite
    from gensuite.runner import BenchOptions, run_suite

    out: dict[str, Any] = {}
    for name in suites or list_suites():
        spec = load_suite(name)
        with tempfile.TemporaryDirectory() as tmp:
            outcomes = run_suite(spec, BenchOptions(
                profile="smoke", results_dir=Path(tmp), device="cpu", threads=threads),
                echo=lambda _: None)
        out[name] = {
            f"{o.case_id}/seed{o.seed}": {
                "status": o.status,
                "metrics": {k: [v["mean"], v["ci95"]] for k, v in sorted(o.metrics.items())},
            }
            for o in outcomes
        }
        print(f"{name}: {len(outcomes)} runs", file=sys.stderr)
    return out


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


def compare(now: dict[str, Any], before: dict[str, Any], renames: dict[str, str]) -> list[str]:
    """Lines naming every difference; empty when the two runs agree exactly."""
    diffs = []
    for suite in sorted(set(now) | set(before)):
        a, b = now.get(suite, {}), before.get(suite, {})
        for run in sorted(set(a) | set(b)):
            if run not in a or run not in b:
                diffs.append(f"{suite} {run}: only in {'after' if run in a else 'before'}")
                continue
            if a[run]["status"] != b[run]["status"]:
                diffs.append(f"{suite} {run}: status {b[run]['status']} → {a[run]['status']}")
            old = {renames.get(k, k): v for k, v in b[run]["metrics"].items()}
            new = a[run]["metrics"]
            for key in sorted(set(old) | set(new)):
                if key not in old or key not in new:
                    diffs.append(f"{suite} {run} {key}: only in "
                                 f"{'after' if key in new else 'before'}")
                elif not all(_same(x, y) for x, y in zip(new[key], old[key])):
                    diffs.append(f"{suite} {run} {key}: {old[key]} → {new[key]}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--suite", action="append", default=[], help="only these (repeatable)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compare", type=Path, default=None, help="an earlier --out file")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    args = p.parse_args(argv)
    numbers = run_all(args.suite, args.threads)
    args.out.write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n")
    if args.compare is None:
        return 0
    renames = dict(r.split("=", 1) for r in args.rename)
    before = json.loads(args.compare.read_text())
    if args.suite:
        before = {k: v for k, v in before.items() if k in args.suite}
    diffs = compare(numbers, before, renames)
    for line in diffs:
        print(line)
    runs = sum(len(v) for v in numbers.values())
    print(f"{runs} runs compared: {'identical' if not diffs else f'{len(diffs)} differences'}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
