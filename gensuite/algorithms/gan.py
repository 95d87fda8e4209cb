"""The GAN family: DCGAN (Radford et al. 2016), conditional GAN (Mirza & Osindero 2014), ACGAN
(Odena et al. 2017), WGAN (Arjovsky et al. 2017), WGAN-GP (Gulrajani et al. 2017, with report
E-2's one-sided penalty) and SN-GAN (Miyato et al. 2018); variants are configuration.

One ``train_step`` is one iteration: ``n_critic`` discriminator updates, each on a fresh real
mini-batch, then one generator update (report A: "one iteration = one mini-batch"; with
n_critic = 1 exactly that). An *epoch* is ``epoch_images`` real images (0: the training set),
i.e. ``epoch_images // (batch_size · n_critic)`` iterations; the plug-in knows the epoch from the
step. Suites set ``eval_every`` to that number, so ``validate()`` gives IS/FID per epoch.

Evaluation uses a domain classifier (``gensuite.metrics.domain``: "FID (MNIST classifier)"), not
Inception-v3: cached outside the repository, trained once per dataset and settings.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from array import array
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gensuite.algorithms import gan_figures as figs
from gensuite.api import Estimate, RunContext
from gensuite.data.images import ImageClassData
from gensuite.errors import GensuiteError
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.models.gan import losses
from gensuite.models.gan.nets import (
    BACKBONES,
    INITS,
    NORMS,
    Generator,
    apply_spectral_norm,
    build_discriminator,
    clip_weights,
    init_weights,
)
from gensuite.registry import register_algorithm

CONDITIONING = ("none", "concat", "acgan")
LOSSES = ("bce", "wgan")
NOISES = ("gaussian", "uniform")
OPTIMIZERS = ("adam", "rmsprop")
REFERENCES = ("test", "train")
FIXED_NOISE = 10  # report A-Q1a: ten fixed noise vectors
# Seed offsets: each fixed stream (fixed noise, evaluation noise, figures) is its own generator.
_FIXED_OFFSET, _VAL_OFFSET, _TEST_OFFSET, _FIG_OFFSET, _DATA_OFFSET = 101, 202, 303, 404, 505
# One identity cannot train an identity classifier: LFW's is trained on the 7 people.
_CLASSIFIER_OPTIONS = {"lfw-faces": {"person": "all"}}
_SIZED = ("lfw-faces", "celeba")  # builders with a ``size`` option: the classifier's matches G's


def _eval(default):
    return field(default=default, metadata={"eval": True})


@dataclass(frozen=True, kw_only=True)
class GANConfig:
    """Hyperparameters; defaults are DCGAN's (Radford et al. 2016, Sec. 4)."""

    # --- model
    conditioning: str = "none"  # none | concat (cGAN: label into G and D) | acgan (aux. head)
    loss: str = "bce"  # bce: non-saturating GAN | wgan: critic loss (clip / gp / SN keep it Lip.)
    backbone: str = "dcgan"  # discriminator: dcgan | vgg16 | resnet18 (report A-Q1)
    d_layers: int = 3  # dcgan backbone: stride-2 conv layers (report C-2: 3 vs 4)
    g_layers: int = 4  # generator transposed-conv layers (report C-2: 3 vs 4)
    d_width: int = 64
    g_width: int = 64
    d_norm: str = "batch"  # dcgan backbone: batch | layer | none (use layer/none with a GP)
    dropout: float = 0.0  # discriminator dropout (report C-2: 0 … 0.8)
    spectral_norm: bool = False  # on every discriminator conv/linear layer (SN-GAN)
    init: str = "normal"  # normal: N(0, 0.02) | xavier | default (PyTorch/torchvision's)
    z_dim: int = 100
    noise: str = "gaussian"  # gaussian N(0, 1) | uniform U(−1, 1) (report A-Q1)
    image_size: int = 0  # 0: the data's own (square) size; else resized once, antialiased
    # --- training
    batch_size: int = 64
    optimizer: str = "adam"  # adam | rmsprop (WGAN, Arjovsky et al.)
    lr: float = 2e-4
    lr_d: float = 0.0  # 0: lr
    lr_g: float = 0.0  # 0: lr
    beta1_d: float = 0.5
    beta2_d: float = 0.999
    beta1_g: float = 0.5
    beta2_g: float = 0.999
    label_noise: float = 0.0  # ε of report B-2's fuzzy targets (bce loss only)
    n_critic: int = 1  # discriminator updates per generator update
    clip: float = 0.0  # WGAN weight clipping c; 0: none
    gp_weight: float = 0.0  # λ of the gradient penalty; 0: none
    gp_mode: str = "two-sided"  # two-sided (Gulrajani et al.) | one-sided (report E-2)
    aux_weight: float = 1.0  # ACGAN: weight of the auxiliary class loss
    train_limit: int = 0  # train on the first N training images only (smoke runs); 0: all
    epoch_images: int = 0  # images per "epoch" (0: the training set; smaller for quick runs)
    amp: bool = False  # CUDA only: bfloat16 autocast (the gradient penalty stays float32)
    channels_last: bool = False
    # --- evaluation during training (validate(): the per-epoch curve)
    eval_samples: int = 1000  # generated and real images per IS/FID evaluation (report B-3)
    fid_reference: str = "test"  # the real split FID/KID compare with: test | train
    classifier: str = "auto"  # domain classifier's dataset (auto: the training data's)
    classifier_epochs: int = 0  # 0: the metrics library's default for the dataset
    classifier_train_limit: int = 0  # smoke runs: train the classifier on N images only
    # --- final evaluation (test(), figures): eval-only, cases differing here share a model
    target_class: int = _eval(0)  # the class a conditional model is asked for (A-Q1c: 4)
    contrast_class: int = _eval(1)  # the other side of the "condition flipped" pairs (D-2)
    test_samples: int = _eval(10000)  # images for the final FID / IS / KID
    class_samples: int = _eval(1000)  # images of the target class for its accuracy
    hist_samples: int = _eval(10000)  # images for the class histogram (report C-2)
    kid_subsets: int = _eval(100)
    perturb_eps: float = _eval(2.0)  # per-dimension latent perturbation (report E-2)

    def __post_init__(self) -> None:
        choices = {
            "conditioning": CONDITIONING, "loss": LOSSES, "backbone": BACKBONES,
            "d_norm": NORMS, "init": INITS, "noise": NOISES, "optimizer": OPTIMIZERS,
            "gp_mode": losses.PENALTIES, "fid_reference": REFERENCES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        positive = {"d_layers", "g_layers", "d_width", "g_width", "z_dim", "batch_size",
                    "n_critic", "eval_samples", "test_samples",
                    "class_samples", "hist_samples", "kid_subsets"}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in positive and v < 1:
                raise ValueError(f"{f.name} must be a positive integer; got {v}")
            if f.type in ("int", "float") and f.name not in ("target_class", "contrast_class",
                                                             "perturb_eps") and v < 0:
                raise ValueError(f"{f.name} must not be negative; got {v}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_noise < 0.5:
            raise ValueError("dropout must lie in [0, 1) and label_noise in [0, 0.5)")
        if self.loss == "wgan" and self.label_noise:
            raise ValueError("label_noise applies to the bce loss only")


class _Batches:
    """Random mini-batches without replacement, reshuffled after each pass; resumable."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if n < batch_size:  # a ValueError: the runner records the case as failed, goes on
            raise ValueError(f"batch_size {batch_size} exceeds the {n} training images")
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.generator)
        self.pos = 0

    def next(self) -> Tensor:
        if self.pos + self.batch_size > self.n:  # drop the incomplete last batch of a pass
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos: self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "perm": self.perm.clone(),
                "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"].clone(), state["pos"]


def _square(images: Tensor, size: int) -> Tensor:
    """Centre-crop to a square and resize (antialiased) uint8 images to ``size``."""
    h, w = images.shape[-2:]
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images = images[..., top: top + s, left: left + s]
    if images.shape[-1] == size:
        return images
    out = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear",
                                          antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def _to_uint8(x: Tensor) -> Tensor:
    """Generator output in [-1, 1] → uint8 0..255 on the CPU."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


@register_algorithm("gan")
class GAN:
    """GAN family plug-in (see the module docstring); ``train_step`` is one iteration."""

    Config = GANConfig

    def __init__(self, config: GANConfig, data: ImageClassData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        channels, h, w = data.image_shape
        self.size = c.image_size or h
        if not c.image_size and h != w:
            raise GensuiteError(f"images are {h}×{w}; set image_size for a square model")
        n = len(data.train_images)
        if c.train_limit:
            n = min(n, c.train_limit)
        # uint8 on the device: a batch is a gather there; 4× less memory than float.
        self._train_x = _square(data.train_images[:n], self.size).to(self.device)
        self._train_y = data.train_labels[:n].to(self.device)
        self.num_classes = data.num_classes
        if c.conditioning != "none" and self.num_classes < 2:
            raise GensuiteError(f"conditioning={c.conditioning!r} needs a labelled dataset with "
                                f"several classes; {data.display_name} has {self.num_classes}")
        self.conditional = c.conditioning != "none"
        k = self.num_classes if self.conditional else 0
        torch.manual_seed(ctx.seed)  # network initialisation
        self.G = Generator(c.z_dim, channels, self.size, layers=c.g_layers, width=c.g_width,
                           num_classes=k)
        self.D = build_discriminator(
            c.backbone, channels, self.size, layers=c.d_layers, width=c.d_width, norm=c.d_norm,
            dropout=c.dropout, cond_classes=k if c.conditioning == "concat" else 0,
            aux_classes=k if c.conditioning == "acgan" else 0,
        )
        init_weights(self.G, c.init)
        init_weights(self.D, c.init)
        if c.spectral_norm:
            apply_spectral_norm(self.D)
        fmt = torch.channels_last if c.channels_last else torch.contiguous_format
        self.G.to(self.device, memory_format=fmt)
        self.D.to(self.device, memory_format=fmt)
        self._fmt = fmt
        self.opt_d = self._optimizer(self.D, c.lr_d or c.lr, c.beta1_d, c.beta2_d)
        self.opt_g = self._optimizer(self.G, c.lr_g or c.lr, c.beta1_g, c.beta2_g)
        self.batches = _Batches(n, c.batch_size, ctx.seed + _DATA_OFFSET)
        self.noise_gen = torch.Generator().manual_seed(ctx.seed)  # z, labels, targets, α
        epoch_images = min(c.epoch_images or n, n)
        self.steps_per_epoch = max(1, epoch_images // (c.batch_size * c.n_critic))
        self.total_steps = ctx.schedule.steps
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        # Report A-Q1a: the fixed-noise grid after epoch 1, epoch n/2 and epoch n.
        self.capture_epochs = sorted({1, max(1, self.epochs // 2), self.epochs})
        gen = torch.Generator().manual_seed(ctx.seed + _FIXED_OFFSET)
        self.fixed_z = self._sample_z(FIXED_NOISE, gen)
        self.fixed_y = torch.arange(FIXED_NOISE) % max(1, self.num_classes)
        self.step = 0
        self.loss_d_hist, self.loss_g_hist = array("f"), array("f")
        self.grids: dict[int, Tensor] = {}  # epoch → uint8 fixed-noise images
        self.evals: list[dict[str, float]] = []  # validate() results with their epoch
        self._clf = None
        self._spec = None
        self._test_details: dict[str, Any] = {}
        self._amp = c.amp and self.device.type == "cuda"

    # ------------------------------------------------------------------ building blocks

    def _optimizer(self, net: torch.nn.Module, lr: float, b1: float, b2: float):
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(net.parameters(), lr=lr)
        return torch.optim.Adam(net.parameters(), lr=lr, betas=(b1, b2))

    def _sample_z(self, n: int, gen: torch.Generator) -> Tensor:
        if self.config.noise == "uniform":
            return torch.rand(n, self.config.z_dim, generator=gen) * 2 - 1
        return torch.randn(n, self.config.z_dim, generator=gen)

    def _real_batch(self) -> tuple[Tensor, Tensor]:
        idx = self.batches.next().to(self.device)
        x = self._train_x[idx].float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=self._fmt), self._train_y[idx]

    def _autocast(self):
        if self._amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _gen(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.G(z.to(self.device), y.to(self.device) if self.conditional else None)

    def _disc(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        cond = y if self.config.conditioning == "concat" else None
        out, aux = self.D(x, cond)
        return out.float(), (aux.float() if aux is not None else None)

    # ------------------------------------------------------------------ training

    def _d_update(self) -> dict[str, Tensor]:
        c = self.config
        x, y = self._real_batch()
        n = x.shape[0]
        z = self._sample_z(n, self.noise_gen)
        with torch.no_grad(), self._autocast():
            # Fakes of the real batch's classes: the class mix matches the data's, and the
            # gradient penalty's interpolates share one label.
            fake = self._gen(z, y).contiguous(memory_format=self._fmt)
        with self._autocast():
            real_out, real_aux = self._disc(x, y)
            fake_out, fake_aux = self._disc(fake, y)
        if c.loss == "bce":
            rt = losses.fuzzy_targets(n, c.label_noise, real=True, generator=self.noise_gen)
            ft = losses.fuzzy_targets(n, c.label_noise, real=False, generator=self.noise_gen)
            loss = losses.d_loss_bce(real_out, fake_out, rt.to(self.device), ft.to(self.device))
            real_stat, fake_stat = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()
        else:
            loss = losses.d_loss_wgan(real_out, fake_out)
            real_stat, fake_stat = real_out.mean(), fake_out.mean()
        if real_aux is not None:
            loss = loss + c.aux_weight * (losses.aux_class_loss(real_aux, y)
                                          + losses.aux_class_loss(fake_aux, y))
        out = {"real": real_stat.detach(), "fake": fake_stat.detach()}
        if c.gp_weight:
            alpha = torch.rand(n, generator=self.noise_gen)
            gp = losses.gradient_penalty(lambda xh: self._disc(xh, y)[0], x, fake.float(),
                                         mode=c.gp_mode, alpha=alpha)
            loss = loss + c.gp_weight * gp
            out["gp"] = gp.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if c.clip:
            clip_weights(self.D, c.clip)
        out["loss_d"] = loss.detach()
        return out

    def _g_update(self) -> Tensor:
        c = self.config
        n = c.batch_size
        z = self._sample_z(n, self.noise_gen)
        y = torch.randint(max(1, self.num_classes), (n,), generator=self.noise_gen).to(self.device)
        self.D.requires_grad_(False)  # no parameter gradients for D in G's update
        try:
            with self._autocast():
                fake = self._gen(z, y).contiguous(memory_format=self._fmt)
                out, aux = self._disc(fake, y)
            loss = (losses.g_loss_nonsaturating(out) if c.loss == "bce"
                    else losses.g_loss_wgan(out))
            if aux is not None:
                loss = loss + c.aux_weight * losses.aux_class_loss(aux, y)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        return loss.detach()

    def train_step(self, step: int) -> dict[str, float]:
        self.G.train()
        self.D.train()
        d_stats = [self._d_update() for _ in range(self.config.n_critic)]
        loss_g = self._g_update()
        keys = list(d_stats[0])
        means = torch.stack([torch.stack([s[k] for s in d_stats]).float().mean() for k in keys])
        values = torch.cat([means, loss_g.float().view(1)]).tolist()  # one device sync
        d = dict(zip(keys, values[:-1]))
        metrics = {"loss_d": d.pop("loss_d"), "loss_g": values[-1]}
        prefix = "d_" if self.config.loss == "bce" else "critic_"  # D(x) probability or f(x)
        metrics[f"{prefix}real"], metrics[f"{prefix}fake"] = d.pop("real"), d.pop("fake")
        metrics.update(d)  # gp
        self.loss_d_hist.append(metrics["loss_d"])
        self.loss_g_hist.append(metrics["loss_g"])
        self.step = step + 1
        if self.step % self.steps_per_epoch == 0 or self.step == self.total_steps:
            epoch = math.ceil(self.step / self.steps_per_epoch)
            if epoch in self.capture_epochs and epoch not in self.grids:
                self.grids[epoch] = self.generate(self.fixed_z, self.fixed_y)
        return metrics

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def generate(self, z: Tensor, y: Tensor | None = None, batch: int = 500) -> Tensor:
        """uint8 images from noise ``z`` (and classes ``y``), G in inference mode (BN running
        statistics); training mode is restored afterwards."""
        was_training = self.G.training
        self.G.eval()
        if y is None:
            y = torch.zeros(len(z), dtype=torch.long)
        out = [_to_uint8(self._gen(z[i: i + batch], y[i: i + batch]))
               for i in range(0, len(z), batch)]
        self.G.train(was_training)
        return torch.cat(out)

    def _eval_set(self, n: int, offset: int) -> Tensor:
        """``n`` images from a fixed noise stream; classes cycle through 0..K-1."""
        gen = torch.Generator().manual_seed(self.ctx.seed + offset)
        z = self._sample_z(n, gen)
        return self.generate(z, torch.arange(n) % max(1, self.num_classes))

    def _reference(self, n: int) -> Tensor:
        """The real images FID/KID compare with: the first ``n`` of the chosen split."""
        if self.config.fid_reference == "test" and len(self.data.test_images):
            images = self.data.test_images
        else:
            images = self.data.train_images
        return _square(images[:n], self.size)

    # ------------------------------------------------------------------ evaluation

    def classifier(self):
        """The domain classifier (cached outside the repo; trained on a cache miss only)."""
        if self._clf is None:
            from gensuite.metrics.domain import (
                default_cache_dir,
                load_or_train,
                register_domain_extractor,
            )

            c = self.config
            name = self.data.info.name if c.classifier == "auto" else c.classifier
            options = dict(_CLASSIFIER_OPTIONS.get(name, {}))
            if name in _SIZED:
                options["size"] = self.size
            kwargs: dict[str, Any] = {"train_limit": c.classifier_train_limit}
            if c.classifier_epochs:
                kwargs["epochs"] = c.classifier_epochs
            if options:
                kwargs["dataset_options"] = options
            self._clf = load_or_train(name, "cnn", 0, cache_dir=default_cache_dir(),
                                      device=str(self.device), data_root=self.ctx.data_root,
                                      **kwargs)
            self._spec = register_domain_extractor(self._clf)
        return self._clf

    def _fidelity(self, generated: Tensor, real: Tensor, *, kid: bool):
        from gensuite.metrics.fidelity import fidelity_metrics

        self.classifier()
        n = min(len(generated), len(real))
        return fidelity_metrics(
            generated, real, extractor=self._spec.name, isc=True, fid=True, kid=kid,
            device=str(self.device), kid_subsets=self.config.kid_subsets,
            kid_subset_size=min(1000, n), isc_splits=min(10, len(generated)),
        )

    def validate(self) -> dict[str, float]:
        n = self.config.eval_samples
        generated = self._eval_set(n, _VAL_OFFSET)
        res = self._fidelity(generated, self._reference(n), kid=False)
        out = {"fid": res["frechet_inception_distance"], "is": res["inception_score_mean"]}
        if self.conditional:
            from gensuite.metrics.domain import class_conditional_accuracy

            labels = torch.arange(n) % self.num_classes
            out["class_acc"] = 100.0 * class_conditional_accuracy(self._clf, generated, labels)
        self.evals.append({"epoch": self.step / self.steps_per_epoch, "step": self.step, **out})
        return out

    def test(self) -> dict[str, Estimate]:
        from gensuite.metrics.domain import class_conditional_accuracy, class_histogram, predict

        c = self.config
        generated = self._eval_set(c.test_samples, _TEST_OFFSET)
        res = self._fidelity(generated, self._reference(c.test_samples), kid=True)
        n = res.n_generated
        splits = res.settings["isc_splits"]
        is_std = res["inception_score_std"]
        out = {
            "fid": Estimate(mean=res["frechet_inception_distance"], n=n, over="images"),
            # IS: mean ± 95% over its splits (each split is an independent estimate).
            "is": Estimate(mean=res["inception_score_mean"],
                           ci95=1.96 * is_std / math.sqrt(splits), n=splits, over="splits"),
            # KID's std is over overlapping random subsets: a spread, not an interval.
            "kid": Estimate(mean=res["kernel_inception_distance_mean"], n=n, over="images"),
            "kid_std": Estimate(mean=res["kernel_inception_distance_std"],
                                n=c.kid_subsets, over="subsets"),
        }
        if len(self.evals) >= 2:
            drop = self.evals[0]["fid"] - self.evals[-1]["fid"]
            out["fid_drop"] = Estimate(mean=drop, n=2, over="evaluations")
        details: dict[str, Any] = {"fidelity": res.as_record()}
        clf = self._clf
        if clf.num_classes > 1:
            hist = class_histogram(clf, generated[: c.hist_samples])
            total = sum(hist)
            out["class_share_min"] = Estimate(mean=100.0 * min(hist) / total, n=total,
                                              unit="%", over="images")
            out["class_share_max"] = Estimate(mean=100.0 * max(hist) / total, n=total,
                                              unit="%", over="images")
            details["class_histogram"] = dict(zip(clf.classes, hist))
        if self.conditional:
            target = c.target_class
            if not 0 <= target < self.num_classes:
                raise GensuiteError(f"target_class {target} is not a class of "
                                    f"{self.data.display_name} (0..{self.num_classes - 1})")
            gen = torch.Generator().manual_seed(self.ctx.seed + _TEST_OFFSET + 1)
            z = self._sample_z(c.class_samples, gen)
            images = self.generate(z, torch.full((c.class_samples,), target))
            hits = (predict(clf, images) == target).double().tolist()
            out["class_acc"] = accuracy_estimate(hits, over="images")
            details["class_acc_target"] = {"class": clf.classes[target],
                                           "accuracy": class_conditional_accuracy(
                                               clf, images, target)}
            per_class = {}
            for k in range(self.num_classes):  # every class, on the same noise
                imgs = self.generate(z[:200], torch.full((min(200, len(z)),), k))
                per_class[clf.classes[k]] = class_conditional_accuracy(clf, imgs, k)
            details["class_acc_per_class"] = per_class
        self._test_details = details
        return out

    # ------------------------------------------------------------------ figures

    def write_artifacts(self, outdir: Path) -> list[Path]:
        """Sample grids, loss / fidelity curves, latent-space figures, class histogram, JSON."""
        outdir = Path(outdir)
        c, files = self.config, []
        name = self.data.display_name
        if self.grids:
            rows = [(f"epoch {e}", self.grids[e]) for e in sorted(self.grids)]
            files.append(figs.labelled_rows(rows, outdir / "fixed_noise_epochs.png",
                                            f"{FIXED_NOISE} fixed noise vectors ({name})"))
        if len(self.loss_d_hist):
            files.append(figs.loss_curves(self.loss_d_hist.tolist(), self.loss_g_hist.tolist(),
                                          outdir / "losses.png", f"G and D loss per iteration "
                                          f"({name})"))
        label = self._spec.label if self._spec else "domain classifier"
        if self.evals:
            epochs = [e["epoch"] for e in self.evals]
            series = {f"FID ({label})": [e["fid"] for e in self.evals],
                      f"IS ({label})": [e["is"] for e in self.evals]}
            if self.conditional:
                series["class-conditional accuracy (%)"] = [e["class_acc"] for e in self.evals]
            files.append(figs.fidelity_curves(
                epochs, series, outdir / "fidelity_per_epoch.png",
                f"{c.eval_samples} samples per evaluation vs {c.fid_reference} images"))
        files += self._latent_figures(outdir)
        files += self._class_figures(outdir)
        info = {
            "extractor": self._spec.description if self._spec else None,
            "classifier_test_acc": self._clf.test_acc if self._clf else None,
            # the cache entry's name and checksum (not its path: that is the user's home)
            "classifier_file": self._clf.path.name if self._clf and self._clf.path else None,
            "classifier_sha256": self._clf.sha256 if self._clf else None,
            "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs,
            "captured_epochs": sorted(self.grids),
            "evaluations": self.evals,
            **self._test_details,
        }
        if "class_histogram" in self._test_details and self.data.info.name == "mnist":
            info["report_c2_histogram"] = {"counts": list(figs.REPORT_C2_HISTOGRAM),
                                           "source": figs.REPORT_C2_SOURCE}
        path = outdir / "evaluation.json"
        path.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
        files.append(path)
        return files

    def _fig_noise(self, n: int, offset: int = 0) -> Tensor:
        return self._sample_z(n, torch.Generator().manual_seed(self.ctx.seed + _FIG_OFFSET
                                                               + offset))

    def _latent_figures(self, outdir: Path) -> list[Path]:
        c = self.config
        y_class = c.target_class if self.conditional else 0
        files = []
        # Report C-2: 10 random points and interpolations between consecutive ones.
        points = self._fig_noise(10)
        alphas = torch.linspace(0, 1, 10)
        z = torch.cat([(1 - a) * points[i] + a * points[i + 1]
                       for i in range(9) for a in alphas]).view(90, -1)
        y = torch.full((90,), y_class)
        files.append(figs.save_grid(self.generate(z, y), outdir / "latent_interpolation.png",
                                    nrow=10))
        # Report E-2: ε added to one latent dimension at a time (first image: unperturbed).
        base = self._fig_noise(1, 1)
        dims = min(c.z_dim, 99)
        z = base.repeat(dims + 1, 1)
        z[torch.arange(1, dims + 1), torch.arange(dims)] += c.perturb_eps
        files.append(figs.save_grid(self.generate(z, torch.full((dims + 1,), y_class)),
                                    outdir / "latent_perturbation.png", nrow=10))
        # Report E-2: data space (pixel blend of two samples) vs latent space, α = 0, 0.1 … 1.
        pairs = self._fig_noise(8, 2).view(4, 2, -1)
        alphas = torch.linspace(0, 1, 11)
        rows = []
        for z0, z1 in pairs:
            ends = self.generate(torch.stack([z0, z1]), torch.full((2,), y_class)).float()
            data_row = torch.stack([((1 - a) * ends[0] + a * ends[1]) for a in alphas])
            zs = torch.stack([(1 - a) * z0 + a * z1 for a in alphas])
            rows += [("data space", data_row.round().to(torch.uint8)),
                     ("latent space", self.generate(zs, torch.full((11,), y_class)))]
        files.append(figs.labelled_rows(rows, outdir / "interpolation_data_vs_latent.png",
                                        "α = 0, 0.1, …, 1"))
        return files

    def _class_figures(self, outdir: Path) -> list[Path]:
        c, files = self.config, []
        hist = self._test_details.get("class_histogram")
        if hist:
            ref = figs.REPORT_C2_HISTOGRAM if self.data.info.name == "mnist" else None
            files.append(figs.class_histogram_chart(
                list(hist.values()), list(hist), outdir / "class_histogram.png",
                f"{sum(hist.values())} generated images by {self._spec.label}", reference=ref,
                reference_label=figs.REPORT_C2_SOURCE))
        # 64 random samples (report E-2; D-1 shows 32), of the requested class if conditional
        n = 64 if self.size <= 32 else 36
        z = self._fig_noise(n, 3)
        images = self.generate(z, torch.full((n,), c.target_class if self.conditional else 0))
        name = "requested_class.png" if self.conditional else "samples.png"
        files.append(figs.save_grid(images, outdir / name, nrow=int(math.sqrt(n))))
        if self.conditional:
            # Report D-2: ten pairs from the same noise with the condition flipped.
            z = self._fig_noise(10, 4)
            rows = [(self.data.classes[k][:16], self.generate(z, torch.full((10,), k)))
                    for k in (c.contrast_class, c.target_class)]
            files.append(figs.labelled_rows(rows, outdir / "condition_flip_pairs.png",
                                            "same noise, condition flipped"))
        return files

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        state = {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "batches": self.batches.state_dict(), "noise_gen": self.noise_gen.get_state(),
            # dropout draws from the global generator: resuming must continue its stream
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "loss_d_hist": torch.tensor(self.loss_d_hist.tolist()),
            "loss_g_hist": torch.tensor(self.loss_g_hist.tolist()),
            "grids": dict(self.grids), "evals": list(self.evals),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.batches.load_state_dict(state["batches"])
        self.noise_gen.set_state(state["noise_gen"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = state["step"]
        self.loss_d_hist = array("f", state["loss_d_hist"].tolist())
        self.loss_g_hist = array("f", state["loss_g_hist"].tolist())
        self.grids = dict(state["grids"])
        self.evals = list(state["evals"])

