"""The 4-block convolutional embedding of Vinyals et al. 2016 and Snell et al. 2017 (Sec. 3.2).

Each block is a 3×3 convolution, batch norm, ReLU and 2×2 max-pooling; a 28×28 Omniglot image
shrinks 28 → 14 → 7 → 3 → 1, so the flattened output has ``out`` features (64 in the papers).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 conv (padding 1) → BatchNorm → 2×2 max-pool → ReLU.

    The papers apply ReLU before pooling; max-pooling commutes with the monotone ReLU, so pooling
    first gives identical outputs while the ReLU (and its backward) touches 4× fewer elements.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
    )


class Conv4(nn.Module):
    """Four conv blocks: ``hidden`` filters in the first three, ``out`` in the last; flattened."""

    def __init__(self, in_channels: int = 1, hidden: int = 64, out: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(in_channels, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)
