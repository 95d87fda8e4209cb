"""Training speed of the pix2pix plug-in: pairs/s of one D+G step, and evaluation time per image.

A benchmark script, not a test. Synthetic pairs of the given size (speed does not depend on the
pixels); the generator width (--ngf) and image size pick the network (unet_128 / unet_256).

    python bench/pix2pix_speed.py --size 128 --ngf 64 --threads 2
    python bench/pix2pix_speed.py --size 256 --ngf 64 --steps 5
"""

from __future__ import annotations

import argparse
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--eval-images", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.algorithms.pix2pix import Pix2Pix, Pix2PixConfig
    from gensuite.api import RunContext, Schedule
    from gensuite.data.containers import PairedImageData
    from gensuite.metrics.similarity import ssim_estimate

    torch.set_num_threads(args.threads)
    data = PairedImageData.synthetic(0, n_train=16, n_test=args.eval_images, size=args.size)
    config = Pix2PixConfig(ngf=args.ngf, ndf=args.ndf, fid=False)
    algo = Pix2Pix(config, data, RunContext(seed=0, device=args.device,
                                            schedule=Schedule(steps=10**6)))
    for step in range(args.warmup):
        algo.train_step(step)
    t0 = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.steps):
        algo.train_step(step)
    train_s = (time.perf_counter() - t0) / args.steps
    t0 = time.perf_counter()
    fake = algo.translate(data.test_inputs)
    gen_s = (time.perf_counter() - t0) / len(fake)
    t0 = time.perf_counter()
    ssim_estimate(fake.float() / 255, data.test_targets.float() / 255, data_range=1.0,
                  layout="NCHW", wang2004=True)
    ssim_s = (time.perf_counter() - t0) / len(fake)
    params = sum(p.numel() for p in algo.G.parameters()) / 1e6
    print(f"pix2pix {args.size}×{args.size}, G ngf {args.ngf} ({params:.1f} M parameters), "
          f"D ndf {args.ndf} ({algo.d_layers} layers), {args.device}, "
          f"{torch.get_num_threads()} threads")
    print(f"  training step (D + G, batch 1): {1e3 * train_s:.0f} ms, {1 / train_s:.2f} pairs/s")
    print(f"  evaluation per image: generate {1e3 * gen_s:.1f} ms, SSIM {1e3 * ssim_s:.1f} ms")


if __name__ == "__main__":
    main()
