"""DARTS search (Liu, Simonyan & Yang, ICLR 2019, Sec. 2 and 3.1; course report A-Q4): the
bilevel optimisation of a one-shot network's weights w (on one half of the CIFAR-10 training
set) and its architecture α (on the other half), first or second order.

One ``train_step`` = one α step (gensuite.models.darts.architect: Adam 3e-4, β 0.5/0.999,
weight decay 1e-3, on a batch of the validation half; ``unrolled`` for the second order) then
one weight step (SGD 0.025 → 0.001 by a cosine, momentum 0.9, weight decay 3e-4, gradient norm
clipped at 5) on a batch of the training half, both halves with the random crop and flip of the
authors' train_search.py. The search network: 8 cells of 16 initial channels, batch 64, 50
epochs (the paper's).

Every evaluation records the derived genotype (top-2 non-"none" edges per node) and softmax(α),
and scores the one-shot network on the validation half; the record keeps the genotype history,
and the figures draw α per edge over the search and the final cells.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812

from gensuite.algorithms.darts_data import normalize, random_crop_flip
from gensuite.algorithms.darts_eval import as_cifar
from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext, eval_field
from gensuite.data.batches import ShuffledBatches
from gensuite.data.containers import ImageClassData
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.models.darts.architect import Architect
from gensuite.models.darts.genotypes import to_dict
from gensuite.models.darts.search_cnn import SearchNetwork
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams


@dataclass(frozen=True, kw_only=True)
class DartsSearchConfig:
    """Liu et al. (2019), Sec. 3.1 and the authors' train_search.py defaults."""

    data_type: ClassVar[type] = ImageClassData

    unrolled: bool = False  # True: second order (eq. 7-8)
    init_channels: int = 16
    layers: int = 8
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    hessian_r: float = 1e-2  # ε = r / ‖∇w' L_val‖ (the paper's 0.01)
    train_portion: float = 0.5  # the training set's share that trains w; the rest trains α
    train_limit: int = 0  # the first N training images (a class-balanced prefix); 0: all
    val_images: int = 1000  # validation-half images scored at each evaluation
    test_limit: int = eval_field(0)  # validation-half images scored at the end; 0: all

    def __post_init__(self) -> None:
        if not 0.0 < self.train_portion < 1.0:
            raise ValueError(f"train_portion must lie in (0, 1); got {self.train_portion}")
        if self.init_channels % 2:
            raise ValueError("init_channels must be even (factorised reductions halve it)")


@register_algorithm("darts-search")
class DartsSearch(AlgorithmBase):
    """DARTS's bilevel search on CIFAR-10, first or second order (Liu et al. 2019)."""

    Config = DartsSearchConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(init_channels=4, layers=3, batch_size=4,
                                                 val_images=8)

    def __init__(self, config: DartsSearchConfig, data: ImageClassData,
                 ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        torch.manual_seed(ctx.seed)  # network and α initialisation
        self.net = SearchNetwork(c.init_channels, data.num_classes, c.layers).to(self.device)
        self.w_opt = torch.optim.SGD(self.net.weights(), lr=c.lr, momentum=c.momentum,
                                     weight_decay=c.weight_decay)
        self.architect = Architect(self.net, self.w_opt, lr=c.arch_lr,
                                   weight_decay=c.arch_weight_decay, unrolled=c.unrolled,
                                   hessian_r=c.hessian_r)
        n = len(data.train_images) if not c.train_limit else min(c.train_limit,
                                                                  len(data.train_images))
        split = int(n * c.train_portion)
        images = as_cifar(data.train_images[:n])
        self.val_images = images[split:]
        self.val_labels = data.train_labels[split:n]
        self.train = ShuffledBatches(images[:split], data.train_labels[:split], c.batch_size,
                             self.streams.generator("train_batches"))
        self.val = ShuffledBatches(self.val_images, self.val_labels, c.batch_size,
                           self.streams.generator("val_batches"))
        self.aug_gen = self.streams.generator("augment")
        self.total = max(1, ctx.schedule.steps)
        self.history: list[dict[str, Any]] = []  # per evaluation: step, genotype, softmax(α)
        self.step = 0

    def lr_at(self, step: int) -> float:
        c = self.config
        t = min(step, self.total) / self.total
        return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * t))

    def _augmented(self, batches: ShuffledBatches) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batches.next()
        return (normalize(random_crop_flip(images, self.aug_gen).to(self.device)),
                labels.to(self.device))

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        lr = self.lr_at(step)
        for g in self.w_opt.param_groups:
            g["lr"] = lr
        xt, yt = self._augmented(self.train)
        xv, yv = self._augmented(self.val)
        self.net.train()
        self.architect.step(xt, yt, xv, yv, eta=lr)  # α first, at the current w
        logits = self.net(xt)
        loss = F.cross_entropy(logits, yt)
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.weights(), c.grad_clip)
        self.w_opt.step()
        for a in self.net.arch_parameters():  # α's gradient from this loss is not used
            a.grad = None
        self.step = step + 1
        acc = (logits.argmax(1) == yt).float().mean() * 100
        return {"loss": float(loss.detach()), "acc": float(acc), "lr": lr}

    @torch.no_grad()
    def _correct(self, n: int) -> torch.Tensor:
        k = len(self.val_images) if not n else min(n, len(self.val_images))
        self.net.eval()
        out = []
        for chunk, labels in zip(self.val_images[:k].split(500), self.val_labels[:k].split(500)):
            out.append((self.net(normalize(chunk.to(self.device))).argmax(1).cpu() == labels)
                       .double())
        self.net.train()
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.double)

    def _snapshot(self) -> dict[str, Any]:
        with torch.no_grad():
            alphas = {k: F.softmax(a, dim=-1).cpu().tolist() for k, a in
                      (("normal", self.net.alphas_normal), ("reduce", self.net.alphas_reduce))}
        return {"step": self.step, "genotype": to_dict(self.net.genotype()), "alphas": alphas}

    def validate(self) -> dict[str, float]:
        self.history.append(self._snapshot())
        if not self.config.val_images:
            return {}
        return {"val_acc": 100 * float(self._correct(self.config.val_images).mean())}

    def test(self, curves: Curves) -> EvalResult:
        correct = self._correct(self.config.test_limit)
        final = self._snapshot()
        history = self.history if self.history and self.history[-1]["step"] == self.step \
            else [*self.history, final]
        metrics: dict[str, Estimate] = {
            "val_accuracy": accuracy_estimate(correct.tolist(), over="images")}
        details = {
            "genotype": final["genotype"], "order": "second" if self.config.unrolled else "first",
            "genotype_history": [{"step": h["step"], "genotype": h["genotype"]}
                                 for h in history],
            "alphas_final": final["alphas"],
            "one_shot_parameters": sum(p.numel() for p in self.net.weights()),
            "val_images": len(correct), "train_images": len(self.train.images),
        }
        self._figure_history = history
        return EvalResult(metrics=metrics, details=details)

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.darts_eval import write_details
        from gensuite.algorithms.darts_figures import alpha_curves, cell_drawings

        history = getattr(self, "_figure_history", None) or []
        paths = [write_details(result, Path(outdir) / "search.json")]
        if len(history) >= 2:
            for kind in ("normal", "reduce"):
                paths.append(alpha_curves(history, kind, Path(outdir) / f"alphas_{kind}.png"))
        paths.append(cell_drawings(result.details["genotype"], Path(outdir) / "cells.png"))
        return paths

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({
            "net": self.net.state_dict(), "w_opt": self.w_opt.state_dict(),
            "arch_opt": self.architect.opt.state_dict(), "train": self.train.state_dict(),
            "val": self.val.state_dict(), "aug_gen": self.aug_gen.get_state(),
            "history": self.history, "step": self.step})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.architect.opt.load_state_dict(state["arch_opt"])
        self.train.load_state_dict(state["train"])
        self.val.load_state_dict(state["val"])
        self.aug_gen.set_state(state["aug_gen"])
        self.history = copy.deepcopy(state["history"])
        self.step = int(state["step"])
