"""The container that labelled-image dataset builders return (MNIST, Fashion-MNIST, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gensuite.api import DatasetInfo


@dataclass(frozen=True, kw_only=True)
class ImageClassData:
    """A train/test split of labelled images.

    Images are uint8 (N, C, H, W) in 0..255, exactly as stored on disk (no normalisation, so
    every consumer decides its own); labels are int64 (N,) indexing ``classes``.
    """

    info: DatasetInfo
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    title: str = ""  # how reports name it ("MNIST"); empty: info.name

    @property
    def display_name(self) -> str:
        return self.title or self.info.name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train_images.shape[1:])
