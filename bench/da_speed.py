"""Speed of the domain-adaptation plug-ins: images/s of one DANN step (batch 128 = 64 source +
64 target, Ganin et al.'s), of one ADDA adversarial step, and the time of the t-SNE figure.

A benchmark script, not a test: it prints figures and asserts nothing. Synthetic 28-px digit
domains (speed does not depend on the pixels).

    python bench/da_speed.py --threads 2
    python bench/da_speed.py --threads 1 --tsne-points 2000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128, help="images per step, both domains")
    p.add_argument("--steps", type=int, default=50, help="timed steps")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--tsne-points", type=int, default=1000, help="test images per domain")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def _steps_per_s(algo, first: int, steps: int, warmup: int) -> float:
    for s in range(first, first + warmup):
        algo.train_step(s)
    t0 = time.perf_counter()
    for s in range(first + warmup, first + warmup + steps):
        algo.train_step(s)
    return steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.algorithms.adda import Adda, AddaConfig
    from gensuite.algorithms.dann import Dann, DannConfig
    from gensuite.api import Curves, RunContext, Schedule
    from gensuite.data.containers import DomainPairData, ImageClassData

    torch.set_num_threads(args.threads)
    n = max(args.batch, args.tsne_points)
    src, tgt = (ImageClassData.synthetic(s, n_train=n, n_test=args.tsne_points,
                                         shape=(3, 28, 28), classes=10) for s in (0, 1))
    data = DomainPairData(info=src.info, source=src, target=tgt)
    half = args.batch // 2
    total = args.warmup + args.steps
    print(f"device {args.device}, {args.threads} thread(s), synthetic 28-px domains")
    for mode in ("dann", "source-only"):
        algo = Dann(DannConfig(mode=mode, batch_size=half, val_images=0,
                               tsne_points=args.tsne_points), data,
                    RunContext(seed=0, device=args.device, schedule=Schedule(steps=total)))
        rate = _steps_per_s(algo, 0, args.steps, args.warmup)
        per_step = 2 * half if mode == "dann" else half
        print(f"DANN {mode:12s}: {rate:7.1f} steps/s, {rate * per_step:8.0f} images/s "
              f"({per_step} images a step)")
    adda = Adda(AddaConfig(pretrain_steps=1, batch_size=half, val_images=0), data,
                RunContext(seed=0, device=args.device, schedule=Schedule(steps=total + 1)))
    adda.train_step(0)
    rate = _steps_per_s(adda, 1, args.steps, args.warmup)
    print(f"ADDA adversarial  : {rate:7.1f} steps/s, {rate * 2 * half:8.0f} images/s "
          f"(one D and one target-encoder update on {2 * half} images)")

    result = algo.test(Curves())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = algo.write_artifacts(Path(tmp), result, Curves())
        took = time.perf_counter() - t0
    print(f"t-SNE figures of {2 * args.tsne_points} points (2 PNGs): {took:.1f} s "
          f"({', '.join(f.name for f in files)})")


if __name__ == "__main__":
    main()
