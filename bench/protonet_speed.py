"""Training speed of the ProtoNet plug-in (Snell et al. 2017): episodes/s and where time goes.

A benchmark script, not a test. It trains N episodes (5-way 5-shot 15-query by default) on the
real Omniglot (Vinyals split) when it is found, else on synthetic data of the same image shape,
and splits each episode into sampling and the model step (forward + backward + optimiser).

    python bench/protonet_speed.py --episodes 200 --threads 2
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=200, help="timed training episodes")
    p.add_argument("--warmup", type=int, default=10, help="untimed episodes first")
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--distance", default="euclidean", choices=["euclidean", "cosine"])
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="explicit data root (else the usual search)")
    p.add_argument("--synthetic", action="store_true", help="skip the real data")
    return p.parse_args(argv)


def load_data(args: argparse.Namespace) -> tuple[Any, str]:
    """The real Omniglot (Vinyals split) if found, else synthetic data of the same image shape."""
    import torch

    from gensuite.api import DatasetInfo
    from gensuite.data.containers import FewShotData
    from gensuite.errors import GensuiteError

    if not args.synthetic:
        try:
            from gensuite.data.root import DataRoot
            from gensuite.plugins import datasets

            data = datasets().get("omniglot-vinyals")(DataRoot(args.data_root))
            return data, f"omniglot-vinyals ({data.train.shape[0]} training classes)"
        except GensuiteError as exc:
            print(f"real data unavailable ({exc}); using synthetic data of the same shape")
    # 1200 classes × 20 images of 1×28×28, like the Vinyals training characters before rotation.
    gen = torch.Generator().manual_seed(args.seed)
    train = torch.rand(1200, 20, 1, 28, 28, generator=gen)
    info = DatasetInfo(name="synthetic", description="uniform noise, Omniglot shape", files=())
    return FewShotData(info=info, train=train, val=None, test=None, test_episodes=None), "synthetic"


class TimedSampler:
    """Wraps the plug-in's sampler and adds up the seconds spent in ``sample()``."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler
        self.seconds = 0.0

    def sample(self) -> Any:
        t0 = time.perf_counter()
        out = self.sampler.sample()
        self.seconds += time.perf_counter() - t0
        return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.algorithms.protonet import ProtoNet, ProtoNetConfig
    from gensuite.api import RunContext

    torch.set_num_threads(args.threads)
    data, source = load_data(args)
    config = ProtoNetConfig(
        distance=args.distance, train_way=args.way, train_shot=args.shot, train_query=args.query
    )
    algo = ProtoNet(config, data, RunContext(seed=args.seed, device=args.device))
    sync = torch.cuda.synchronize if algo.device.type == "cuda" else (lambda: None)

    for step in range(args.warmup):
        algo.train_step(step)
    timed = TimedSampler(algo.train_sampler)
    algo.train_sampler = timed
    in_step = 0.0
    sync()
    start = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.episodes):
        t0 = time.perf_counter()
        algo.train_step(step)  # returns floats, so it has synchronised already
        sync()
        in_step += time.perf_counter() - t0
    wall = time.perf_counter() - start

    n = args.episodes
    model = in_step - timed.seconds  # train_step time less its sampling
    rows = [
        ("data", source),
        ("episode", f"{args.way}-way {args.shot}-shot {args.query}-query, {args.distance}"),
        ("device / threads", f"{args.device} / {torch.get_num_threads()}"),
        ("episodes timed", f"{n} (after {args.warmup} warm-up)"),
        ("episodes/s", f"{n / wall:.2f}"),
        ("ms/episode total", f"{1e3 * wall / n:.2f}"),
        ("ms/episode sampling", f"{1e3 * timed.seconds / n:.2f}"),
        ("ms/episode model step", f"{1e3 * model / n:.2f}"),
        ("wall share outside model step", f"{100 * (wall - model) / wall:.1f}%"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
