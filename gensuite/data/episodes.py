"""A cheap, resumable N-way K-shot episode sampler (the containers: ``data.containers``)."""

from __future__ import annotations

from typing import Any

import torch


class EpisodeSampler:
    """Samples ``way``-way ``shot``-shot episodes with ``query`` queries per class.

    All randomness comes from ``generator``, so its state (``state_dict``) makes resuming exact.
    One episode costs two small random draws and one gather from the pre-stacked tensor.
    """

    def __init__(
        self, images: torch.Tensor, way: int, shot: int, query: int, generator: torch.Generator
    ) -> None:
        n_classes, n_examples = images.shape[:2]
        if not 0 < way <= n_classes:
            raise ValueError(f"way={way} needs 1..{n_classes} classes")
        if shot < 1 or query < 0 or shot + query > n_examples:
            raise ValueError(f"shot+query={shot + query} exceeds {n_examples} examples per class")
        self.images = images
        # index_select on a (C*K, ...) view is ~100x faster than fancy-indexing (C, K, ...).
        self._flat = images.flatten(0, 1)
        self.way, self.shot, self.query = way, shot, query
        self.generator = generator
        # Made on the images' device once: no host-to-device copy per episode (a CUDA graph
        # cannot capture one).
        self.query_labels = torch.arange(way, device=images.device).repeat_interleave(query)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(support (way*shot, ...), query (way*query, ...), query_labels (way*query,)).

        Support is class-major (class 0's shots first): prototypes are
        ``support.view(way, shot, -1).mean(1)``. Query is class-major too, labelled 0..way-1.
        """
        support, query = self.gather(self.sample_rows().to(self.images.device))
        return support, query, self.query_labels

    def sample_rows(self) -> torch.Tensor:
        """The episode as row numbers into the flattened (classes·examples) images, on the CPU:
        the generator's only draw (the same episodes on every device)."""
        n_classes, n_examples = self.images.shape[:2]
        classes = torch.randperm(n_classes, generator=self.generator)[: self.way]
        # argsort of uniform noise = one independent permutation per class, without a loop.
        noise = torch.rand(self.way, n_examples, generator=self.generator)
        examples = noise.argsort(dim=1)[:, : self.shot + self.query]
        return (classes[:, None] * n_examples + examples).flatten()

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(support, query) images of ``rows`` (from ``sample_rows``, on the images' device)."""
        picked = self._flat.index_select(0, rows).view(self.way, -1, *self._flat.shape[1:])
        rest = picked.shape[2:]
        support = picked[:, : self.shot].reshape(self.way * self.shot, *rest)
        query = picked[:, self.shot :].reshape(self.way * self.query, *rest)
        return support, query

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
