"""A small CNN image classifier: the evaluation classifier behind IS/FID/KID, class-conditional
accuracy and class histograms of generated images (trained by ``gensuite.evaluators``).

Two blocks of 3×3 conv → BN → 2×2 max-pool → ReLU (32 and 64 filters), adaptive average
pooling to 7×7 (identity at 28 px; 32 and 64 px inputs give the same feature size), a hidden
fully connected layer of 128 (the "penultimate" features), dropout, and the linear layer that
gives the logits. On MNIST, two epochs (Adam, one-cycle; see gensuite.evaluators) give
99.13-99.18% test accuracy over seeds 0-2 in 46 s on 2 CPU cores; one epoch gives 98.8-98.9%.
Pooling to 4×4 instead lost 0.9% at equal cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

ARCHS = ("cnn",)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Float pixels on the 0..255 scale → the classifier's input range [-1, 1]."""
    return x / 127.5 - 1.0


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 → the classifier's float input in [-1, 1] (same device)."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images in 0..255, got {images.dtype}")
    return normalize(images.to(torch.float32))


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),  # bias is redundant before BN
        nn.BatchNorm2d(c_out),
        nn.MaxPool2d(2),  # pooling before the ReLU gives the same output for 4× less ReLU work
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """``forward(x)`` → logits (N, num_classes); ``features(x)`` → penultimate (N, hidden).

    ``x`` is float (N, in_channels, H, W) as made by ``to_input``; any H, W ≥ 16 works.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        width: int = 32,
        hidden: int = 128,
        dropout: float = 0.25,  # 0.5 costs ~0.1% test accuracy in a 2-epoch schedule
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.body = nn.Sequential(
            _block(in_channels, width),
            _block(width, 2 * width),
            nn.AdaptiveAvgPool2d(7),  # 28 px: already 7×7; 32 px: 8×8 → 7×7; 64 px: 16×16 → 7×7
            nn.Flatten(),
            nn.Linear(2 * width * 49, hidden),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features: the input of the last linear layer (before dropout)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs from one pass (what the feature extractor needs)."""
        feats = self.features(x)
        return self.head(self.dropout(feats)), feats


def build_classifier(arch: str, in_channels: int, num_classes: int) -> nn.Module:
    """The classifier called ``arch`` (see ``ARCHS``)."""
    if arch == "cnn":
        return SmallCNN(in_channels, num_classes)
    raise ValueError(f"unknown classifier arch {arch!r}; known: {', '.join(ARCHS)}")


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """The recipe of an evaluation classifier: everything besides the data that decides its
    weights (all of it enters its cache key)."""

    arch: str = "cnn"
    seed: int = 0
    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3  # OneCycle peak for Adam
    train_limit: int = 0  # train on the first N training images only (smoke runs); 0: all


@dataclass(frozen=True, kw_only=True, eq=False)
class EvaluationClassifier:
    """A trained classifier and what it was trained on; ``model`` is in eval mode."""

    dataset: str
    title: str  # the dataset as reports name it, e.g. "MNIST"
    model: nn.Module
    classes: tuple[str, ...]
    in_channels: int
    image_size: tuple[int, int]
    settings: TrainSettings
    meta: dict[str, Any]  # test_acc, train_acc_running, data_fingerprint, torch, seconds, ...
    sha256: str  # of the serialized state (the cache file's bytes)
    path: Path | None = None  # the cache file it was loaded from or saved to

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def test_acc(self) -> float:
        return float(self.meta["test_acc"])

    @property
    def label(self) -> str:
        """How metrics computed with it are labelled: "MNIST classifier"."""
        return f"{self.title} classifier"

    @property
    def description(self) -> str:
        s = self.settings
        return f"{self.label} ({s.arch}, seed {s.seed}, test acc {100 * self.test_acc:.1f}%)"
