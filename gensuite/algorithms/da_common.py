"""What the domain-adaptation plug-ins (DANN, ADDA) share: mini-batches per domain, the
classifier evaluation on the target's test split, and the features drawn by t-SNE.

Target *training* labels are read only by the "target-only" rows (the upper bound, trained on
them); adaptation and source-only training draw target images without their labels, and the
data they keep has no target training labels at all (``DomainBatches(labels=None)``).
Model selection never sees target labels either: every row keeps its last step's model (a fixed
schedule); the target accuracy at each evaluation is a monitor drawn as a curve, never used to
choose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gensuite.api import Estimate
from gensuite.metrics.accuracy import accuracy_estimate


def scale(images: Tensor) -> Tensor:
    """uint8 0..255 → float −1..1 (both domains the same way: no per-domain statistics)."""
    return images.float().div(127.5).sub(1.0)


def limited(n: int, limit: int) -> int:
    return n if not limit else min(limit, n)


class DomainBatches:
    """Endless shuffled mini-batches of one domain's training images (and labels, when the run
    may read them), epoch after epoch, from the run's own generator (resumable)."""

    def __init__(self, images: Tensor, labels: Tensor | None, batch: int,
                 generator: torch.Generator, device: torch.device) -> None:
        if len(images) < batch:
            raise ValueError(f"batch_size {batch} exceeds the {len(images)} training images")
        self.images = images.to(device)
        self.labels = None if labels is None else labels.to(device)
        self.batch, self.gen = batch, generator
        self.perm, self.pos = torch.randperm(len(images), generator=generator), 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        if self.pos + self.batch > len(self.perm):  # drop the ragged tail, reshuffle
            self.perm, self.pos = torch.randperm(len(self.perm), generator=self.gen), 0
        idx = self.perm[self.pos: self.pos + self.batch].to(self.images.device)
        self.pos += self.batch
        x = scale(self.images[idx])
        return x, (None if self.labels is None else self.labels[idx])

    @property
    def steps_per_epoch(self) -> int:
        return len(self.perm) // self.batch

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.perm, self.pos = state["perm"].clone(), int(state["pos"])


class PrivateRng:
    """A run's own stream of torch's global generator, which dropout draws from: inside
    ``active()`` the global state is this stream's; on leaving, the stream has advanced and the
    caller's global state is back. Two runs in one process then never shift each other's draws,
    and a resumed run does not depend on what ran before it."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.cuda = device if device.type == "cuda" else None
        with torch.random.fork_rng(devices=self._devices()):
            torch.manual_seed(seed)
            self.state = self._get()

    def _devices(self) -> list:
        return [self.cuda] if self.cuda is not None else []

    def _get(self) -> tuple[Tensor, Tensor | None]:
        return (torch.get_rng_state(),
                torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None)

    @contextmanager
    def active(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=self._devices()):
            torch.set_rng_state(self.state[0])
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.state[1], self.cuda)
            yield
            self.state = self._get()

    def state_dict(self) -> dict[str, Any]:
        return {"cpu": self.state[0].clone(),
                "cuda": None if self.state[1] is None else self.state[1].clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = (state["cpu"].clone(),
                      None if state["cuda"] is None else state["cuda"].clone())


@torch.no_grad()
def predict(encoder: nn.Module, head: nn.Module, images: Tensor, device: torch.device,
            batch: int = 1000) -> tuple[Tensor, Tensor]:
    """(predicted labels, features) of uint8 images, networks in eval mode (restored after)."""
    modes = [m.training for m in (encoder, head)]
    encoder.eval(), head.eval()
    preds, feats = [], []
    for chunk in images.split(batch):
        f = encoder(scale(chunk.to(device)))
        preds.append(head(f).argmax(1).cpu())
        feats.append(f.cpu())
    encoder.train(modes[0]), head.train(modes[1])
    empty = torch.zeros(0, dtype=torch.long)
    return (torch.cat(preds) if preds else empty), (torch.cat(feats) if feats else empty)


def accuracy_of(pred: Tensor, labels: Tensor) -> Estimate:
    """Accuracy in % with its 95% interval over the test images (normal approximation)."""
    return accuracy_estimate((pred == labels).double().tolist(), over="images")


@dataclass
class TsnePoints:
    """Test features of both domains for the t-SNE figure (the first ``n`` of each split)."""

    features: Tensor  # (n_source + n_target, d)
    labels: Tensor  # classes
    domains: Tensor  # 0 source, 1 target

    @classmethod
    def of(cls, source: tuple[Tensor, Tensor], target: tuple[Tensor, Tensor]) -> TsnePoints:
        (fs, ys), (ft, yt) = source, target
        return cls(features=torch.cat([fs, ft]), labels=torch.cat([ys, yt]),
                   domains=torch.cat([torch.zeros(len(fs)), torch.ones(len(ft))]).long())
