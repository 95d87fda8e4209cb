"""Training speed of the ProtoNet plug-in (Snell et al. 2017): episodes/s and where time goes.

A benchmark script, not a test. It trains N episodes (5-way 5-shot 15-query by default) on the
real Omniglot (Vinyals split) when it is found, else on synthetic data of the same image shape,
and splits each episode into sampling and the model step (forward + backward + optimiser).

With ``--compare`` it times, in the same process, a reference-style loop (episodes drawn and
stacked on the CPU, copied to the device every step, a ``loss.item()`` per step, as most public
implementations do), the plug-in's eager path (data resident on the device, one sync per step)
and, on CUDA, the plug-in's CUDA-graph path (``cuda_graph=True``), and prints the ratios.

    python bench/protonet_speed.py --episodes 200 --threads 2
    python bench/protonet_speed.py --device cuda --way 60 --query 5 --episodes 300 --compare
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
    p.add_argument("--compare", action="store_true",
                   help="reference-style loop vs eager vs (CUDA) graphed, same process")
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


def reference_loop(data: Any, args: argparse.Namespace) -> float:
    """Episodes/s of a reference-style loop: a CPU episode (index lists, stacked images) copied
    to the device each step, the model and Adam as in the plug-in, one ``.item()`` per step."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from gensuite.algorithms.protonet import proto_logits, prototypes
    from gensuite.models.conv4 import Conv4

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = Conv4(data.train.shape[2], 64, 64).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = data.train  # stays on the CPU, as a Dataset/DataLoader pipeline keeps it
    n_classes, n_examples = images.shape[:2]
    gen = torch.Generator().manual_seed(args.seed)
    support_labels = torch.arange(args.way).repeat_interleave(args.shot).to(device)
    query_labels = torch.arange(args.way).repeat_interleave(args.query)

    def one() -> float:
        classes = torch.randperm(n_classes, generator=gen)[: args.way].tolist()
        batch = []
        for c in classes:
            picks = torch.randperm(n_examples, generator=gen)[: args.shot + args.query]
            batch.append(images[c, picks])
        ep = torch.stack(batch)
        support = ep[:, : args.shot].flatten(0, 1).to(device)
        query = ep[:, args.shot:].flatten(0, 1).to(device)
        emb = model(torch.cat([support, query]))
        protos = prototypes(emb[: support.shape[0]], support_labels, args.way)
        logits = proto_logits(emb[support.shape[0]:], protos, args.distance)
        loss = F.cross_entropy(logits, query_labels.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        one()
    start = time.perf_counter()
    for _ in range(args.episodes):
        one()
    return args.episodes / (time.perf_counter() - start)


def plugin_loop(data: Any, args: argparse.Namespace, *, cuda_graph: bool) -> float:
    """Episodes/s of the plug-in's own train_step (eager or CUDA-graphed)."""
    import torch

    from gensuite.algorithms.protonet import ProtoNet, ProtoNetConfig
    from gensuite.api import RunContext

    config = ProtoNetConfig(distance=args.distance, train_way=args.way, train_shot=args.shot,
                            train_query=args.query, cuda_graph=cuda_graph)
    algo = ProtoNet(config, data, RunContext(seed=args.seed, device=args.device))
    for step in range(args.warmup):
        algo.train_step(step)
    if algo.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.episodes):
        algo.train_step(step)  # returns floats: it has synchronised already
    return args.episodes / (time.perf_counter() - start)


def compare(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    data, source = load_data(args)
    cuda = args.device.startswith("cuda")
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"ProtoNet training episodes/s, {args.way}-way {args.shot}-shot {args.query}-query, "
          f"{source}, {where}, {args.episodes} timed after {args.warmup}")
    ref = reference_loop(data, args)
    rows = [("reference-style loop (CPU episodes, copy per step)", ref),
            ("gensuite eager (device-resident data)", plugin_loop(data, args, cuda_graph=False))]
    if cuda:
        rows.append(("gensuite CUDA graph (step + Adam captured)",
                     plugin_loop(data, args, cuda_graph=True)))
    for name, rate in rows:
        print(f"{name:<52} {rate:>9.1f} episodes/s  {rate / ref:>5.2f}× reference")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.compare:
        compare(args)
        return
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
