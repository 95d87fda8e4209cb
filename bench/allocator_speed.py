"""Benchmark (not a test): every suite's training step with glibc's default malloc thresholds vs
the ones ``gensuite.allocator`` sets, each in a fresh process (mallopt is process-wide).

For each suite: its first case (or ``--case``) at the given profile is built as a run builds it,
``--warmup`` steps are run, then ``--steps`` timed ones; the median ms/step of each mode and
their ratio are printed, with the load average (other processes slow every figure down).

    python bench/allocator_speed.py --threads 1 --steps 20
    python bench/allocator_speed.py --suite protonet --profile paper --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", action="append", help="repeatable; default: every suite")
    p.add_argument("--case", default=None, help="case id (default: the suite's first)")
    p.add_argument("--profile", default="quick")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--child", choices=["tuned", "default"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child(args: argparse.Namespace) -> None:
    """Time one suite's steps in this process, under the allocator mode asked for."""
    from gensuite.allocator import tune_allocator

    mode = tune_allocator() if args.child == "tuned" else "system default"
    import torch

    from gensuite.config import load_suite
    from gensuite.runner import _DataCache, prepare_case

    torch.set_num_threads(args.threads)
    spec = load_suite(args.suite[0])
    case = spec.case(args.case) if args.case else spec.cases[0]
    prepared = prepare_case(spec, case, profile=args.profile, seed=0, device="cpu",
                            data=_DataCache(None))
    algo = prepared.build()
    times = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        algo.train_step(step)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"case": case.id, "ms": 1000 * statistics.median(times), "mode": mode}))


def run(suite: str, mode: str, args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    cmd = [sys.executable, __file__, "--child", mode, "--suite", suite, "--profile",
           args.profile, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--threads", str(args.threads)] + (["--case", args.case] if args.case else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    from gensuite.config import list_suites

    suites = args.suite or sorted(list_suites())
    print(f"{args.profile} profile, {args.threads} thread(s), median of {args.steps} steps after "
          f"{args.warmup}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'suite':22} {'case':24} {'default ms':>10} {'tuned ms':>9} {'speed-up':>8}")
    for suite in suites:
        default, tuned = run(suite, "default", args), run(suite, "tuned", args)
        if "error" in default or "error" in tuned:
            print(f"{suite:22} {'':24} {default.get('error') or tuned.get('error')}")
            continue
        print(f"{suite:22} {default['case'][:24]:24} {default['ms']:10.1f} {tuned['ms']:9.1f} "
              f"{default['ms'] / tuned['ms']:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
