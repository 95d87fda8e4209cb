"""Speed of SimSiam's training step: images/s at the quick and paper backbones, the share spent
on augmentation (batched vs torchvision.transforms.v2 image by image), and on CUDA channels_last
+ bf16 autocast against plain fp32 in one run.

A benchmark script, not a test: it prints figures and asserts nothing. Synthetic 32-px images
(speed does not depend on the pixels).

    python bench/simsiam_speed.py --threads 2
    python bench/simsiam_speed.py --device cuda --batch 512 --steps 20
"""

from __future__ import annotations

import argparse
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="+", default=["resnet10-w16-s2", "resnet18"])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def _time(fn, steps: int, sync) -> float:
    fn()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - t0) / steps


def _step(backbone, proj, pred, opt, a, b, device_type: str, fast: bool):
    """One SimSiam update on the views a, b (bf16 autocast when ``fast``)."""
    import torch

    from gensuite.algorithms.simsiam import simsiam_loss

    def step():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=fast):
            z1, z2 = proj(backbone(a)), proj(backbone(b))
            loss = simsiam_loss(pred(z1), pred(z2), z1, z2, True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gensuite.algorithms.simsiam_augment import batched_views, torchvision_views
    from gensuite.models.simsiam import CifarResNet, predictor, projector

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, 32, 32), dtype=torch.uint8, generator=gen)
    print(f"device {device}, {args.threads} thread(s), batch {args.batch} (two views each)")
    t_batched = _time(lambda: batched_views(images, gen), args.steps, lambda: None)
    t_tv = _time(lambda: torchvision_views(images, gen), max(1, args.steps // 2), lambda: None)
    print(f"augmentation of one view: batched {t_batched * 1000:.0f} ms, torchvision v2 image "
          f"by image {t_tv * 1000:.0f} ms ({t_tv / t_batched:.1f}× slower)")
    x1, x2 = (batched_views(images, gen).to(device) for _ in range(2))
    settings = [("fp32", False)] + ([("bf16 + channels_last", True)] if cuda else [])
    for name in args.backbones:
        for label, fast in settings:
            backbone = CifarResNet(name).to(device)
            dim, hidden = (2048, 512) if name == "resnet18" else (512, 128)  # paper / quick
            proj = projector(backbone.width, dim).to(device)
            pred = predictor(dim, hidden).to(device)
            params = [*backbone.parameters(), *proj.parameters(), *pred.parameters()]
            opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
            a, b = x1, x2
            if fast:
                backbone = backbone.to(memory_format=torch.channels_last)
                a, b = (t.contiguous(memory_format=torch.channels_last) for t in (x1, x2))

            step = _step(backbone, proj, pred, opt, a, b, device.type, fast)
            t = _time(step, args.steps, sync)
            total = t + 2 * t_batched
            print(f"{name:16s} {label:21s}: model step {t * 1000:7.0f} ms; with batched "
                  f"augmentation {2 * args.batch / total:7.0f} images/s (augmentation "
                  f"{100 * 2 * t_batched / total:.0f}% of the step)")


if __name__ == "__main__":
    main()
