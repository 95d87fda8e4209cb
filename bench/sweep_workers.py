"""Benchmark (not a test): trials per hour of one PostgreSQL study with 1 vs N workers.

Starts an ``mlflow server`` (PostgreSQL backend, proxied artifacts) and, for each worker count, a
fresh study database; runs ``gensuite sweep`` at the smoke profile of the given suite in that
many processes at once, and prints finished trials, wall time and trials/hour (wall time from
the first worker's start to the last worker's exit, process start-up included: what a user
waits for). Needs ``GENSUITE_TEST_PG`` (an admin URL of a role that may create databases, as for
tests/test_scaleout.py).

    GENSUITE_TEST_PG=postgresql://USER:PW@127.0.0.1/postgres python bench/sweep_workers.py \\
        --suite protonet --trials 12 --workers 1 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import servers  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="protonet")
    p.add_argument("--trials", type=int, default=12, help="study-wide target per measurement")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    return p.parse_args(argv)


def measure(args, workers: int, tracking: str, scratch: Path) -> dict:
    import optuna

    from gensuite.storage import normalise_db_url

    with servers.fresh_database("gsbench") as storage:
        cmd = [sys.executable, "-m", "gensuite.cli", "sweep", "--suite", args.suite,
               "--profile", "smoke", "--trials", str(args.trials), "--storage", storage,
               "--tracking-uri", tracking, "--results-dir", str(scratch / f"w{workers}"),
               "--threads", str(args.threads), "--no-progress"]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(workers)]
        errors = [p.communicate()[1].decode() for p in procs]
        wall = time.perf_counter() - t0
        for p, err in zip(procs, errors, strict=True):
            if p.returncode:
                raise SystemExit(f"a worker failed: {err.strip().splitlines()[-1:]}")
        study = optuna.load_study(study_name=f"{args.suite}-smoke",
                                  storage=normalise_db_url(storage))
        states = [t.state.name for t in study.get_trials()]
    finished = sum(s in ("COMPLETE", "PRUNED") for s in states)
    return {"workers": workers, "finished": finished, "trials": len(states), "wall_s": wall,
            "per_hour": 3600 * finished / wall}


def main() -> None:
    args = parse_args()
    if servers.admin_url() is None:
        raise SystemExit(f"set {servers.PG_ENV} to a PostgreSQL admin URL (see the docstring)")
    with tempfile.TemporaryDirectory() as tmp, servers.fresh_database("gsbenchml") as backend:
        scratch = Path(tmp)
        server = servers.MlflowServer(backend, scratch / "artifacts", scratch / "server.log")
        try:
            server.wait_ready()
            print(f"suite {args.suite} (smoke), target {args.trials} trials, {args.threads} "
                  f"thread(s) per worker, {os.cpu_count()} CPU cores, load average before: "
                  f"{os.getloadavg()[0]:.2f}")
            rows = [measure(args, w, server.url, scratch) for w in args.workers]
        finally:
            server.stop()
    base = rows[0]["per_hour"]
    print(f"{'workers':>7} {'finished':>8} {'trials':>6} {'wall s':>8} {'trials/h':>9} "
          f"{'vs first':>8}")
    for r in rows:
        print(f"{r['workers']:>7} {r['finished']:>8} {r['trials']:>6} {r['wall_s']:>8.1f} "
              f"{r['per_hour']:>9.0f} {r['per_hour'] / base:>7.2f}x")


if __name__ == "__main__":
    main()
