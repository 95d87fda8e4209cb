"""Variational autoencoder (Kingma & Welling, ICLR 2014) for course reports E-1, C-3 and B-1.

q(z|x) = N(mu(x), diag(exp(logvar(x)))), p(z) = N(0, I), trained by maximising the ELBO with one
reparameterised sample per image and the analytic KL (Kingma & Welling's estimator B, eq. 10).
One ``train_step`` is one mini-batch; an epoch is ``ceil(n_train / batch_size)`` steps over a
fresh permutation, so a suite's schedule gives ``steps = epochs × batches per epoch`` and
``eval_every = batches per epoch`` (``validate`` then returns the validation ELBO per epoch).

Likelihoods p(x|z), x in [0, 1] (uint8 / 255):

- ``bernoulli``: per-pixel Bernoulli with the decoder's logits (binarized MNIST, report E-1; on
  grey MNIST, report C-3, it is the usual cross-entropy loss, not a normalised density);
- ``gaussian``: report B-1's loss, exactly as written, ``‖x − x̂‖² / (σ² d_x) + KL`` with
  σ² = ``x_sigma2``, d_x = C·H·W and x̂ = sigmoid(decoder logits). That loss is the negative ELBO,
  up to a constant, of the Gaussian decoder N(x̂, s² I) with s² = σ² d_x / 2, because
  ‖x − x̂‖² / (2 s²) = ‖x − x̂‖² / (σ² d_x). We train and evaluate that model, so ELBO and
  log-likelihood are proper bounds/estimates in nats per image; the train curve's ``loss`` is the
  report's loss (the negative ELBO less (d_x/2)·log(2π s²)). Maximising the ELBO over σ² is
  maximum likelihood for the decoder variance, so the validation ELBO compares σ² values.

Metrics (``gensuite.metrics.likelihood``, nats per image, mean ± 95% CI over images): validation
and test ELBO, and the importance-sampled log-likelihood with K = ``iw_samples`` (Burda et al.
2016; K = 5000 in their Table 1). log p(x) ≥ E[L_K] ≥ ELBO, so every model is checked for
ELBO ≤ log-likelihood (``bound_holds``). IS/FID of samples (``is``, ``fid``) use the evaluation
classifier that the data's registration declares (``gensuite.evaluators``; named in the result
details, e.g. "MNIST classifier").

Configuration: ``vae_config.VAEConfig``; test metrics: ``vae_evaluation``; figures:
``vae_artifacts``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from gensuite.algorithms import vae_artifacts, vae_evaluation
from gensuite.algorithms.vae_config import SEED_STREAMS, VAEConfig, iwae_lr_factor
from gensuite.api import AlgorithmBase, Curves, EvalResult, RunContext
from gensuite.data.containers import ImageClassData
from gensuite.metrics.likelihood import (
    bernoulli_log_likelihood,
    gaussian_kl_standard_normal,
    gaussian_log_likelihood,
    importance_sampled_log_likelihood,
)
from gensuite.models.vae_nets import build_vae_nets
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams

_EVAL_BATCH = 1000  # images per forward pass in ELBO evaluation
_IW_ROWS = 20_000  # decoder evaluations per call in the importance-sampled estimate
_IW_MAX_BATCH_K = 500
_MAX_CAPTURES = 20  # per-epoch sample grids kept (evenly spaced when there are more epochs)


@register_algorithm("vae")
class VAE(AlgorithmBase):
    """VAE (Kingma & Welling 2014) with the IWAE bound (Burda et al. 2016): course reports E-1,
    C-3, B-1; one step = one mini-batch (see the module docstring)."""

    Config = VAEConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(
        hidden=16, hidden_layers=1, latent_dim=4, batch_size=16, iw_samples=4, fid_samples=32,
        classifier_train_limit=64,
        classifier_epochs=1, bootstrap=5)
    capture_per_row = 10

    def __init__(self, config: VAEConfig, data: ImageClassData, ctx: RunContext) -> None:
        self.config = config
        self.data = data
        self.ctx = ctx
        self.streams = SeedStreams(ctx.seed, SEED_STREAMS)
        self.device = torch.device(ctx.device)
        c = config
        train, val = self._splits(data)
        self.train_images = self._limit(train, c.train_limit).to(self.device)
        self.val_images = self._limit(val, c.val_limit).to(self.device)
        self.test_images = self._limit(data.test_images, c.test_limit).to(self.device)
        self.image_shape = tuple(self.train_images.shape[1:])
        self.d_x = math.prod(self.image_shape)
        # Binary data (binarized MNIST): samples are drawn pixel-wise, like the data they are
        # compared with; grey or RGB data: samples are the decoder means.
        self.binary = bool(((self.train_images == 0) | (self.train_images == 255)).all())
        # Gaussian decoder variance implied by report B-1's loss (module docstring).
        self.s2 = c.x_sigma2 * self.d_x / 2
        self.batches_per_epoch = math.ceil(len(self.train_images) / c.batch_size)

        torch.manual_seed(ctx.seed)  # network initialisation
        self.encoder, self.decoder = build_vae_nets(
            c.arch, self.image_shape, c.latent_dim, hidden=c.hidden,
            hidden_layers=c.hidden_layers, channels=c.channels, activation=c.activation,
        )
        self.decoder.init_output_bias(
            self.train_images.sum(0, dtype=torch.float64) / (255.0 * len(self.train_images)))
        self.encoder.to(self.device)
        self.decoder.to(self.device)
        self.optimizer = torch.optim.Adam(self._parameters(), lr=c.lr, eps=c.adam_eps)
        # Its own generator makes the reparameterisation noise reproducible and resumable.
        self.gen = self.streams.generator("reparam", device=self.device)
        self._fixed_z = torch.randn((self.capture_per_row, c.latent_dim), device=self.device,
                                    generator=self.streams.generator("grid", device=self.device))
        total_epochs = max(1, math.ceil(ctx.schedule.steps / self.batches_per_epoch))
        n_cap = min(total_epochs, _MAX_CAPTURES)
        self._capture_epochs = {round(1 + i * (total_epochs - 1) / max(1, n_cap - 1))
                                for i in range(n_cap)}
        self.steps_done = 0
        self.epoch_grids: dict[int, Tensor] = {}  # epoch → uint8 fixed-noise samples (CPU)
        self.epoch_train_elbo: list[float] = []  # mean training ELBO of each completed epoch
        self._epoch_elbo = [0.0, 0]  # running sum and count of the train ELBO this epoch
        self._perm_epoch, self._perm = -1, None

    # --- data ---------------------------------------------------------------------------

    def _splits(self, data) -> tuple[Tensor, Tensor]:
        val = getattr(data, "val_images", None)
        if val is not None:
            return data.train_images, val
        n_val = round(len(data.train_images) * self.config.val_fraction)
        return data.train_images[:-n_val], data.train_images[-n_val:]

    @staticmethod
    def _limit(images: Tensor, n: int) -> Tensor:
        return images[:n] if n else images

    def to_float(self, images: Tensor) -> Tensor:
        return images.to(self.device, torch.float32) / 255.0

    def _parameters(self):
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    # --- the model ----------------------------------------------------------------------

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Float images in [0, 1] → (mu, logvar) of q(z|x)."""
        return self.encoder(x)

    def decode_mean(self, z: Tensor) -> Tensor:
        """E[x|z] in [0, 1]: sigmoid of the decoder logits (both likelihoods)."""
        return torch.sigmoid(self.decoder(z))

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) summed over pixels → (B,), nats."""
        logits = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, logits)
        return gaussian_log_likelihood(x, torch.sigmoid(logits), var=self.s2)

    def report_b1_loss(self, neg_elbo: Tensor) -> Tensor:
        """Report B-1's ‖x − x̂‖²/(σ² d_x) + KL from the negative Gaussian ELBO (same gradient)."""
        return neg_elbo - 0.5 * self.d_x * math.log(2 * math.pi * self.s2)

    def elbo_terms(self, x: Tensor, generator: torch.Generator | None) -> dict[str, Tensor]:
        """Per-image ELBO, reconstruction log-likelihood and KL (one reparameterised sample)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation (Kingma & Welling, eq. 4)
        rec = self.log_px_given_z(x, z)
        kl = gaussian_kl_standard_normal(mu, logvar)
        return {"elbo": rec - kl, "rec": rec, "kl": kl, "mu": mu}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               z: Tensor | None = None) -> Tensor:
        """``n`` images from the model as uint8 (N, C, H, W) on the CPU: pixels drawn from
        Bernoulli(mean) for binary data, else the decoder mean (module docstring)."""
        self.eval_mode()
        if z is None:
            z = torch.randn((n, self.config.latent_dim), generator=generator, device=self.device)
        out = []
        for zb in z.split(_EVAL_BATCH):
            mean = self.decode_mean(zb)
            if self.binary:
                mean = (torch.rand(mean.shape, generator=generator, device=self.device)
                        < mean).float()
            out.append(self.to_u8(mean))
        return torch.cat(out)

    @staticmethod
    def to_u8(x: Tensor) -> Tensor:
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu()

    def eval_mode(self) -> None:
        self.encoder.eval()
        self.decoder.eval()

    # --- training -----------------------------------------------------------------------

    def _batch(self, step: int) -> Tensor:
        epoch, b = divmod(step, self.batches_per_epoch)
        if epoch != self._perm_epoch:
            # A permutation per epoch from (seed, epoch) alone: resuming needs no sampler state.
            g = self.streams.generator("epoch", epoch)
            self._perm = torch.randperm(len(self.train_images), generator=g).to(self.device)
            self._perm_epoch = epoch
        bs = self.config.batch_size
        return self.train_images[self._perm[b * bs : (b + 1) * bs]]

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        epoch = step // self.batches_per_epoch
        if c.lr_schedule == "iwae":
            for group in self.optimizer.param_groups:
                group["lr"] = c.lr * iwae_lr_factor(epoch)
        self.encoder.train()
        self.decoder.train()
        x = self.to_float(self._batch(step))
        terms = self.elbo_terms(x, self.gen)
        neg_elbo = -terms["elbo"].mean()
        self.optimizer.zero_grad(set_to_none=True)
        neg_elbo.backward()
        self.optimizer.step()
        loss = neg_elbo.detach()
        if c.likelihood == "gaussian":
            loss = self.report_b1_loss(loss)
        loss_v, kl_v = torch.stack([loss, terms["kl"].detach().mean()]).tolist()  # one sync
        elbo_v = -neg_elbo.item()
        self._epoch_elbo = [self._epoch_elbo[0] + elbo_v * len(x), self._epoch_elbo[1] + len(x)]
        self.steps_done = step + 1
        if self.steps_done % self.batches_per_epoch == 0:
            self._end_epoch(self.steps_done // self.batches_per_epoch)
        return {"loss": loss_v, "elbo": elbo_v, "kl": kl_v}

    def _end_epoch(self, epoch: int) -> None:
        s, n = self._epoch_elbo
        self.epoch_train_elbo.append(s / max(n, 1))
        self._epoch_elbo = [0.0, 0]
        if epoch in self._capture_epochs:
            with torch.no_grad():
                self.eval_mode()
                self.epoch_grids[epoch] = self.to_u8(self.decode_mean(self._fixed_z))

    @torch.no_grad()
    def elbo_per_image(self, images: Tensor, seed: int) -> dict[str, Tensor]:
        """ELBO, KL (and squared error of the mean reconstruction) per image, on the CPU."""
        self.eval_mode()
        g = torch.Generator(self.device).manual_seed(seed)
        parts: dict[str, list[Tensor]] = {"elbo": [], "kl": [], "sq_err": [], "mu": []}
        for batch in images.split(_EVAL_BATCH):
            x = self.to_float(batch)
            t = self.elbo_terms(x, g)
            recon = self.decode_mean(t["mu"])
            parts["sq_err"].append((recon - x).pow(2).flatten(1).sum(1).cpu())
            for k in ("elbo", "kl", "mu"):
                parts[k].append(t[k].cpu())
        return {k: torch.cat(v) for k, v in parts.items()}

    def validate(self) -> dict[str, float]:
        if len(self.val_images) == 0:
            return {}
        r = self.elbo_per_image(self.val_images, self.streams.seed_of("val"))
        return {"val_elbo": r["elbo"].mean().item(), "val_kl": r["kl"].mean().item(),
                "val_mse": (r["sq_err"].mean() / self.d_x).item()}

    @torch.no_grad()
    def log_likelihood_per_image(self, images: Tensor, k: int, seed: int) -> Tensor:
        """Importance-sampled log p(x) with ``k`` samples per image (Burda et al. 2016), CPU."""
        self.eval_mode()
        g = torch.Generator(self.device).manual_seed(seed)
        batch_k = min(k, _IW_MAX_BATCH_K)
        per_call = max(1, _IW_ROWS // batch_k)
        out = []
        chunks = images.split(per_call)
        for batch in tqdm(chunks, desc=f"vae log-likelihood (K={k})", leave=False,
                          disable=not self.ctx.progress):
            out.append(importance_sampled_log_likelihood(
                self.to_float(batch), self.encode, self.log_px_given_z, k=k, batch_k=batch_k,
                generator=g).cpu())
        return torch.cat(out)

    def test(self, curves: Curves) -> EvalResult:
        return vae_evaluation.evaluate(self)

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        """ELBO curve, samples per epoch, samples, reconstructions, latent traversal,
        per-dimension perturbation, and the 2-D manifold when ``latent_dim == 2``."""
        return vae_artifacts.write_artifacts(self, outdir, result, curves)

    # --- checkpoints --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        # A deep copy: optimiser state tensors are updated in place by later steps.
        return copy.deepcopy({
            "encoder": self.encoder.state_dict(),
            "decoder": self.decoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "gen": self.gen.get_state(),
            "steps_done": self.steps_done,
            "epoch_grids": self.epoch_grids,
            "epoch_elbo": self._epoch_elbo,
            "epoch_train_elbo": self.epoch_train_elbo,
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.decoder.load_state_dict(state["decoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["gen"])
        self.steps_done = state["steps_done"]
        self.epoch_grids = dict(state["epoch_grids"])
        self._epoch_elbo = list(state["epoch_elbo"])
        self.epoch_train_elbo = list(state["epoch_train_elbo"])
