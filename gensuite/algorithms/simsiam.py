"""SimSiam (Chen & He, CVPR 2021): self-supervised learning by predicting one augmented view's
projection from the other's, with a stop-gradient on the target branch; course report E-3 and
the paper's Fig. 2 ablations (no stop-gradient, identity predictor).

One ``train_step`` = one mini-batch of two augmented views of each image (SimSiam's CIFAR
recipe, gensuite.algorithms.simsiam_augment): z = projector(backbone(x)), p = predictor(z), loss
½·D(p1, sg(z2)) + ½·D(p2, sg(z1)) with D the negative cosine similarity (−1 at best). SGD with
momentum 0.9 and weight decay, lr = base_lr · batch / 256 decayed by a cosine over the schedule,
the predictor's lr kept fixed (Sec. 4.4 / Appendix D). Switches: ``stop_gradient`` (off: the
gradient flows through both branches, Fig. 2's collapse) and ``predictor = "identity"``.

Every evaluation: kNN accuracy on the test images with the (un-augmented) training images as the
bank (gensuite.metrics.knn, k = 200, T = 0.1, the monitor of SimSiam's CIFAR demo and
solo-learn), and Fig. 2's collapse indicator: the per-channel std of the l2-normalised projector
output (≈ 1/√d healthy, → 0 collapsed), also given as std·√d. At the end, optionally, a linear
probe on the frozen backbone features (the paper's linear evaluation, shortened).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from gensuite.algorithms.simsiam_augment import batched_views, normalize, torchvision_views
from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext, eval_field
from gensuite.data.batches import ShuffledBatches
from gensuite.data.containers import ImageClassData
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.metrics.knn import knn_predict
from gensuite.models.simsiam import (
    BACKBONES,
    CifarResNet,
    output_std,
    parameter_count,
    predictor,
    projector,
)
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams

PREDICTORS = ("mlp", "identity")
AUGMENTS = {"batched": batched_views, "torchvision": torchvision_views}



@dataclass(frozen=True, kw_only=True)
class SimSiamConfig:
    """Chen & He (2021), Appendix D's CIFAR-10 settings unless a profile says otherwise."""

    data_type: ClassVar[type] = ImageClassData

    backbone: str = "resnet18"
    proj_dim: int = 2048
    proj_layers: int = 3
    pred_hidden: int = 512
    stop_gradient: bool = True
    predictor: str = "mlp"  # mlp | identity
    batch_size: int = 512
    base_lr: float = 0.03  # lr = base_lr · batch_size / 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    fix_pred_lr: bool = True
    augment: str = "batched"  # batched | torchvision (the same distribution)
    train_limit: int = 0  # a class-balanced prefix of N training images (0: all)
    knn_k: int = 200
    knn_temperature: float = 0.1
    knn_bank: int = 0  # training images in the kNN bank at each evaluation (0: all used)
    knn_test: int = 0  # test images scored at each evaluation (0: all)
    test_limit: int = eval_field(0)  # test images scored at the end (0: all)
    probe_epochs: int = eval_field(0)  # linear probe on frozen features at the end (0: none)
    probe_lr: float = eval_field(0.1)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}; got "
                             f"{self.backbone!r}")
        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {', '.join(PREDICTORS)}; got "
                             f"{self.predictor!r}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got "
                             f"{self.augment!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be ≥ 2 (batch norm and the std need a batch)")


def _rgb(images: Tensor) -> Tensor:
    """Grey images repeated over three channels (the augmentations and the stem take RGB)."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """D(p, z) = −mean cosine similarity (Chen & He eq. 1); z is used as given."""
    return -F.cosine_similarity(p, z, dim=1).mean()


def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, stop_gradient: bool) -> Tensor:
    """The symmetrised loss ½·D(p1, sg(z2)) + ½·D(p2, sg(z1)) (eq. 2-3)."""
    if stop_gradient:
        z1, z2 = z1.detach(), z2.detach()
    return 0.5 * negative_cosine(p1, z2) + 0.5 * negative_cosine(p2, z1)


@register_algorithm("simsiam")
class SimSiam(AlgorithmBase):
    """SimSiam with its stop-gradient / predictor ablations (Chen & He 2021; report E-3)."""

    Config = SimSiamConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(
        backbone="resnet10-w16", proj_dim=16, pred_hidden=8, batch_size=8, knn_k=4)

    def __init__(self, config: SimSiamConfig, data: ImageClassData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        if data.image_shape[0] not in (1, 3):
            raise ValueError(f"SimSiam needs grey or RGB images; got {data.image_shape}")
        self.size = data.image_shape[-1]  # views keep the images' size (32 px for CIFAR)
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        torch.manual_seed(ctx.seed)  # network initialisation
        self.backbone = CifarResNet(c.backbone).to(self.device)
        self.projector = projector(self.backbone.width, c.proj_dim, c.proj_layers
                                   ).to(self.device)
        self.predictor = (predictor(c.proj_dim, c.pred_hidden) if c.predictor == "mlp"
                          else nn.Identity()).to(self.device)
        self.lr = c.base_lr * c.batch_size / 256
        groups = [{"params": [*self.backbone.parameters(), *self.projector.parameters()],
                   "fix_lr": False}]
        if c.predictor == "mlp":
            groups.append({"params": list(self.predictor.parameters()),
                           "fix_lr": c.fix_pred_lr})
        self.opt = torch.optim.SGD(groups, lr=self.lr, momentum=c.momentum,
                                   weight_decay=c.weight_decay)
        n = len(data.train_images) if not c.train_limit else min(c.train_limit,
                                                                  len(data.train_images))
        if n < c.batch_size:
            raise ValueError(f"batch_size {c.batch_size} exceeds the {n} training images")
        self.train_images = _rgb(data.train_images[:n])
        self.test_images = _rgb(data.test_images)
        self.batches = ShuffledBatches(self.train_images, None, c.batch_size,
                                       self.streams.generator("batches"))
        self.aug_gen = self.streams.generator("augment")
        self.total = max(1, ctx.schedule.steps)
        self.step = 0

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_images) // self.config.batch_size

    # ------------------------------------------------------------------ training

    def lr_at(self, step: int) -> float:
        """Cosine decay of the base rate over the schedule (SimSiam's adjust_learning_rate)."""
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, self.total) / self.total))

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        lr = self.lr_at(step)
        for g in self.opt.param_groups:
            g["lr"] = self.lr if g["fix_lr"] else lr
        images, _ = self.batches.next()
        views = AUGMENTS[c.augment]
        x1 = views(images, self.aug_gen, self.size).to(self.device)
        x2 = views(images, self.aug_gen, self.size).to(self.device)
        for m in (self.backbone, self.projector, self.predictor):
            m.train()
        z1, z2 = self.projector(self.backbone(x1)), self.projector(self.backbone(x2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        loss = simsiam_loss(p1, p2, z1, z2, c.stop_gradient)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step = step + 1
        return {"loss": float(loss.detach()), "output_std": output_std(z1.detach()), "lr": lr}

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def embed(self, images: Tensor, batch: int = 512) -> tuple[Tensor, Tensor]:
        """(backbone features in eval mode, projector outputs) of un-augmented images. The
        projector runs as in training, on each batch's own statistics (a copy, so its running
        statistics stay as training left them): Chen & He's std is of training-mode outputs,
        and at eval mode an untrained projector's outputs would look collapsed."""
        was = self.backbone.training
        self.backbone.eval()
        proj = copy.deepcopy(self.projector).train()
        feats, outs = [], []
        for chunk in images.split(batch):
            f = self.backbone(normalize(chunk.to(self.device).float().div(255)))
            feats.append(f.cpu())
            outs.append(proj(f).cpu())
        self.backbone.train(was)
        return torch.cat(feats), torch.cat(outs)

    def _knn(self, n_test: int) -> tuple[Tensor, Tensor, Tensor]:
        """(correct per test image, test projector outputs, test labels)."""
        c, d = self.config, self.data
        bank_n = len(self.train_images) if not c.knn_bank else min(c.knn_bank,
                                                                   len(self.train_images))
        bank, _ = self.embed(self.train_images[:bank_n])
        k = min(c.knn_k, bank_n)
        n = len(d.test_images) if not n_test else min(n_test, len(d.test_images))
        feats, outs = self.embed(self.test_images[:n])
        pred = knn_predict(bank, d.train_labels[:bank_n], feats, k=k,
                           temperature=c.knn_temperature, num_classes=d.num_classes)
        return (pred == d.test_labels[:n]).double(), outs, d.test_labels[:n]

    def validate(self) -> dict[str, float]:
        correct, outs, _ = self._knn(self.config.knn_test)
        std = output_std(outs)
        return {"val_knn_acc": 100 * float(correct.mean()), "val_output_std": std,
                "val_collapse_ratio": std * math.sqrt(outs.shape[1])}

    def test(self, curves: Curves) -> EvalResult:
        c = self.config
        correct, outs, _ = self._knn(c.test_limit)
        std = output_std(outs)
        n = len(correct)
        metrics = {
            "knn_accuracy": accuracy_estimate(correct.tolist(), over="images"),
            "output_std": Estimate(mean=std, n=n, over="images"),
            "collapse_ratio": Estimate(mean=std * math.sqrt(outs.shape[1]), n=n, over="images"),
        }
        tail = [p["loss"] for p in curves.train if "loss" in p][-5:]
        if tail:
            metrics["loss"] = Estimate(mean=sum(tail) / len(tail), n=len(tail), over="windows")
        details: dict[str, Any] = {
            "knn": f"k = {min(c.knn_k, len(self.train_images))}, T = {c.knn_temperature}, "
                   "cosine on backbone features, un-augmented training images as the bank",
            "train_images": len(self.train_images), "test_images": n,
            "backbone_parameters": parameter_count(self.backbone),
            "parameters": parameter_count(self.backbone, self.projector, self.predictor),
            "epochs": self.step / max(1, self.steps_per_epoch),
        }
        if c.probe_epochs:
            metrics["linear_accuracy"] = self._linear_probe()
        return EvalResult(metrics=metrics, details=details)

    def _linear_probe(self) -> Estimate:
        """A linear classifier on frozen, un-augmented backbone features (SGD, cosine lr,
        ``probe_epochs`` passes), scored on the test images: the paper's linear evaluation,
        shortened and without its augmentation."""
        c, d = self.config, self.data
        train_f, _ = self.embed(self.train_images)
        n = len(d.test_images) if not c.test_limit else min(c.test_limit, len(d.test_images))
        test_f, _ = self.embed(self.test_images[:n])
        mean, std = train_f.mean(0), train_f.std(0) + 1e-6
        train_f, test_f = (train_f - mean) / std, (test_f - mean) / std
        labels = d.train_labels[: len(train_f)]
        gen = self.streams.generator("probe")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.streams.seed_of("probe_init"))
            head = nn.Linear(train_f.shape[1], d.num_classes)
        opt = torch.optim.SGD(head.parameters(), lr=c.probe_lr, momentum=0.9)
        steps_per = max(1, len(train_f) // 256)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, c.probe_epochs * steps_per)
        for _ in range(c.probe_epochs):
            perm = torch.randperm(len(train_f), generator=gen)
            for i in range(steps_per):
                idx = perm[i * 256: (i + 1) * 256]
                loss = F.cross_entropy(head(train_f[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        with torch.no_grad():
            correct = (head(test_f).argmax(1) == d.test_labels[:n]).double()
        return accuracy_estimate(correct.tolist(), over="images")

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.gan_figures import fidelity_curves, named_loss_curves

        outdir = Path(outdir)
        paths = []
        loss = [p["loss"] for p in curves.train if "loss" in p]
        if loss:
            paths.append(named_loss_curves({"SimSiam loss (−1 at best)": loss},
                                           outdir / "loss.png", "SimSiam training loss",
                                           xlabel="logged window (see the step axis of the "
                                                  "learning curves)"))
        val = [v for v in curves.val if "val_knn_acc" in v]
        if len(val) >= 2:
            per = max(1, self.steps_per_epoch)
            paths.append(fidelity_curves(
                [v["step"] / per for v in val],
                {"kNN accuracy (%)": [v["val_knn_acc"] for v in val],
                 "output std × √d (collapse: → 0)": [v["val_collapse_ratio"] for v in val]},
                outdir / "knn_and_std.png", "kNN monitor and collapse indicator per evaluation",
                window=3))
        return paths

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({
            "backbone": self.backbone.state_dict(), "projector": self.projector.state_dict(),
            "predictor": self.predictor.state_dict(), "opt": self.opt.state_dict(),
            "batches": self.batches.state_dict(), "aug_gen": self.aug_gen.get_state(),
            "step": self.step,
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.backbone.load_state_dict(state["backbone"])
        self.projector.load_state_dict(state["projector"])
        self.predictor.load_state_dict(state["predictor"])
        self.opt.load_state_dict(state["opt"])
        self.batches.load_state_dict(state["batches"])
        self.aug_gen.set_state(state["aug_gen"])
        self.step = int(state["step"])
