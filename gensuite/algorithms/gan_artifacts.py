"""The figures and the evaluation record of one GAN run (``GAN.write_artifacts``): fixed-noise
grids (report A-Q1a), per-iteration losses (A-Q1b), per-epoch IS/FID (B-3), latent interpolation
and per-dimension perturbation (C-2, E-2), data- vs latent-space interpolation (E-2), the class
histogram (C-2), requested-class samples (A-Q1c) and condition-flipped pairs (D-2)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from gensuite.algorithms import gan_figures as figs
from gensuite.algorithms.gan_config import FIXED_NOISE
from gensuite.api import Curves, EvalResult

if TYPE_CHECKING:
    from gensuite.algorithms.gan import GAN


def write_artifacts(gan: GAN, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
    """Sample grids, loss / fidelity curves, latent-space figures, class histogram, JSON."""
    outdir = Path(outdir)
    c, files = gan.config, []
    evals = gan.evaluations(curves)
    name = gan.data.display_name
    if gan.grids:
        rows = [(f"epoch {e}", gan.grids[e]) for e in sorted(gan.grids)]
        files.append(figs.labelled_rows(rows, outdir / "fixed_noise_epochs.png",
                                        f"{FIXED_NOISE} fixed noise vectors ({name})"))
    if len(gan.loss_d_hist):
        files.append(figs.loss_curves(gan.loss_d_hist.tolist(), gan.loss_g_hist.tolist(),
                                      outdir / "losses.png", f"G and D loss per iteration "
                                      f"({name})"))
    label = gan.extractor.label if gan.extractor else "evaluation classifier"
    if evals:
        epochs = [e["epoch"] for e in evals]
        series = {f"FID ({label})": [e["fid"] for e in evals],
                  f"IS ({label})": [e["is"] for e in evals]}
        if gan.conditional:
            series["class-conditional accuracy (%)"] = [e["class_acc"] for e in evals]
        files.append(figs.fidelity_curves(
            epochs, series, outdir / "fidelity_per_epoch.png",
            f"{c.eval_samples} samples per evaluation vs {c.fid_reference} images"))
    files += _latent_figures(gan, outdir)
    files += _class_figures(gan, outdir, result.details)
    info = {
        "extractor": gan.extractor.description if gan.extractor else None,
        "classifier_test_acc": gan.clf.test_acc if gan.clf else None,
        # the cache entry's name and checksum (not its path: that is the user's home)
        "classifier_file": gan.clf.path.name if gan.clf and gan.clf.path else None,
        "classifier_sha256": gan.clf.sha256 if gan.clf else None,
        "steps_per_epoch": gan.steps_per_epoch, "epochs": gan.epochs,
        "captured_epochs": sorted(gan.grids),
        "evaluations": evals,
        **result.details,
    }
    if "class_histogram" in result.details and c.reference_histogram:
        info["reference_histogram"] = dict(c.reference_histogram)
    path = outdir / "evaluation.json"
    path.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    files.append(path)
    return files


def _fig_noise(gan: GAN, n: int, figure: int = 0) -> Tensor:
    return gan.sample_z(n, gan.streams.generator("figures", figure))


def _latent_figures(gan: GAN, outdir: Path) -> list[Path]:
    c = gan.config
    y_class = c.target_class if gan.conditional else 0
    files = []
    # Report C-2: 10 random points and interpolations between consecutive ones.
    points = _fig_noise(gan, 10)
    alphas = torch.linspace(0, 1, 10)
    z = torch.cat([(1 - a) * points[i] + a * points[i + 1]
                   for i in range(9) for a in alphas]).view(90, -1)
    y = torch.full((90,), y_class)
    files.append(figs.save_grid(gan.generate(z, y), outdir / "latent_interpolation.png",
                                nrow=10))
    # Report E-2: ε added to one latent dimension at a time (first image: unperturbed).
    base = _fig_noise(gan, 1, 1)
    dims = min(c.z_dim, 99)
    z = base.repeat(dims + 1, 1)
    z[torch.arange(1, dims + 1), torch.arange(dims)] += c.perturb_eps
    files.append(figs.save_grid(gan.generate(z, torch.full((dims + 1,), y_class)),
                                outdir / "latent_perturbation.png", nrow=10))
    # Report E-2: data space (pixel blend of two samples) vs latent space, α = 0, 0.1 … 1.
    pairs = _fig_noise(gan, 8, 2).view(4, 2, -1)
    alphas = torch.linspace(0, 1, 11)
    rows = []
    for z0, z1 in pairs:
        ends = gan.generate(torch.stack([z0, z1]), torch.full((2,), y_class)).float()
        data_row = torch.stack([((1 - a) * ends[0] + a * ends[1]) for a in alphas])
        zs = torch.stack([(1 - a) * z0 + a * z1 for a in alphas])
        rows += [("data space", data_row.round().to(torch.uint8)),
                 ("latent space", gan.generate(zs, torch.full((11,), y_class)))]
    files.append(figs.labelled_rows(rows, outdir / "interpolation_data_vs_latent.png",
                                    "α = 0, 0.1, …, 1"))
    return files


def _class_figures(gan: GAN, outdir: Path, details: dict) -> list[Path]:
    c, files = gan.config, []
    hist = details.get("class_histogram")
    if hist:
        ref = c.reference_histogram
        files.append(figs.class_histogram_chart(
            list(hist.values()), list(hist), outdir / "class_histogram.png",
            f"{sum(hist.values())} generated images by {gan.extractor.label}",
            reference=ref.get("counts"), reference_label=ref.get("source", "")))
    # 64 random samples (report E-2; D-1 shows 32), of the requested class if conditional
    n = 64 if gan.size <= 32 else 36
    z = _fig_noise(gan, n, 3)
    images = gan.generate(z, torch.full((n,), c.target_class if gan.conditional else 0))
    name = "requested_class.png" if gan.conditional else "samples.png"
    files.append(figs.save_grid(images, outdir / name, nrow=int(math.sqrt(n))))
    if gan.conditional:
        # Report D-2: ten pairs from the same noise with the condition flipped.
        z = _fig_noise(gan, 10, 4)
        rows = [(gan.data.classes[k][:16], gan.generate(z, torch.full((10,), k)))
                for k in (c.contrast_class, c.target_class)]
        files.append(figs.labelled_rows(rows, outdir / "condition_flip_pairs.png",
                                        "same noise, condition flipped"))
    return files
