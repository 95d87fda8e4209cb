"""ADDA (Tzeng, Hoffman, Saenko & Darrell, CVPR 2017): adversarial discriminative domain
adaptation on digits, course report D-4, with its source-only and target-only rows.

``mode = "adda"`` runs the paper's two stages in one schedule:

1. the first ``pretrain_steps`` steps train a source encoder (ADDA's LeNet) and a classifier on
   the source labels (Adam, ``lr``);
2. the rest copies the source encoder into a target encoder and trains it against a domain
   discriminator (two 500-unit ReLU layers, Sec. 5.1) with the GAN loss of inverted labels, the
   source encoder and the classifier frozen: each step is one discriminator update (source
   features "real", target features "fake") and one target-encoder update. Adam ``adapt_lr``
   with β1 ``adapt_beta1`` for both (2e-4, 0.5: gensuite's choice, the usual GAN setting; the
   paper does not list its optimiser settings for digits).

The target is classified by the target encoder and the source classifier. ``source-only`` is
stage 1 alone (the same network and steps: with one seed it is ADDA's own starting point);
``target-only`` trains the same encoder and classifier on the target's training labels.
Model selection: the last step's model (gensuite.algorithms.da_common).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from gensuite.algorithms.da_common import DomainAdaptationBase, DomainBatches, PrivateRng
from gensuite.api import RunContext, eval_field
from gensuite.data.containers import DomainPairData
from gensuite.models.domain_adaptation import LeNetEncoder, adda_classifier, adda_discriminator
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams

MODES = ("source-only", "adda", "target-only")



@dataclass(frozen=True, kw_only=True)
class AddaConfig:
    """Tzeng et al. (2017), Sec. 4 and 5.1 (digits)."""

    data_type: ClassVar[type] = DomainPairData

    mode: str = "adda"
    pretrain_steps: int = 1000  # adda: stage 1's steps; the schedule's rest is stage 2
    batch_size: int = 64  # per domain
    lr: float = 1e-3  # Adam, supervised training (stage 1, source-only, target-only)
    adapt_lr: float = 2e-4  # Adam, target encoder and discriminator (stage 2)
    adapt_beta1: float = 0.5
    train_limit: int = 0  # the first N training images of each domain (smoke runs); 0: all
    val_images: int = 1000  # test images of each domain scored at each evaluation (a monitor)
    test_limit: int = eval_field(0)
    tsne_points: int = eval_field(2000)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.pretrain_steps < 1 and self.mode == "adda":
            raise ValueError("adda needs pretrain_steps ≥ 1 (stage 1 trains the source encoder)")


@register_algorithm("adda")
class Adda(DomainAdaptationBase):
    """ADDA and its source-only / target-only rows (Tzeng et al. 2017; report D-4)."""

    Config = AddaConfig
    method, adapt_mode = "ADDA", "adda"
    tiny_config: ClassVar[dict[str, Any]] = dict(pretrain_steps=1, batch_size=8, val_images=8,
                                                 tsne_points=8)

    def __init__(self, config: AddaConfig, data: DomainPairData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        if c.mode == "adda" and c.pretrain_steps >= ctx.schedule.steps:
            raise ValueError(f"pretrain_steps {c.pretrain_steps} leaves no adversarial step in "
                             f"a schedule of {ctx.schedule.steps}")
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        size = int(data.source.train_images.shape[-1])
        torch.manual_seed(ctx.seed)  # network initialisation
        self.source_encoder = LeNetEncoder(size).to(self.device)
        self.classifier = adda_classifier(data.source.num_classes).to(self.device)
        self.opt = torch.optim.Adam([*self.source_encoder.parameters(),
                                     *self.classifier.parameters()], lr=c.lr)
        self.target_encoder = self.discriminator = None
        if c.mode == "adda":
            # Stage 2's networks from their own seed, leaving the global stream as source-only
            # leaves it: stage 1 is then exactly the source-only row of the same seed.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.streams.seed_of("adversarial_init"))
                self.target_encoder = LeNetEncoder(size).to(self.device)  # copied at stage 2
                self.discriminator = adda_discriminator().to(self.device)
            betas = (c.adapt_beta1, 0.999)
            self.opt_t = torch.optim.Adam(self.target_encoder.parameters(), lr=c.adapt_lr,
                                          betas=betas)
            self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.adapt_lr,
                                          betas=betas)
        self._make_batches()
        self.rng = PrivateRng(self.streams.seed_of("dropout"), self.device)
        self.adapting = False
        self.step = 0

    # ------------------------------------------------------------------ training

    def _start_adaptation(self) -> None:
        """Stage 2 begins: the target encoder starts as the source encoder, which (with the
        classifier) is frozen from now on."""
        self.target_encoder.load_state_dict(self.source_encoder.state_dict())
        self.adapting = True

    def _freeze_source(self) -> None:
        for m in (self.source_encoder, self.classifier):
            m.eval()
            m.requires_grad_(False)

    def _supervised_step(self, batches: DomainBatches) -> dict[str, Tensor]:
        self.source_encoder.train(), self.classifier.train()
        x, y = batches.next()
        loss = F.cross_entropy(self.classifier(self.source_encoder(x)), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss_label": loss.detach()}

    def _adversarial_step(self) -> dict[str, Tensor]:
        self._freeze_source()
        self.target_encoder.train(), self.discriminator.train()
        xs, _ = self.source.next()  # source labels are not needed any more
        xt, _ = self.target.next()
        with torch.no_grad():
            fs = self.source_encoder(xs)
        ft = self.target_encoder(xt)
        logits = self.discriminator(torch.cat([fs, ft.detach()])).squeeze(1)
        is_source = torch.cat([torch.ones(len(fs)), torch.zeros(len(ft))]).to(logits)
        loss_d = F.binary_cross_entropy_with_logits(logits, is_source)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # the target encoder's GAN loss with inverted labels: its features should pass as source
        self.discriminator.requires_grad_(False)
        fooled = self.discriminator(ft).squeeze(1)
        self.discriminator.requires_grad_(True)
        loss_t = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        self.opt_t.zero_grad(set_to_none=True)
        loss_t.backward()
        self.opt_t.step()
        acc = ((logits > 0).float() == is_source).float().mean() * 100
        return {"loss_domain": loss_d.detach(), "loss_target_encoder": loss_t.detach(),
                "domain_acc": acc}

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        with self.rng.active():  # dropout's draws
            if c.mode == "target-only":
                out = self._supervised_step(self.target)
            elif c.mode == "source-only" or step < c.pretrain_steps:
                out = self._supervised_step(self.source)
            else:
                if not self.adapting:
                    self._start_adaptation()
                out = self._adversarial_step()
        self.step = step + 1
        keys = list(out)
        return dict(zip(keys, torch.stack([out[k].float().cpu() for k in keys]).tolist()))

    # ------------------------------------------------------------------ evaluation

    def _encoders(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        target = self.target_encoder if self.adapting else self.source_encoder
        return self.source_encoder, target, self.classifier

    def _test_extras(self, fs: Tensor, ft: Tensor) -> dict[str, Any]:
        extras: dict[str, Any] = {
            "target_encoder": "adapted" if self.adapting else "the source encoder"}
        if self.adapting:  # the discriminator calls source 1
            extras["domain_accuracy_test"] = self._domain_accuracy(self.discriminator, fs, ft,
                                                                   1.0)
            extras["adversarial_steps"] = self.step - self.config.pretrain_steps
        return extras

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "source_encoder": self.source_encoder.state_dict(),
            "classifier": self.classifier.state_dict(), "opt": self.opt.state_dict(),
            "adapting": self.adapting, "step": self.step, "rng": self.rng.state_dict(),
        }
        if self.target_encoder is not None:
            state.update(target_encoder=self.target_encoder.state_dict(),
                         discriminator=self.discriminator.state_dict(),
                         opt_t=self.opt_t.state_dict(), opt_d=self.opt_d.state_dict())
        return copy.deepcopy({**state, **self._batches_state()})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.source_encoder.load_state_dict(state["source_encoder"])
        self.classifier.load_state_dict(state["classifier"])
        self.opt.load_state_dict(state["opt"])
        if self.target_encoder is not None:
            self.target_encoder.load_state_dict(state["target_encoder"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_t.load_state_dict(state["opt_t"])
            self.opt_d.load_state_dict(state["opt_d"])
        self._load_batches_state(state)
        self.rng.load_state_dict(state["rng"])
        self.adapting = bool(state["adapting"])
        if self.adapting:
            self._freeze_source()
        self.step = int(state["step"])
