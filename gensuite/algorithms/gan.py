"""The GAN family: DCGAN (Radford et al. 2016), conditional GAN (Mirza & Osindero 2014), ACGAN
(Odena et al. 2017), WGAN (Arjovsky et al. 2017), WGAN-GP (Gulrajani et al. 2017, with report
E-2's one-sided penalty) and SN-GAN (Miyato et al. 2018); variants are configuration.

One ``train_step`` is one iteration: ``n_critic`` discriminator updates, each on a fresh real
mini-batch, then one generator update (report A: "one iteration = one mini-batch"; with
n_critic = 1 exactly that). An *epoch* is ``epoch_images`` real images (0: the training set),
i.e. ``epoch_images // (batch_size · n_critic)`` iterations; the plug-in knows the epoch from the
step. Suites set ``eval_every`` to that number, so ``validate()`` gives IS/FID per epoch.

Configuration: ``gan_config.GANConfig``; figures and the evaluation record: ``gan_artifacts``.
Evaluation uses the evaluation classifier that the training data's registration declares
(``gensuite.evaluators``: "FID (MNIST classifier)"), not Inception-v3: cached outside the
repository, trained once per dataset and recipe.
"""

from __future__ import annotations

import contextlib
import copy
import math
from array import array
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from gensuite.algorithms import gan_artifacts
from gensuite.algorithms.gan_config import FIXED_NOISE, SEED_STREAMS, GANConfig
from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext
from gensuite.data.containers import ImageClassData
from gensuite.errors import GensuiteError
from gensuite.metrics.accuracy import accuracy_estimate
from gensuite.models.gan import losses
from gensuite.models.gan.nets import (
    Generator,
    apply_spectral_norm,
    build_discriminator,
    clip_weights,
    init_weights,
)
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams
from gensuite.train.cuda_graph import GraphedStep


class _Batches:
    """Random mini-batches without replacement, reshuffled after each pass; resumable."""

    def __init__(self, n: int, batch_size: int, seed: int, source: str = "the data") -> None:
        if n < batch_size:  # a ValueError: the runner records the case as failed, goes on
            raise ValueError(f"batch_size {batch_size} exceeds the {n} training images of "
                             f"{source}")
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
class GAN(AlgorithmBase):
    """GAN family: DCGAN, cGAN, ACGAN, WGAN(-GP), SN-GAN (course reports A-E); one step = one
    iteration (see the module docstring)."""

    Config = GANConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(
        batch_size=8, g_width=8, d_width=8, z_dim=8, eval_samples=16, test_samples=32,
        class_samples=8, hist_samples=32, kid_subsets=2, classifier_epochs=1, bootstrap=5)

    def __init__(self, config: GANConfig, data: ImageClassData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        if c.cuda_graph and self.device.type != "cuda":
            raise ValueError(f"cuda_graph needs a CUDA device; this run's device is {ctx.device}")
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
        self.streams = SeedStreams(ctx.seed, SEED_STREAMS)
        self.batches = _Batches(n, c.batch_size, self.streams.seed_of("data"), data.display_name)
        self.noise_gen = self.streams.generator("noise")  # z, labels, targets, α
        epoch_images = min(c.epoch_images or n, n)
        self.steps_per_epoch = max(1, epoch_images // (c.batch_size * c.n_critic))
        self.total_steps = ctx.schedule.steps
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        # Report A-Q1a: the fixed-noise grid after epoch 1, epoch n/2 and epoch n.
        self.capture_epochs = sorted({1, max(1, self.epochs // 2), self.epochs})
        self.fixed_z = self.sample_z(FIXED_NOISE, self.streams.generator("fixed"))
        self.fixed_y = torch.arange(FIXED_NOISE) % max(1, self.num_classes)
        self.step = 0
        self.loss_d_hist, self.loss_g_hist = array("f"), array("f")
        self.grids: dict[int, Tensor] = {}  # epoch → uint8 fixed-noise images
        self.clf = None  # evaluation classifier, loaded on first evaluation (classifier())
        self.extractor = None  # its torch-fidelity feature extractor
        self._amp = c.amp and self.device.type == "cuda"
        # The eager path goes through the same static-input plumbing with the graph off.
        self._iterate = GraphedStep(self._iteration, enabled=c.cuda_graph)

    # ------------------------------------------------------------------ building blocks

    def _optimizer(self, net: torch.nn.Module, lr: float, b1: float, b2: float):
        capturable = self.config.cuda_graph  # its state on the device, updated in the graph
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(net.parameters(), lr=lr, capturable=capturable)
        return torch.optim.Adam(net.parameters(), lr=lr, betas=(b1, b2), capturable=capturable)

    def sample_z(self, n: int, gen: torch.Generator) -> Tensor:
        if self.config.noise == "uniform":
            return torch.rand(n, self.config.z_dim, generator=gen) * 2 - 1
        return torch.randn(n, self.config.z_dim, generator=gen)

    def _real_batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        x = self._train_x[idx].float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=self._fmt), self._train_y[idx]

    def _autocast(self):
        if self._amp:  # a captured graph must not keep autocast's cast cache between replays
            return torch.autocast("cuda", dtype=torch.bfloat16,
                                  cache_enabled=not self.config.cuda_graph)
        return contextlib.nullcontext()

    def _gen(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.G(z.to(self.device), y.to(self.device) if self.conditional else None)

    def _disc(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        cond = y if self.config.conditioning == "concat" else None
        out, aux = self.D(x, cond)
        return out.float(), (aux.float() if aux is not None else None)

    # ------------------------------------------------------------------ training

    def _draws(self) -> list[Tensor]:
        """One iteration's randomness, drawn on the CPU in the order the updates use it: per D
        update the batch rows, z, the fuzzy targets (bce) and α (gradient penalty), empty where
        unused; then the G update's z and classes. On the device they are the captured graph's
        only inputs, and every device trains on the same draws."""
        c = self.config
        n, none = c.batch_size, torch.empty(0)
        draws: list[Tensor] = []
        for _ in range(c.n_critic):
            draws += [self.batches.next(), self.sample_z(n, self.noise_gen)]
            if c.loss == "bce":
                draws += [losses.fuzzy_targets(n, c.label_noise, real=True,
                                               generator=self.noise_gen),
                          losses.fuzzy_targets(n, c.label_noise, real=False,
                                               generator=self.noise_gen)]
            else:
                draws += [none, none]
            draws.append(torch.rand(n, generator=self.noise_gen) if c.gp_weight else none)
        draws.append(self.sample_z(n, self.noise_gen))
        draws.append(torch.randint(max(1, self.num_classes), (n,), generator=self.noise_gen))
        return draws

    def _stat_keys(self) -> list[str]:
        return ["real", "fake", *(["gp"] if self.config.gp_weight else []), "loss_d"]

    def _iteration(self, *draws: Tensor) -> tuple[Tensor, Tensor]:
        """n_critic D updates and one G update from ``_draws()`` already on the device: device
        work only, no host sync, so that it can be captured in a CUDA graph. Returns the D
        statistics (``_stat_keys()`` order, averaged over the D updates) and G's loss."""
        stats = [self._d_update(*draws[5 * i: 5 * i + 5]) for i in range(self.config.n_critic)]
        loss_g = self._g_update(*draws[-2:])
        means = torch.stack([torch.stack([s[k] for s in stats]).float().mean()
                             for k in self._stat_keys()])
        return means, loss_g.float()

    def _d_update(self, idx: Tensor, z: Tensor, rt: Tensor, ft: Tensor,
                  alpha: Tensor) -> dict[str, Tensor]:
        c = self.config
        x, y = self._real_batch(idx)
        with torch.no_grad(), self._autocast():
            # Fakes of the real batch's classes: the class mix matches the data's, and the
            # gradient penalty's interpolates share one label.
            fake = self._gen(z, y).contiguous(memory_format=self._fmt)
        with self._autocast():
            real_out, real_aux = self._disc(x, y)
            fake_out, fake_aux = self._disc(fake, y)
        if c.loss == "bce":
            loss = losses.d_loss_bce(real_out, fake_out, rt, ft)
            real_stat, fake_stat = torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()
        else:
            loss = losses.d_loss_wgan(real_out, fake_out)
            real_stat, fake_stat = real_out.mean(), fake_out.mean()
        if real_aux is not None:
            loss = loss + c.aux_weight * (losses.aux_class_loss(real_aux, y)
                                          + losses.aux_class_loss(fake_aux, y))
        out = {"real": real_stat.detach(), "fake": fake_stat.detach()}
        if c.gp_weight:
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

    def _g_update(self, z: Tensor, y: Tensor) -> Tensor:
        c = self.config
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
        means, loss_g = self._iterate(*(t.to(self.device) for t in self._draws()))
        values = torch.cat([means, loss_g.view(1)]).tolist()  # one device sync
        d = dict(zip(self._stat_keys(), values[:-1]))
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

    def _eval_set(self, n: int, stream: str) -> Tensor:
        """``n`` images from a fixed noise stream; classes cycle through 0..K-1."""
        z = self.sample_z(n, self.streams.generator(stream))
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
        """The evaluation classifier the data's registration declares (cached outside the
        repo; trained on a cache miss only)."""
        if self.clf is None:
            from gensuite.evaluators.classifier import for_dataset

            c = self.config
            name = self.data.info.name if c.classifier == "auto" else c.classifier
            self.use_classifier(for_dataset(
                name, image_size=self.size, device=str(self.device),
                data_root=self.ctx.data_root, train_limit=c.classifier_train_limit,
                epochs=c.classifier_epochs))
        return self.clf

    def use_classifier(self, classifier) -> None:
        """Evaluate with this classifier instead of the cached one (tests, notebooks)."""
        from gensuite.metrics.classifier import register_classifier_extractor

        self.clf, self.extractor = classifier, register_classifier_extractor(classifier)

    def _fidelity(self, generated: Tensor, real: Tensor, *, kid: bool):
        from gensuite.metrics.fidelity import fidelity_metrics

        self.classifier()
        n = min(len(generated), len(real))
        return fidelity_metrics(
            generated, real, extractor=self.extractor.name, isc=True, fid=True, kid=kid,
            device=str(self.device), kid_subsets=self.config.kid_subsets,
            kid_subset_size=min(1000, n), isc_splits=min(10, len(generated)),
        )

    def validate(self) -> dict[str, float]:
        n = self.config.eval_samples
        generated = self._eval_set(n, "val")
        res = self._fidelity(generated, self._reference(n), kid=False)
        out = {"fid": res["frechet_inception_distance"], "is": res["inception_score_mean"]}
        if self.conditional:
            from gensuite.metrics.classifier import class_conditional_accuracy

            labels = torch.arange(n) % self.num_classes
            out["class_acc"] = 100.0 * class_conditional_accuracy(self.clf, generated, labels)
        return out

    def evaluations(self, curves: Curves) -> list[dict[str, float]]:
        """The loop's validation curve with each evaluation's epoch (figures, evaluation.json)."""
        return [{"epoch": v["step"] / self.steps_per_epoch, **v} for v in curves.val]

    def test(self, curves: Curves) -> EvalResult:
        from gensuite.metrics.classifier import class_histogram, predict
        from gensuite.metrics.fidelity import fidelity_intervals

        c = self.config
        generated = self._eval_set(c.test_samples, "test")
        reference = self._reference(c.test_samples)
        res = self._fidelity(generated, reference, kid=True)
        n = res.n_generated
        # Intervals over the generated samples (bootstrap); IS's is over its splits.
        half = fidelity_intervals(generated, reference, extractor=self.extractor.name,
                                  layer=res.feature_layer_fid, kid=True,
                                  resamples=c.bootstrap, device=str(self.device),
                                  kid_subset_size=min(1000, n, len(reference)))
        out = {
            "fid": Estimate(mean=res["frechet_inception_distance"], ci95=half["fid"], n=n,
                            over="images"),
            "is": res.is_estimate(),
            # kid_std is over overlapping random subsets: a spread; the interval is kid's.
            "kid": Estimate(mean=res["kernel_inception_distance_mean"], ci95=half["kid"], n=n,
                            over="images"),
            "kid_std": Estimate(mean=res["kernel_inception_distance_std"],
                                n=c.kid_subsets, over="subsets"),
        }
        fids = [v["fid"] for v in curves.val if "fid" in v]
        if len(fids) >= 2:
            out["fid_drop"] = Estimate(mean=fids[0] - fids[-1], n=2, over="evaluations")
        details: dict[str, Any] = {"fidelity": res.as_record()}
        clf = self.clf
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
            z = self.sample_z(c.class_samples, self.streams.generator("test_class"))
            images = self.generate(z, torch.full((c.class_samples,), target))
            hits = (predict(clf, images) == target).double().tolist()
            out["class_acc"] = accuracy_estimate(hits, over="images")
            details["class_acc_target"] = {"class": clf.classes[target],
                                           "accuracy": sum(hits) / len(hits)}
            # Every class on the same noise. Their mean is the honest summary where classes are
            # unbalanced: a classifier leaning to a majority class (LFW: Bush, 41%) flatters it.
            per_class, pooled = {}, []
            for k in range(self.num_classes):
                imgs = self.generate(z[:200], torch.full((min(200, len(z)),), k))
                hits_k = (predict(clf, imgs) == k).double().tolist()
                per_class[clf.classes[k]] = sum(hits_k) / len(hits_k)
                pooled += hits_k
            details["class_acc_per_class"] = per_class
            out["class_acc_mean"] = accuracy_estimate(pooled, over="images")
        return EvalResult(metrics=out, details=details)

    # ------------------------------------------------------------------ figures

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        """Sample grids, loss / fidelity curves, latent-space figures, class histogram, JSON."""
        return gan_artifacts.write_artifacts(self, Path(outdir), result, curves)

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
            "grids": dict(self.grids),
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
        self._iterate.invalidate()  # new parameter and optimiser tensors: capture again

