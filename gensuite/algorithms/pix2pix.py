"""pix2pix (Isola, Zhu, Zhou & Efros, CVPR 2017): image-to-image translation with a conditional
GAN, course report A-Q3 (aerial photo → map, scored by SSIM) and Isola et al.'s Table 1 ablation
(L1 alone, cGAN alone, cGAN + L1).

G is a U-Net (unet_128 / unet_256 by image size, dropout as its noise), D a PatchGAN on the
(input, output) pair. D minimises the GAN loss of real pairs against generated ones (halved, as
the authors do); G minimises the GAN loss of its pairs plus λ·L1 to the target (λ = 100). Adam
2e-4, β1 0.5, batch 1; the paper's jitter (resize to 1.12× then a random crop back, a random
horizontal flip, the same for input and target); the learning rate decays linearly to zero over
the second half of training. One ``train_step`` = one D update + one G update.

Evaluation runs G as the paper does at test time: dropout on and batch norm on the test image's
own statistics (train mode; with batch 1 that is instance normalisation), with a fixed dropout
seed. Metrics on the val split: SSIM (Wang et al. 2004 settings, data range 1 on [0, 1] pixels),
PSNR and L1 between generated and real targets, mean ± 95% CI over images, and FID against the
real targets with the Inception network that is available (named in the record).
"""

from __future__ import annotations

import copy
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext, eval_field
from gensuite.data.containers import PairedImageData
from gensuite.errors import CaseNotRunnable, MissingDataError
from gensuite.metrics.accuracy import mean_ci
from gensuite.metrics.similarity import psnr_estimate, ssim_estimate
from gensuite.models.pix2pix import (
    NORMS,
    PatchDiscriminator,
    UnetGenerator,
    init_weights,
    load_authors_generator,
    num_downs_for,
    receptive_field,
)
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams

LOSSES = ("bce", "lsgan")
PRETRAINED = {  # name → where the authors' download script puts it, relative to a data root
    "sat2map": ("pix2pix-maps/pretrained/sat2map_pretrained/latest_net_G.pth",
                "checkpoints/sat2map_pretrained/latest_net_G.pth"),
}
PRETRAINED_HOW = ("run the authors' scripts/download_pix2pix_model.sh sat2map online and copy "
                  "checkpoints/sat2map_pretrained/latest_net_G.pth into "
                  "<root>/pix2pix-maps/pretrained/sat2map_pretrained/")



@dataclass(frozen=True, kw_only=True)
class Pix2PixConfig:
    """Isola et al. 2017's settings (Sec. 3, 4 and the authors' code defaults)."""

    data_type: ClassVar[type] = PairedImageData

    gan_loss: str = "bce"  # bce: the paper's log loss; lsgan: least squares
    adversarial: bool = True  # False: L1 alone (Table 1's "L1" row), no D
    l1_weight: float = 100.0  # λ; 0: cGAN alone
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 0  # 0: 3 (70×70 patches) from 256 px, 2 (34×34: the same share) below
    norm: str = "batch"  # batch | instance
    dropout: bool = True
    lr: float = 2e-4
    beta1: float = 0.5
    batch_size: int = 1
    jitter: bool = True
    load_scale: float = 1.12  # resize to this × size before the random crop (286 / 256)
    decay_from: float = 0.5  # the rate decays linearly to 0 from this fraction of the schedule
    train_limit: int = 0  # the first N training pairs only (smoke runs); 0: all
    val_images: int = 50  # val pairs scored at each evaluation (the SSIM curve)
    pretrained: str = ""  # "sat2map": the authors' generator from the data root, no training
    test_limit: int = eval_field(0)  # val pairs scored at the end; 0: all
    triplets: int = eval_field(10)  # fixed val pairs drawn as input | real | generated (A-Q3a)
    fid: bool = eval_field(True)  # FID of generated vs real targets (Inception, when available)
    bootstrap: int = eval_field(100)  # resamples for FID's interval

    def __post_init__(self) -> None:
        if self.gan_loss not in LOSSES:
            raise ValueError(f"gan_loss must be one of {', '.join(LOSSES)}; got {self.gan_loss!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {self.norm!r}")
        if not self.adversarial and self.l1_weight <= 0:
            raise ValueError("with adversarial = false the L1 term is the whole loss: "
                             "l1_weight must be > 0")
        if self.pretrained and self.pretrained not in PRETRAINED:
            raise ValueError(f"pretrained must be one of {', '.join(PRETRAINED)}; got "
                             f"{self.pretrained!r}")
        if not 0.0 <= self.decay_from <= 1.0:
            raise ValueError(f"decay_from must lie in [0, 1]; got {self.decay_from}")
        if self.load_scale < 1.0:
            raise ValueError(f"load_scale must be ≥ 1; got {self.load_scale}")


def _to_unit(x: Tensor) -> Tensor:
    """uint8 0..255 → float −1..1 (the networks' scale)."""
    return x.float().div(127.5).sub(1.0)


def _to_uint8(x: Tensor) -> Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


@register_algorithm("pix2pix")
class Pix2Pix(AlgorithmBase):
    """pix2pix (Isola et al. 2017; report A-Q3): U-Net G + PatchGAN D, cGAN + λ·L1."""

    Config = Pix2PixConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(
        ngf=4, ndf=4, val_images=2, triplets=2, fid=False, bootstrap=5)

    def __init__(self, config: Pix2PixConfig, data: PairedImageData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        self.size = int(data.train_inputs.shape[-1])
        if data.train_inputs.shape[-2] != self.size:
            raise ValueError(f"pix2pix needs square images; got {tuple(data.train_inputs.shape)}")
        in_ch, out_ch = int(data.train_inputs.shape[1]), int(data.train_targets.shape[1])
        self.d_layers = c.d_layers or (3 if self.size >= 256 else 2)
        torch.manual_seed(ctx.seed)  # network initialisation
        if c.pretrained:
            self.G = load_authors_generator(self._pretrained_path(), dropout=c.dropout)
            if self.G.num_downs != num_downs_for(self.size):
                raise CaseNotRunnable(
                    f"needs {2 ** self.G.num_downs}-px data",
                    f"the pretrained {c.pretrained} generator has {self.G.num_downs} levels "
                    f"(unet_{2 ** self.G.num_downs}); this data is {self.size} px: put the "
                    "original maps JPEGs in the data root")
        else:
            self.G = UnetGenerator(in_ch, out_ch, num_downs_for(self.size), c.ngf, c.norm,
                                   c.dropout)
            init_weights(self.G)
        self.G.to(self.device)
        self.D = None
        if c.adversarial and not c.pretrained:
            self.D = PatchDiscriminator(in_ch + out_ch, c.ndf, self.d_layers, c.norm)
            init_weights(self.D)
            self.D.to(self.device)
        betas = (c.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=betas)
        self.opt_d = (torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=betas)
                      if self.D is not None else None)
        total = max(1, ctx.schedule.steps)
        decay_start = int(c.decay_from * total)
        # The authors' linear policy in steps: constant, then down to 0 at the last step.
        self.scheduler_lambda = lambda step: 1.0 - max(0, step - decay_start) / (
            total - decay_start + 1)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, self.scheduler_lambda)
                           for o in (self.opt_g, self.opt_d) if o is not None]
        n = len(data.train_inputs) if not c.train_limit else min(c.train_limit,
                                                                   len(data.train_inputs))
        if n < c.batch_size:
            raise ValueError(f"batch_size {c.batch_size} exceeds the {n} training pairs")
        # Pairs resized once to the jitter's load size (uint8, on the device); a step crops.
        self.load = round(self.size * c.load_scale) if c.jitter else self.size
        pairs = torch.cat([data.train_inputs[:n], data.train_targets[:n]], 1)
        if self.load != self.size:
            pairs = F.interpolate(pairs.float(), size=(self.load, self.load), mode="bicubic",
                                  align_corners=False).round().clamp(0, 255).to(torch.uint8)
        self._pairs = pairs.to(self.device)
        self.in_ch = in_ch
        self.data_gen = self.streams.generator("data")  # order, crops, flips
        self._perm, self._pos = torch.randperm(n, generator=self.data_gen), 0
        self.triplet_idx = torch.arange(min(c.triplets, len(data.test_inputs)))
        self.progress: list[tuple[int, Tensor]] = []  # (step, generated uint8) per evaluation
        # Every iteration's losses for the per-iteration figure (report A-Q3 (b)).
        self.loss_hist = {k: array("f") for k in ("loss_d", "loss_g")}
        self.step = 0

    def _pretrained_path(self) -> Path:
        from gensuite.data.root import DataRoot

        try:
            return DataRoot(self.ctx.data_root).locate(
                f"pretrained {self.config.pretrained} generator",
                *PRETRAINED[self.config.pretrained], how_to_get=PRETRAINED_HOW)
        except MissingDataError as e:
            raise CaseNotRunnable("no pretrained weights", str(e)) from None

    # ------------------------------------------------------------------ training

    def _batch(self) -> tuple[Tensor, Tensor]:
        """The next ``batch_size`` pairs, jittered: a random load→size crop and a random flip,
        the same for input and target (drawn from the run's own generator: resumable)."""
        c = self.config
        idx = []
        for _ in range(c.batch_size):
            if self._pos == len(self._perm):
                self._perm, self._pos = torch.randperm(len(self._perm),
                                                       generator=self.data_gen), 0
            idx.append(int(self._perm[self._pos]))
            self._pos += 1
        crops = []
        for i in idx:
            top, left = (torch.randint(self.load - self.size + 1, (2,),
                                       generator=self.data_gen).tolist()
                         if c.jitter else (0, 0))
            flip = bool(torch.rand(1, generator=self.data_gen) < 0.5) if c.jitter else False
            x = self._pairs[i, :, top: top + self.size, left: left + self.size]
            crops.append(x.flip(-1) if flip else x)
        both = _to_unit(torch.stack(crops))
        return both[:, : self.in_ch], both[:, self.in_ch:]

    def _gan_loss(self, logits: Tensor, real: bool) -> Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        if self.config.gan_loss == "lsgan":
            return F.mse_loss(logits, target)
        return F.binary_cross_entropy_with_logits(logits, target)

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        if c.pretrained:
            return {}
        self.G.train()
        x, y = self._batch()
        fake = self.G(x)
        out: dict[str, Tensor] = {}
        if self.D is not None:
            self.D.train()
            d_real = self.D(torch.cat([x, y], 1))
            d_fake = self.D(torch.cat([x, fake.detach()], 1))
            loss_d = 0.5 * (self._gan_loss(d_real, True) + self._gan_loss(d_fake, False))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            out["loss_d"] = loss_d.detach()
            self.D.requires_grad_(False)  # no D gradients in G's update
            loss_g_gan = self._gan_loss(self.D(torch.cat([x, fake], 1)), True)
            self.D.requires_grad_(True)
            out["loss_g_gan"] = loss_g_gan.detach()
        else:
            loss_g_gan = fake.new_zeros(())
        l1 = F.l1_loss(fake, y)
        loss_g = loss_g_gan + c.l1_weight * l1
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        for s in self.schedulers:
            s.step()
        out.update(loss_g=loss_g.detach(), l1=l1.detach())
        keys = list(out)
        values = dict(zip(keys, torch.stack([out[k].float() for k in keys]).tolist()))
        for k, hist in self.loss_hist.items():  # one device sync above
            if k in values:
                hist.append(values[k])
        self.step = step + 1
        return values

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def translate(self, inputs: Tensor, batch: int = 16) -> Tensor:
        """uint8 outputs for uint8 inputs, G as at test time in the paper (dropout and batch
        statistics on; see the module docstring) with a fixed dropout seed."""
        was = self.G.training
        self.G.train()
        outs = []
        # Its own dropout seed, without disturbing the training's random stream.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.streams.seed_of("test_dropout"))
            # One image at a time: batch norm on one image's statistics, as with batch size 1.
            for i in range(len(inputs)):
                outs.append(_to_uint8(self.G(_to_unit(inputs[i: i + 1].to(self.device)))))
        self.G.train(was)
        return torch.cat(outs) if outs else inputs[:0]

    def _scores(self, n: int) -> dict[str, Estimate]:
        inputs, targets = self.data.test_inputs[:n], self.data.test_targets[:n]
        fake = self.translate(inputs)
        ssim = ssim_estimate(fake.float() / 255, targets.float() / 255, data_range=1.0,
                             layout="NCHW", wang2004=True)
        psnr = psnr_estimate(fake.float() / 255, targets.float() / 255, data_range=1.0,
                             layout="NCHW")
        l1_each = (fake.float() - targets.float()).abs().mean(dim=(1, 2, 3)) / 255
        mean, half, k = mean_ci(l1_each.double().tolist())
        self._last_fake = fake
        return {"ssim": ssim, "psnr": psnr,
                "l1": Estimate(mean=mean, ci95=half, n=k, unit="", over="images")}

    def validate(self) -> dict[str, float]:
        n = min(self.config.val_images, len(self.data.test_inputs))
        if n == 0 or self.config.pretrained:
            return {}
        scores = self._scores(n)
        self.progress.append((self.step, self._last_fake[: len(self.triplet_idx)].clone()))
        return {"val_ssim": scores["ssim"].mean, "val_psnr": scores["psnr"].mean,
                "val_l1": scores["l1"].mean}

    def test(self, curves: Curves) -> EvalResult:
        c = self.config
        n = len(self.data.test_inputs) if not c.test_limit else min(c.test_limit,
                                                                    len(self.data.test_inputs))
        metrics = self._scores(n)
        fake = self._last_fake
        details: dict[str, Any] = {
            "test_images": n, "image_size": self.size, "ssim_settings": "Wang et al. 2004 "
            "(11×11 Gaussian window σ 1.5, population covariances), data range 1 on [0, 1] "
            "pixels, mean over RGB channels",
            "patch_receptive_field": None if self.D is None else receptive_field(self.d_layers),
            "generator_parameters": sum(p.numel() for p in self.G.parameters()),
        }
        if c.fid:
            fid = self._fid(fake, self.data.test_targets[:n])
            if fid is not None:
                metrics["fid"], details["fid_extractor"] = fid
        self._triplets = (self.data.test_inputs[self.triplet_idx],
                          self.data.test_targets[self.triplet_idx], fake[self.triplet_idx])
        return EvalResult(metrics=metrics, details=details)

    def _fid(self, fake: Tensor, real: Tensor) -> tuple[Estimate, str] | None:
        """FID of the generated vs the real targets with the Inception network available
        (torch-fidelity's weights, else fid-helper's); None when neither is installed."""
        from gensuite.metrics.fidelity import (
            bootstrap_half_width,
            extract_features,
            fid_from_features,
        )
        from gensuite.metrics.inception import inception_extractor

        try:
            spec = inception_extractor("auto")
        except MissingDataError:
            return None
        layer = spec.feature_layer_fid
        # The features once: FID and its bootstrap interval both come from them.
        feats = [extract_features(x, extractor=spec.name, layers=[layer],
                                  device=str(self.device), weights_path=spec.weights_path)[layer]
                 for x in (fake, real)]
        half = bootstrap_half_width(*feats, "fid", resamples=self.config.bootstrap)
        est = Estimate(mean=fid_from_features(*feats), ci95=half, n=len(fake), over="images")
        return est, spec.description

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.gan_figures import labelled_rows

        outdir = Path(outdir)
        paths = []
        triplets = getattr(self, "_triplets", None)
        if triplets is not None and len(triplets[0]):
            d = self.data
            paths.append(labelled_rows(
                [(d.input_name, triplets[0]), (f"real {d.target_name}", triplets[1]),
                 (f"generated {d.target_name}", triplets[2])],
                outdir / "triplets.png",
                f"val pairs 1–{len(triplets[0])}: {d.input_name} | real | generated"))
        from gensuite.algorithms.gan_figures import fidelity_curves, named_loss_curves

        losses = {name: hist for name, hist in (("discriminator", self.loss_hist["loss_d"]),
                                                ("generator (GAN + λ·L1)",
                                                 self.loss_hist["loss_g"])) if len(hist)}
        if losses:
            paths.append(named_loss_curves(losses, outdir / "losses.png",
                                           "pix2pix: D and G loss per iteration",
                                           xlabel="iteration (one D and one G update)"))
        val = [v for v in curves.val if "val_ssim" in v]
        if len(val) >= 2:
            epoch = len(self._perm) / self.config.batch_size  # iterations per pass
            paths.append(fidelity_curves(
                [v["step"] / epoch for v in val],
                {f"SSIM ({self.config.val_images} val pairs)": [v["val_ssim"] for v in val]},
                outdir / "ssim_per_eval.png", "SSIM per evaluation", window=3))
        if self.progress:
            rows = [(f"step {s}", g) for s, g in self.progress]
            paths.append(labelled_rows(rows, outdir / "progress.png",
                                       f"generated {self.data.target_name} of the same val "
                                       "inputs at each evaluation"))
        return paths

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        state = {
            "G": self.G.state_dict(), "opt_g": self.opt_g.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "data_gen": self.data_gen.get_state(), "perm": self._perm, "pos": self._pos,
            "torch_rng": torch.get_rng_state(), "step": self.step,
            "progress": [(s, g) for s, g in self.progress],
            "loss_hist": {k: torch.tensor(v) for k, v in self.loss_hist.items()},
        }
        if self.D is not None:
            state.update(D=self.D.state_dict(), opt_d=self.opt_d.state_dict())
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
            self.opt_d.load_state_dict(state["opt_d"])
        for s, sd in zip(self.schedulers, state["schedulers"]):
            s.load_state_dict(sd)
        self.data_gen.set_state(state["data_gen"])
        self._perm, self._pos = state["perm"].clone(), int(state["pos"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.progress = [(int(s), g) for s, g in state["progress"]]
        self.loss_hist = {k: array("f", v.tolist()) for k, v in state["loss_hist"].items()}
