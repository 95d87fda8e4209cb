"""DARTS's CIFAR-10 input pipeline (the authors' utils._data_transforms_cifar10), on batches:
random crop of 32 px from the image padded by 4 px of zeros, a random horizontal flip, the
CIFAR-10 normalisation, and for the evaluation networks cutout (DeVries & Taylor 2017: one
square of side 16 zeroed, its centre anywhere in the image, after normalisation). Each image has
its own draws, all from the ``torch.Generator`` given. Batches come from
gensuite.data.batches.ShuffledBatches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

CIFAR_MEAN = (0.49139968, 0.48215827, 0.44653124)  # the authors' utils.py
CIFAR_STD = (0.24703233, 0.24348505, 0.26158768)


def normalize(x: Tensor) -> Tensor:
    """uint8 → float, CIFAR-10 mean/std."""
    mean = torch.tensor(CIFAR_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=x.device).view(1, 3, 1, 1)
    return (x.float().div(255) - mean) / std


def random_crop_flip(x: Tensor, gen: torch.Generator, pad: int = 4) -> Tensor:
    """Each image cropped back to its size from a zero-padded copy at a random offset, then
    flipped with probability ½ (RandomCrop(32, padding=4) + RandomHorizontalFlip)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # (n, h)
    cols = dx[:, None] + torch.arange(w)[None]  # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(x.device)
    idx = torch.arange(n, device=x.device)[:, None, None]
    out = padded[idx, :, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def cutout(x: Tensor, gen: torch.Generator, length: int = 16) -> Tensor:
    """Zero one length × length square per image (clipped at the border), centred anywhere."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=gen).to(x.device)
    cx = torch.randint(0, w, (n,), generator=gen).to(x.device)
    ys = torch.arange(h, device=x.device)[None]
    xs = torch.arange(w, device=x.device)[None]
    in_y = (ys >= (cy[:, None] - length // 2)) & (ys < (cy[:, None] + length // 2))
    in_x = (xs >= (cx[:, None] - length // 2)) & (xs < (cx[:, None] + length // 2))
    mask = (in_y[:, :, None] & in_x[:, None, :]).unsqueeze(1)
    return x.masked_fill(mask, 0.0)
