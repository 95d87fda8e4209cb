"""DARTS evaluation (Liu, Simonyan & Yang, ICLR 2019, Sec. 3.3; course report A-Q4): train the
CIFAR-10 network built from a genotype from scratch and score it on the test set.

The network (gensuite.models.darts.eval_cnn): 20 cells of 36 initial channels, an auxiliary
classifier weighted 0.4, drop-path 0.2 (its probability rising linearly over training, as the
authors' ``drop_path_prob * epoch / epochs``), cutout 16; SGD 0.025 with momentum 0.9 and
weight decay 3e-4, the rate decayed by a cosine (per step here, per epoch in the authors' code),
gradients clipped at norm 5, batch 96. ``genotype`` names a published cell ("darts-v2",
"darts-v1") or holds one as JSON (a cell derived by gensuite's own search, copied from its
record with the record's path as its citation).

Scored: test accuracy in % (95% interval over test images) and the parameter count in millions
without the auxiliary head (the paper's convention), an exact number. Model selection: the last
step's model (the authors report the last epoch's test accuracy too).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812

from gensuite.algorithms.darts_data import cutout, normalize, random_crop_flip
from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext, eval_field
from gensuite.data.batches import ShuffledBatches
from gensuite.data.containers import ImageClassData
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.models.darts.eval_cnn import EvalNetwork, count_parameters
from gensuite.models.darts.genotypes import PRIMITIVES, PUBLISHED, Genotype, to_dict
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams


def as_cifar(images: torch.Tensor) -> torch.Tensor:
    """RGB at 32 px, as the network's auxiliary head expects: grey images repeated over three
    channels, smaller ones zero-padded to 32 (28-px digits as MNIST-M's 32-px frames)."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    pad = 32 - images.shape[-1]
    if pad > 0:
        images = F.pad(images, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
    return images.contiguous()


def write_details(result: EvalResult, path: Path) -> Path:
    """The result's details (genotype, its history, softmax(α), counts) as JSON beside the
    record: what an own-cell row copies its genotype from."""
    path.write_text(json.dumps(result.details, indent=1) + "\n", encoding="utf-8")
    return path


def parse_genotype(text: str) -> Genotype:
    """A published name or a genotype as JSON ({"normal": [[op, input], …], …})."""
    if text in PUBLISHED:
        return PUBLISHED[text]
    try:
        d = json.loads(text)
        g = Genotype(normal=[(str(o), int(i)) for o, i in d["normal"]],
                     normal_concat=[int(i) for i in d["normal_concat"]],
                     reduce=[(str(o), int(i)) for o, i in d["reduce"]],
                     reduce_concat=[int(i) for i in d["reduce_concat"]])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"genotype must be one of {', '.join(PUBLISHED)} or a genotype as "
                         f"JSON; got {text[:60]!r} ({e})") from None
    for op, _ in (*g.normal, *g.reduce):
        if op not in PRIMITIVES or op == "none":
            raise ValueError(f"genotype operation {op!r} is not one of DARTS's operations")
    return g


@dataclass(frozen=True, kw_only=True)
class DartsEvalConfig:
    """Liu et al. (2019), Sec. 3.3 and the authors' train.py defaults."""

    data_type: ClassVar[type] = ImageClassData

    genotype: str = "darts-v2"
    init_channels: int = 36
    layers: int = 20
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2
    cutout: bool = True
    cutout_length: int = 16
    batch_size: int = 96
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    train_limit: int = 0  # the first N training images (a class-balanced prefix); 0: all
    val_images: int = 1000  # test images scored at each evaluation (a monitor)
    test_limit: int = eval_field(0)

    def __post_init__(self) -> None:
        parse_genotype(self.genotype)
        if self.init_channels % 2:
            raise ValueError("init_channels must be even (factorised reductions halve it)")


@register_algorithm("darts-eval")
class DartsEval(AlgorithmBase):
    """A DARTS cell trained from scratch on CIFAR-10 (Liu et al. 2019 Table 1; report A-Q4)."""

    Config = DartsEvalConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(init_channels=4, layers=3, batch_size=8,
                                                 val_images=8)

    def __init__(self, config: DartsEvalConfig, data: ImageClassData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        size = data.image_shape[-1]
        if size > 32:
            raise ValueError(f"DARTS's CIFAR network takes images up to 32 px; got {size}")
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        self.genotype = parse_genotype(c.genotype)
        torch.manual_seed(ctx.seed)  # network initialisation
        self.net = EvalNetwork(self.genotype, c.init_channels, data.num_classes, c.layers,
                               c.auxiliary).to(self.device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=c.lr, momentum=c.momentum,
                                   weight_decay=c.weight_decay)
        n = len(data.train_images) if not c.train_limit else min(c.train_limit,
                                                                  len(data.train_images))
        self.test_images = as_cifar(data.test_images)
        self.batches = ShuffledBatches(as_cifar(data.train_images[:n]), data.train_labels[:n],
                               c.batch_size, self.streams.generator("batches"))
        self.aug_gen = self.streams.generator("augment")
        self.drop_gen = self.streams.generator("drop_path")
        self.total = max(1, ctx.schedule.steps)
        self.step = 0

    def lr_at(self, step: int) -> float:
        return 0.5 * self.config.lr * (1 + math.cos(math.pi * min(step, self.total) / self.total))

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(step)
        self.net.drop_prob = c.drop_path_prob * step / self.total
        images, labels = self.batches.next()
        x = normalize(random_crop_flip(images, self.aug_gen).to(self.device))
        if c.cutout:
            x = cutout(x, self.aug_gen, c.cutout_length)
        y = labels.to(self.device)
        self.net.train()
        logits, aux = self.net(x, generator=self.drop_gen)
        loss = F.cross_entropy(logits, y)
        if aux is not None:
            loss = loss + c.auxiliary_weight * F.cross_entropy(aux, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.grad_clip)
        self.opt.step()
        self.step = step + 1
        acc = (logits.argmax(1) == y).float().mean() * 100
        return {"loss": float(loss.detach()), "acc": float(acc), "lr": self.lr_at(step)}

    @torch.no_grad()
    def _correct(self, n: int) -> torch.Tensor:
        d = self.data
        k = len(d.test_images) if not n else min(n, len(d.test_images))
        self.net.eval()
        out = []
        for chunk, labels in zip(self.test_images[:k].split(500), d.test_labels[:k].split(500)):
            logits, _ = self.net(normalize(chunk.to(self.device)))
            out.append((logits.argmax(1).cpu() == labels).double())
        self.net.train()
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.double)

    def validate(self) -> dict[str, float]:
        if not self.config.val_images:
            return {}
        return {"val_acc": 100 * float(self._correct(self.config.val_images).mean())}

    def test(self, curves: Curves) -> EvalResult:
        correct = self._correct(self.config.test_limit)
        params = count_parameters(self.net)
        metrics = {
            "accuracy": accuracy_estimate(correct.tolist(), over="images"),
            "parameters_m": Estimate(mean=params / 1e6, ci95=0.0, n=1, over="models"),
        }
        details = {"genotype": to_dict(self.genotype), "parameters": params,
                   "parameters_with_auxiliary": count_parameters(self.net, auxiliary=True),
                   "test_images": len(correct),
                   "model_selection": "last step (fixed schedule)"}
        return EvalResult(metrics=metrics, details=details)

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.darts_figures import cell_drawings

        return [cell_drawings(result.details["genotype"], Path(outdir) / "cells.png",
                              title="the evaluated cells"),
                write_details(result, Path(outdir) / "details.json")]

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({
            "net": self.net.state_dict(), "opt": self.opt.state_dict(),
            "batches": self.batches.state_dict(), "aug_gen": self.aug_gen.get_state(),
            "drop_gen": self.drop_gen.get_state(), "step": self.step})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.batches.load_state_dict(state["batches"])
        self.aug_gen.set_state(state["aug_gen"])
        self.drop_gen.set_state(state["drop_gen"])
        self.step = int(state["step"])
