"""Training speed of the GAN plug-in: images/s for one D+G iteration, per backbone and batch size.

A benchmark script, not a test. One iteration is one discriminator update on a real and a fake
batch and one generator update (n_critic = 1, non-saturating loss), as in ``train_step``;
images/s counts the real images consumed. On CUDA every configuration also runs with bfloat16
autocast + channels_last, and with the whole iteration captured in a CUDA graph (``cuda_graph``:
fp32, and bf16 + channels_last), next to plain eager float32, in the same process.

    python bench/gan_speed.py --threads 2                  # CPU: dcgan/vgg16/resnet18, 64 & 128
    python bench/gan_speed.py --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", default="dcgan,vgg16,resnet18")
    p.add_argument("--batch-sizes", default="64,128")
    p.add_argument("--steps", type=int, default=5, help="timed iterations per configuration")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    p.add_argument("--size", type=int, default=28, help="image size (28: MNIST-like grey)")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def synthetic_data(n: int, channels: int, size: int, seed: int):
    """Uniform-noise uint8 images with 10 labels (speed does not depend on pixel values)."""
    import torch

    from gensuite.api import DatasetInfo
    from gensuite.data.containers import ImageClassData

    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 10
    info = DatasetInfo(name="synthetic", description="uniform noise (benchmark)", files=())
    return ImageClassData(info=info, train_images=x, train_labels=y, test_images=x[:64],
                          test_labels=y[:64], classes=tuple(str(i) for i in range(10)))


def time_config(data, args, *, backbone: str, batch: int, amp: bool,
                graph: bool = False) -> float:
    """Images/s of ``args.steps`` iterations after ``args.warmup`` untimed ones."""
    import torch

    from gensuite.algorithms.gan import GAN, GANConfig
    from gensuite.api import RunContext, Schedule

    config = GANConfig(backbone=backbone, batch_size=batch, amp=amp, channels_last=amp,
                       cuda_graph=graph)
    steps = args.warmup + args.steps
    algo = GAN(config, data, RunContext(seed=args.seed, device=args.device,
                                        schedule=Schedule(steps=10**9)))
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    for step in range(args.warmup):
        algo.train_step(step)
    sync()
    start = time.perf_counter()
    for step in range(args.warmup, steps):
        algo.train_step(step)  # returns floats: it has synchronised already
    sync()
    return batch * args.steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    data = synthetic_data(max(batches) * 4, args.channels, args.size, args.seed)
    cuda = args.device.startswith("cuda")
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"GAN D+G iteration, {args.channels}×{args.size}×{args.size}, {where}, "
          f"{args.steps} timed iterations after {args.warmup}")
    header = f"{'backbone':<10} {'batch':>5} {'eager fp32 img/s':>17}"
    variants = [("AMP bf16+CL", dict(amp=True)), ("graph fp32", dict(graph=True)),
                ("graph bf16+CL", dict(amp=True, graph=True))] if cuda else []
    print(header + "".join(f" {name + ' img/s':>19} {'×':>6}" for name, _ in variants))
    for backbone in args.backbones.split(","):
        for batch in batches:
            eager = time_config(data, args, backbone=backbone, batch=batch, amp=False)
            line = f"{backbone:<10} {batch:>5} {eager:>17.1f}"
            for _, kw in variants:
                fast = time_config(data, args, backbone=backbone, batch=batch, **kw)
                line += f" {fast:>19.1f} {fast / eager:>5.2f}×"
            print(line, flush=True)


if __name__ == "__main__":
    main()
