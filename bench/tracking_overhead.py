"""Benchmark (not a test): share of ProtoNet training wall time spent in MLflow tracking.

Runs the generic loop with the MLflow callback on a scratch sqlite store and times every call
into the callback, so the overhead is measured directly instead of as a noisy difference of two
runs. Target: under 2% of wall time on CPU.

    python bench/tracking_overhead.py --steps 300 --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gensuite.api import RunContext, Schedule
from gensuite.train.loop import Callback, run_loop


class Timed(Callback):
    """Wraps a callback and adds up the time spent in it."""

    def __init__(self, inner: Callback) -> None:
        self.inner, self.seconds = inner, 0.0

    def _timed(self, fn, *args):
        t0 = time.perf_counter()
        fn(*args)
        self.seconds += time.perf_counter() - t0

    def on_step(self, step, metrics):
        self._timed(self.inner.on_step, step, metrics)

    def on_eval(self, step, metrics):
        self._timed(self.inner.on_eval, step, metrics)

    def on_end(self, result):
        self._timed(self.inner.on_end, result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-root", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from gensuite.algorithms.protonet import ProtoNet
    from gensuite.data.root import DataRoot
    from gensuite.plugins import datasets
    from gensuite.tracking import Tracker

    data = datasets().get("omniglot-vinyals")(DataRoot(args.data_root))
    config = ProtoNet.Config(train_way=5, train_shot=5, train_query=15, test_way=5,
                             test_shot=5, test_episodes=10)
    schedule = Schedule(steps=args.steps, eval_every=args.eval_every, val_episodes=20)
    ctx = RunContext(seed=0, device=args.device, schedule=schedule)
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db", "overhead", artifact_root=Path(tmp))
        with tracker.run("overhead", params={"config": config.__dict__}, tags={}) as run_id:
            timed = Timed(tracker.callback(run_id))
            algo = ProtoNet(config, data, ctx)
            t0 = time.perf_counter()
            run_loop(algo, schedule, train_key="bench", callbacks=[timed])
            wall = time.perf_counter() - t0
    print(f"device {args.device}, {torch.get_num_threads()} threads, {args.steps} episodes "
          f"(5-way 5-shot 15-query), validation every {args.eval_every}")
    print(f"  wall time            {wall:8.2f} s   ({args.steps / wall:.1f} episodes/s incl. "
          f"validation)")
    print(f"  in MLflow callback   {timed.seconds:8.3f} s   ({100 * timed.seconds / wall:.2f}% "
          f"of wall time; target < 2%)")


if __name__ == "__main__":
    main()
