"""What the domain-adaptation plug-ins (DANN, ADDA) share: mini-batches per domain, the
classifier evaluation on the target's test split, the monitor, the figures and the features
drawn by t-SNE (``DomainAdaptationBase``).

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
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult
from gensuite.data.batches import ShuffledBatches
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.seeds import SeedStreams


def scale(images: Tensor) -> Tensor:
    """uint8 0..255 → float −1..1 (both domains the same way: no per-domain statistics)."""
    return images.float().div(127.5).sub(1.0)


def limited(n: int, limit: int) -> int:
    return n if not limit else min(limit, n)


class DomainBatches(ShuffledBatches):
    """One domain's training images (and labels, when the run may read them), kept on the
    device and scaled to −1..1 as they are drawn."""

    def __init__(self, images: Tensor, labels: Tensor | None, batch: int,
                 generator: torch.Generator, device: torch.device) -> None:
        super().__init__(images.to(device), None if labels is None else labels.to(device),
                         batch, generator)

    def next(self) -> tuple[Tensor, Tensor | None]:
        x, y = super().next()
        return scale(x), y


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


class DomainAdaptationBase(AlgorithmBase):
    """The parts DANN and ADDA share. A subclass sets ``method`` ("DANN") and ``adapt_mode``
    (its config's adaptation mode, "dann"), builds its networks and calls ``_make_batches``;
    ``_encoders()`` names the networks that classify each domain, and ``_test_extras`` adds its
    own details (the domain classifier's test accuracy...)."""

    method: ClassVar[str]
    adapt_mode: ClassVar[str]
    config: Any
    data: Any
    streams: SeedStreams
    device: torch.device
    source: DomainBatches | None
    target: DomainBatches | None

    def _make_batches(self) -> None:
        """Source batches with labels (adaptation, source only); target batches without labels
        (adaptation) or with them (the target-only row, the one that reads them)."""
        c, src, tgt = self.config, self.data.source, self.data.target
        n_src = limited(len(src.train_images), c.train_limit)
        n_tgt = limited(len(tgt.train_images), c.train_limit)
        self.source = self.target = None
        if c.mode in (self.adapt_mode, "source-only"):
            self.source = DomainBatches(src.train_images[:n_src], src.train_labels[:n_src],
                                        c.batch_size, self.streams.generator("source"),
                                        self.device)
        if c.mode == self.adapt_mode:  # target images without their labels
            self.target = DomainBatches(tgt.train_images[:n_tgt], None, c.batch_size,
                                        self.streams.generator("target"), self.device)
        if c.mode == "target-only":  # the upper bound: trained on the target's labels
            self.target = DomainBatches(tgt.train_images[:n_tgt], tgt.train_labels[:n_tgt],
                                        c.batch_size, self.streams.generator("target"),
                                        self.device)

    def _encoders(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        """(encoder of source images, encoder of target images, classifier head)."""
        raise NotImplementedError

    def _scored(self, n: int) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        """(predictions, features, labels) of the first ``n`` test images of each domain."""
        src_enc, tgt_enc, head = self._encoders()
        out = {}
        for name, d, enc in (("source", self.data.source, src_enc),
                             ("target", self.data.target, tgt_enc)):
            k = limited(len(d.test_images), n)
            pred, feats = predict(enc, head, d.test_images[:k], self.device)
            out[name] = (pred, feats, d.test_labels[:k])
        return out

    def validate(self) -> dict[str, float]:
        if not self.config.val_images:
            return {}
        s = self._scored(self.config.val_images)
        # a monitor only: no row chooses its model by it (see the module docstring)
        return {f"val_{d}_acc": accuracy_of(p, y).mean for d, (p, _, y) in s.items()}

    @torch.no_grad()
    def _domain_accuracy(self, classifier: nn.Module, fs: Tensor, ft: Tensor,
                         source_is: float) -> float:
        """A domain classifier's accuracy (%) on source vs target test features, as many of
        each; its logit > 0 means the domain labelled 1 (``source_is``: source's label)."""
        k = min(len(fs), len(ft))
        classifier.eval()
        logits = classifier(torch.cat([fs[:k], ft[:k]]).to(self.device)).squeeze(1).cpu()
        classifier.train()
        truth = torch.cat([torch.full((k,), source_is), torch.full((k,), 1.0 - source_is)])
        return float(((logits > 0).float() == truth).float().mean() * 100)

    def _test_extras(self, fs: Tensor, ft: Tensor) -> dict[str, Any]:
        return {}

    def test(self, curves: Curves) -> EvalResult:
        c = self.config
        s = self._scored(c.test_limit)
        (ps, fs, ys), (pt, ft, yt) = s["source"], s["target"]
        metrics = {"accuracy": accuracy_of(pt, yt), "source_accuracy": accuracy_of(ps, ys)}
        details: dict[str, Any] = {
            "mode": c.mode, "target_test_images": len(yt), "source_test_images": len(ys),
            "model_selection": "last step (fixed schedule; no target labels used to choose)",
            **self._test_extras(fs, ft),
        }
        k = c.tsne_points
        self._tsne = TsnePoints.of((fs[:k], ys[:k]), (ft[:k], yt[:k])) if k else None
        return EvalResult(metrics=metrics, details=details)

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.da_figures import training_curves, tsne_figures

        d, mode = self.data, self.config.mode
        title = {self.adapt_mode: f"after adaptation ({self.method})",
                 "source-only": "trained on source only", "target-only": "trained on target"}[mode]
        paths = training_curves(curves, Path(outdir) / "training.png",
                                f"{self.method} ({mode}): {d.source.display_name} → "
                                f"{d.target.display_name}")
        if getattr(self, "_tsne", None) is not None:
            paths += tsne_figures(self._tsne, Path(outdir), d, title, seed=self.ctx.seed)
        return paths

    def _batches_state(self) -> dict[str, Any]:
        return {name: b.state_dict() for name in ("source", "target")
                if (b := getattr(self, name)) is not None}

    def _load_batches_state(self, state: dict[str, Any]) -> None:
        for name in ("source", "target"):
            batches = getattr(self, name)
            if batches is not None:
                batches.load_state_dict(state[name])
