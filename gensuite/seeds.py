"""Named random streams derived from a case's seed: the one rule every plug-in uses.

Each stream (training data order, evaluation noise, figure noise, validation episodes...) gets
its own ``torch.Generator`` seeded from the case seed and the stream's *name*, so adding,
removing or reordering draws in one stream never shifts another, and two streams never share a
seed by accident. By default a stream's seed is the first 63 bits of sha256("<seed>/<name>")
(``index`` — an epoch, say — is appended to the name).

Plug-ins whose committed numbers predate this helper declare their historical derivations
(``Stream(offset=1_000_003)``: seed + offset + index; ``Stream(multiplier=7919)``:
seed · 7919 + index), so those numbers reproduce exactly; new plug-ins name streams and
declare nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Stream:
    """A historical derivation: ``seed · multiplier + offset + index``."""

    offset: int = 0
    multiplier: int = 1


@dataclass(frozen=True)
class SeedStreams:
    """The streams of one run: ``SeedStreams(ctx.seed, DECLARED).generator("val")``."""

    seed: int
    declared: Mapping[str, Stream] = field(default_factory=dict)

    def seed_of(self, name: str, index: int = 0) -> int:
        stream = self.declared.get(name)
        if stream is not None:
            return self.seed * stream.multiplier + stream.offset + index
        key = f"{self.seed}/{name}" + (f"/{index}" if index else "")
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1

    def generator(self, name: str, index: int = 0, device: str | torch.device = "cpu"
                  ) -> torch.Generator:
        return torch.Generator(device).manual_seed(self.seed_of(name, index))
