"""Endless shuffled mini-batches of a tensor dataset, epoch after epoch, from a run's own
generator (resumable): the sampler of the plug-ins that draw whole batches by index (DANN/ADDA,
SimSiam, DARTS). Each epoch is a fresh permutation; its ragged tail is dropped."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ShuffledBatches:
    """``next()`` → (images[idx], labels[idx] or None); ``labels=None`` for unlabelled data."""

    def __init__(self, images: Tensor, labels: Tensor | None, batch: int,
                 generator: torch.Generator) -> None:
        if len(images) < batch:
            raise ValueError(f"batch_size {batch} exceeds the {len(images)} training images")
        self.images, self.labels, self.batch, self.gen = images, labels, batch, generator
        self.perm, self.pos = torch.randperm(len(images), generator=generator), 0

    def next_indices(self) -> Tensor:
        if self.pos + self.batch > len(self.perm):  # drop the ragged tail, reshuffle
            self.perm, self.pos = torch.randperm(len(self.perm), generator=self.gen), 0
        idx = self.perm[self.pos: self.pos + self.batch]
        self.pos += self.batch
        return idx.to(self.images.device)

    def next(self) -> tuple[Tensor, Tensor | None]:
        idx = self.next_indices()
        return self.images[idx], (None if self.labels is None else self.labels[idx])

    @property
    def steps_per_epoch(self) -> int:
        return len(self.perm) // self.batch

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.perm, self.pos = state["perm"].clone(), int(state["pos"])
