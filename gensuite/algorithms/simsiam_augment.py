"""SimSiam's CIFAR augmentations (Chen & He 2021, Appendix D; their CIFAR demo), two ways:

- ``torchvision_views``: torchvision.transforms.v2 applied image by image (RandomResizedCrop(32,
  scale 0.2–1), RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p 0.8), RandomGrayscale(0.2),
  RandomHorizontalFlip), the reference;
- ``batched_views``: the same distribution drawn per image but applied to the whole batch at
  once with tensor operations (each image its own crop box, jitter factors, order of the four
  jitter operations, grayscale and flip coins), several times faster on a CPU at 32 px.

The batched crop resamples all boxes in one ``grid_sample`` at the coordinates torchvision's
crop-then-bilinear-resize uses (a crop inside a 32-px image is always enlarged, where antialiasing
does nothing); tests/test_simsiam.py checks each batched operation against torchvision's
functional one. Both draw only from the ``torch.Generator``
they are given (the torchvision path through a private global-RNG state), so the same seed gives
the same views.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # SimSiam's CIFAR demo normalisation
CIFAR_STD = (0.2470, 0.2435, 0.2616)
SCALE, RATIO = (0.2, 1.0), (3 / 4, 4 / 3)
JITTER = (0.4, 0.4, 0.4, 0.1)  # brightness, contrast, saturation, hue
P_JITTER, P_GRAY, P_FLIP = 0.8, 0.2, 0.5
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale


def _uniform(gen: torch.Generator, lo: float, hi: float, shape: tuple[int, ...]) -> Tensor:
    return torch.rand(shape, generator=gen) * (hi - lo) + lo


def crop_boxes(n: int, size: int, gen: torch.Generator, scale=SCALE, ratio=RATIO,
               tries: int = 10) -> Tensor:
    """(n, 4) integer boxes (top, left, height, width) drawn as RandomResizedCrop.get_params
    does: up to 10 tries of area and log-ratio, else the whole (square) image."""
    area = size * size
    target = area * _uniform(gen, scale[0], scale[1], (n, tries))
    log_r = _uniform(gen, math.log(ratio[0]), math.log(ratio[1]), (n, tries))
    ar = torch.exp(log_r)
    w = torch.round(torch.sqrt(target * ar))
    h = torch.round(torch.sqrt(target / ar))
    ok = (w > 0) & (h > 0) & (w <= size) & (h <= size)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1))
    rows = torch.arange(n)
    h = torch.where(first >= 0, h[rows, first.clamp(min=0)], torch.full((n,), float(size)))
    w = torch.where(first >= 0, w[rows, first.clamp(min=0)], torch.full((n,), float(size)))
    top = torch.floor(torch.rand(n, generator=gen) * (size - h + 1))
    left = torch.floor(torch.rand(n, generator=gen) * (size - w + 1))
    return torch.stack([top, left, h, w], 1).long()


def resized_crops(x: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Each image's box resized to size × size as torchvision's crop-then-bilinear-resize does
    (half-pixel centres, the crop's edge pixels repeated beyond it), for all images in one
    ``grid_sample``."""
    top, left, h, w = boxes.to(x.device, x.dtype).unbind(1)
    o = (torch.arange(size, device=x.device, dtype=x.dtype) + 0.5) / size  # output centres
    # source pixel coordinate inside the crop, clamped to its first/last pixel centre
    ys = top[:, None] + ((o[None] * h[:, None]) - 0.5).clamp(min=0).minimum(h[:, None] - 1)
    xs = left[:, None] + ((o[None] * w[:, None]) - 0.5).clamp(min=0).minimum(w[:, None] - 1)
    height, width = x.shape[-2:]
    gy = (ys + 0.5) / height * 2 - 1  # grid_sample's normalised coordinates (align_corners False)
    gx = (xs + 0.5) / width * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)],
                       dim=-1)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)


def grayscale(x: Tensor) -> Tensor:
    r, g, b = x.unbind(1)
    w = GRAY_WEIGHTS
    return (w[0] * r + w[1] * g + w[2] * b).unsqueeze(1)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp(0, 1)


def brightness(x: Tensor, f: Tensor) -> Tensor:
    return _blend(x, torch.zeros_like(x), f)


def contrast(x: Tensor, f: Tensor) -> Tensor:
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), f)


def saturation(x: Tensor, f: Tensor) -> Tensor:
    return _blend(x, grayscale(x).expand_as(x), f)


def _rgb_to_hsv(x: Tensor) -> Tensor:
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_div = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_div, (maxc - g) / cr_div, (maxc - b) / cr_div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack([h, s, maxc], 1)


def _hsv_to_rgb(x: Tensor) -> Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int64) % 6
    p = (v * (1.0 - s)).clamp(0, 1)
    q = (v * (1.0 - s * f)).clamp(0, 1)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1)
    table = torch.stack([  # (6 sectors, 3 channels, ...) of the candidate values
        torch.stack([v, t, p], 1), torch.stack([q, v, p], 1), torch.stack([p, v, t], 1),
        torch.stack([p, q, v], 1), torch.stack([t, p, v], 1), torch.stack([v, p, q], 1)])
    idx = i.unsqueeze(0).unsqueeze(2).expand(1, -1, 3, -1, -1)
    return table.gather(0, idx).squeeze(0)


def hue(x: Tensor, f: Tensor) -> Tensor:
    hsv = _rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + f.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(torch.stack([h, hsv[:, 1], hsv[:, 2]], 1))


_JITTER_OPS = (brightness, contrast, saturation, hue)


def color_jitter(x: Tensor, gen: torch.Generator, strength=JITTER) -> Tensor:
    """ColorJitter per image: its own four factors and its own order of the four operations."""
    n = len(x)
    b, c, s, h = strength
    factors = torch.stack([_uniform(gen, 1 - b, 1 + b, (n,)), _uniform(gen, 1 - c, 1 + c, (n,)),
                           _uniform(gen, 1 - s, 1 + s, (n,)), _uniform(gen, -h, h, (n,))], 1)
    order = torch.argsort(torch.rand(n, 4, generator=gen), dim=1)  # a permutation per image
    x = x.clone()
    for k in range(4):
        for j, op in enumerate(_JITTER_OPS):
            m = order[:, k] == j
            if m.any():
                x[m] = op(x[m], factors[m, j].to(x))
    return x


def batched_views(images: Tensor, gen: torch.Generator, size: int = 32) -> Tensor:
    """One augmented view of each uint8 (N, 3, H, W) image → normalised float (N, 3, size,
    size); every random choice per image, drawn from ``gen``."""
    x = images.float().div(255)
    n = len(x)
    x = resized_crops(x, crop_boxes(n, images.shape[-1], gen), size).clamp(0, 1)
    jitter = torch.rand(n, generator=gen) < P_JITTER
    if jitter.any():
        x[jitter] = color_jitter(x[jitter], gen)
    gray = torch.rand(n, generator=gen) < P_GRAY
    if gray.any():
        x[gray] = grayscale(x[gray]).expand(-1, 3, -1, -1)
    flip = (torch.rand(n, generator=gen) < P_FLIP).view(-1, 1, 1, 1)
    x = torch.where(flip.to(x.device), x.flip(-1), x)
    return normalize(x)


def normalize(x: Tensor) -> Tensor:
    mean = torch.tensor(CIFAR_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def torchvision_pipeline(size: int = 32):
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomResizedCrop(size, scale=SCALE, ratio=RATIO, antialias=True),
        v2.RandomApply([v2.ColorJitter(*JITTER)], p=P_JITTER),
        v2.RandomGrayscale(p=P_GRAY),
        v2.RandomHorizontalFlip(p=P_FLIP),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])


_PIPELINES: dict[int, object] = {}


def torchvision_views(images: Tensor, gen: torch.Generator, size: int = 32) -> Tensor:
    """The reference: torchvision.transforms.v2 image by image. v2 draws from torch's global
    generator, so it runs on a private state seeded from ``gen`` (the caller's state is kept)."""
    pipe = _PIPELINES.setdefault(size, torchvision_pipeline(size))
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([pipe(img) for img in images])
