"""DANN (Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016): domain-adversarial training of a
digit classifier, course report D-3, and its bounds (source only, trained on the target).

One network for every row: a feature extractor G_f and a label predictor G_y (Ganin et al.'s
MNIST architecture, gensuite.models.domain_adaptation). ``mode``:

- ``dann``: each step takes ``batch_size`` labelled source images and ``batch_size`` target
  images (the paper's batch of 128 = 64 + 64); the label loss is on the source half only, and a
  domain classifier G_d sees the features of both through the gradient reversal layer, so G_f
  learns features G_d cannot tell apart. λ follows the paper's schedule 2/(1+exp(−γp)) − 1
  (γ = 10, p the training progress 0 → 1) and the learning rate its annealing μ0/(1+αp)^β
  (μ0 = 0.01, α = 10, β = 0.75, SGD momentum 0.9); ``optimizer = "adam"`` with a constant rate
  is report D-3's setting (Adam 1e-4).
- ``source-only``: the same network and schedule without G_d, on the source labels only (the
  table's lower row).
- ``target-only``: the same, trained on the target's own training labels (the upper row).

Target training labels are read by the target-only row alone; every row keeps its last model
(see gensuite.algorithms.da_common). Scored on the target's test split: accuracy in % with its
95% interval over images; also the source test accuracy and, for DANN, the domain classifier's
accuracy on the two test splits (a DANN that works drives it toward chance, 50%).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from gensuite.algorithms.da_common import DomainAdaptationBase
from gensuite.api import RunContext, eval_field
from gensuite.data.containers import DomainPairData
from gensuite.models.domain_adaptation import (
    DannFeatures,
    dann_domain_head,
    dann_label_head,
    reverse_gradient,
)
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams

MODES = ("source-only", "dann", "target-only")
OPTIMIZERS = ("sgd", "adam")



@dataclass(frozen=True, kw_only=True)
class DannConfig:
    """Ganin et al. (JMLR 2016), Sec. 5.2.2 and 5.1's schedules."""

    data_type: ClassVar[type] = DomainPairData

    mode: str = "dann"
    batch_size: int = 64  # per domain
    optimizer: str = "sgd"  # sgd: the paper's annealed SGD; adam: report D-3's constant rate
    lr: float = 0.01  # μ0 (sgd) or Adam's rate
    momentum: float = 0.9
    anneal_lr: bool = True  # μ_p = μ0 / (1 + α p)^β (sgd only)
    lr_alpha: float = 10.0
    lr_beta: float = 0.75
    gamma: float = 10.0  # λ_p = λ_max · (2 / (1 + exp(−γ p)) − 1); 0: constant λ_max
    lambda_max: float = 1.0
    weight_decay: float = 0.0
    train_limit: int = 0  # the first N training images of each domain (smoke runs); 0: all
    val_images: int = 1000  # test images of each domain scored at each evaluation (a monitor)
    test_limit: int = eval_field(0)  # target (and source) test images scored at the end; 0: all
    tsne_points: int = eval_field(2000)  # test images per domain in the t-SNE figure; 0: none

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got "
                             f"{self.optimizer!r}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError("batch_size and lr must be positive")


@register_algorithm("dann")
class Dann(DomainAdaptationBase):
    """DANN and its source-only / target-only bounds (Ganin et al. 2016; report D-3)."""

    Config = DannConfig
    method, adapt_mode = "DANN", "dann"
    tiny_config: ClassVar[dict[str, Any]] = dict(batch_size=8, val_images=8, tsne_points=8)

    def __init__(self, config: DannConfig, data: DomainPairData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        size = int(data.source.train_images.shape[-1])
        torch.manual_seed(ctx.seed)  # network initialisation
        self.features = DannFeatures(size).to(self.device)
        self.label_head = dann_label_head(self.features.width, data.source.num_classes
                                          ).to(self.device)
        self.domain_head = (dann_domain_head(self.features.width).to(self.device)
                            if c.mode == "dann" else None)
        params = all_parameters(self.features, self.label_head, self.domain_head)
        if c.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                       weight_decay=c.weight_decay)
        else:
            self.opt = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        self._make_batches()
        self.total = max(1, ctx.schedule.steps)
        self.step = 0

    # ------------------------------------------------------------------ schedules

    def progress(self, step: int) -> float:
        return min(1.0, step / self.total)

    def lambda_at(self, step: int) -> float:
        c = self.config
        if c.gamma == 0:
            return c.lambda_max
        return c.lambda_max * (2.0 / (1.0 + math.exp(-c.gamma * self.progress(step))) - 1.0)

    def lr_at(self, step: int) -> float:
        c = self.config
        if c.optimizer != "sgd" or not c.anneal_lr:
            return c.lr
        return c.lr / (1.0 + c.lr_alpha * self.progress(step)) ** c.lr_beta

    # ------------------------------------------------------------------ training

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        for m in (self.features, self.label_head, self.domain_head):
            if m is not None:
                m.train()
        lr = self.lr_at(step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        out: dict[str, Tensor] = {}
        if c.mode == "target-only":
            x, y = self.target.next()
            loss = F.cross_entropy(self.label_head(self.features(x)), y)
            out["loss_label"] = loss.detach()
        else:
            xs, ys = self.source.next()
            if c.mode == "source-only":
                loss = F.cross_entropy(self.label_head(self.features(xs)), ys)
                out["loss_label"] = loss.detach()
            else:
                xt, _ = self.target.next()
                feats = self.features(torch.cat([xs, xt]))
                loss_label = F.cross_entropy(self.label_head(feats[: len(xs)]), ys)
                lambd = self.lambda_at(step)
                logits = self.domain_head(reverse_gradient(feats, lambd)).squeeze(1)
                is_target = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(logits)
                loss_domain = F.binary_cross_entropy_with_logits(logits, is_target)
                loss = loss_label + loss_domain
                out.update(loss_label=loss_label.detach(), loss_domain=loss_domain.detach(),
                           domain_acc=((logits > 0).float() == is_target).float().mean() * 100)
                out["lambda"] = torch.tensor(lambd)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step = step + 1
        keys = list(out)
        values = dict(zip(keys, torch.stack([out[k].float().cpu() for k in keys]).tolist()))
        values["lr"] = lr
        return values

    # ------------------------------------------------------------------ evaluation

    def _encoders(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        return self.features, self.features, self.label_head

    def _test_extras(self, fs: Tensor, ft: Tensor) -> dict[str, Any]:
        extras: dict[str, Any] = {
            "feature_width": self.features.width,
            "parameters": sum(p.numel() for p in all_parameters(
                self.features, self.label_head, self.domain_head)),
        }
        if self.domain_head is not None:  # source is domain 0
            extras["domain_accuracy_test"] = self._domain_accuracy(self.domain_head, fs, ft, 0.0)
        return extras

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        state = {"features": self.features.state_dict(), "label_head": self.label_head.state_dict(),
                 "opt": self.opt.state_dict(), "step": self.step}  # no dropout: no global RNG
        if self.domain_head is not None:
            state["domain_head"] = self.domain_head.state_dict()
        return copy.deepcopy({**state, **self._batches_state()})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.features.load_state_dict(state["features"])
        self.label_head.load_state_dict(state["label_head"])
        if self.domain_head is not None:
            self.domain_head.load_state_dict(state["domain_head"])
        self.opt.load_state_dict(state["opt"])
        self._load_batches_state(state)
        self.step = int(state["step"])


def all_parameters(*modules: nn.Module | None) -> list[nn.Parameter]:
    return [p for m in modules if m is not None for p in m.parameters()]
