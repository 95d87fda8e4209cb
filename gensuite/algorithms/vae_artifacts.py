"""The figures and the details file of one VAE run (``VAE.write_artifacts``): the ELBO curve,
fixed-noise samples per epoch, samples, reconstructions, the latent traversal (course report
C-2/C-3), the per-dimension perturbation (E-2) and, for a 2-D latent space, the manifold of
Kingma & Welling (2014) Fig. 4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gensuite.algorithms import vae_figures
from gensuite.api import Curves, EvalResult

if TYPE_CHECKING:
    from gensuite.algorithms.vae import VAE

_TRAVERSAL_POINTS, _TRAVERSAL_STEPS = 10, 10
_PERTURB_IMAGES = 1000  # validation images that rank the latent dimensions by KL


def history(vae: VAE, curves: Curves) -> list[dict[str, Any]]:
    """One row per validation: its step and epoch, the loop's validation metrics, and the mean
    training ELBO of the last epoch completed by then (None before the first)."""
    rows = []
    for v in curves.val:
        done = v["step"] // vae.batches_per_epoch
        train = vae.epoch_train_elbo[done - 1] if 0 < done <= len(vae.epoch_train_elbo) else None
        rows.append({"step": v["step"], "epoch": v["step"] / vae.batches_per_epoch,
                     "train_elbo": train, **{k: x for k, x in v.items() if k != "step"}})
    return rows


@torch.no_grad()
def write_artifacts(vae: VAE, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
    """ELBO curve, samples per epoch, samples, reconstructions, latent traversal,
    per-dimension perturbation, and the 2-D manifold when ``latent_dim == 2``."""
    outdir = Path(outdir)
    vae.eval_mode()
    D = vae.config.latent_dim  # noqa: N806 (the latent dimension, as in the papers)
    g = vae.streams.generator("figures", device=vae.device)
    rows = history(vae, curves)
    paths = [
        vae_figures.elbo_curve(rows, outdir / "elbo_curve.png", "VAE ELBO per epoch"),
        vae_figures.samples_per_epoch(vae.epoch_grids, outdir / "samples_per_epoch.png",
                                      vae.capture_per_row, "fixed-noise samples (means)"),
    ]
    means = vae.to_u8(vae.decode_mean(torch.randn((100, D), generator=g, device=vae.device)))
    paths.append(vae_figures.save_grid(means, outdir / "samples.png", nrow=10))
    # Reconstructions: rows of 10 test images, each followed by its reconstruction from the
    # posterior mean.
    x = vae.to_float(vae.test_images[:20])
    rec = vae.decode_mean(vae.encode(x)[0])
    pairs = torch.stack([x.reshape(-1, 10, *vae.image_shape),
                         rec.reshape(-1, 10, *vae.image_shape)], dim=1)
    paths.append(vae_figures.save_grid(vae.to_u8(pairs.flatten(0, 2)),
                                       outdir / "reconstructions.png", nrow=10))
    # Traversal (course report C-2/C-3): 10 random points, interpolated pairwise.
    pts = torch.randn((_TRAVERSAL_POINTS, D), generator=g, device=vae.device)
    alpha = torch.linspace(0, 1, _TRAVERSAL_STEPS, device=vae.device).view(1, -1, 1)
    path_z = pts[:-1, None] * (1 - alpha) + pts[1:, None] * alpha
    paths.append(vae_figures.save_grid(vae.to_u8(vae.decode_mean(path_z.flatten(0, 1))),
                                       outdir / "traversal.png", nrow=_TRAVERSAL_STEPS))
    paths.append(_perturbation(vae, outdir / "perturbation.png"))
    if D == 2:
        paths.append(_manifold(vae, outdir / "manifold.png"))
    details = {**result.details, "capture_epochs": sorted(vae.epoch_grids), "history": rows}
    (outdir / "vae_details.json").write_text(json.dumps(details, indent=2, default=str))
    return [p for p in paths if p is not None] + [outdir / "vae_details.json"]


def _perturbation(vae: VAE, path: Path, n_dims: int = 10, n_steps: int = 9) -> Path:
    """Rows: the ``n_dims`` latent dimensions with the largest mean KL on validation (all when
    fewer); columns: ε ∈ [−3, 3] added to that dimension of the posterior mean of the first
    test image (report E-2's per-dimension perturbation, for the VAE)."""
    mu, logvar = vae.encode(vae.to_float(vae.val_images[:_PERTURB_IMAGES]))
    kl_per_dim = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)
    dims = kl_per_dim.argsort(descending=True)[:n_dims]
    base = vae.encode(vae.to_float(vae.test_images[:1]))[0]
    eps = torch.linspace(-3, 3, n_steps, device=vae.device)
    z = base.repeat(len(dims) * n_steps, 1).reshape(len(dims), n_steps, -1)
    z[torch.arange(len(dims), device=vae.device), :, dims] += eps
    return vae_figures.save_grid(vae.to_u8(vae.decode_mean(z.flatten(0, 1))), path,
                                 nrow=n_steps)


def _manifold(vae: VAE, path: Path, n: int = 20) -> Path:
    """Kingma & Welling (2014) Fig. 4: decoder means over a grid of N(0, 1) quantiles."""
    from scipy.stats import norm

    q = torch.tensor(norm.ppf(torch.linspace(0.05, 0.95, n).double().numpy()),
                     dtype=torch.float32, device=vae.device)
    zz = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)
    return vae_figures.save_grid(vae.to_u8(vae.decode_mean(zz)), path, nrow=n)
