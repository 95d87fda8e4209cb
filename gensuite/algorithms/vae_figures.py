"""Figures of the VAE plug-in: image grids, the ELBO curve, samples per epoch, and the combined
VAE/GAN latent-traversal figure of course report C-2/C-3. Pure functions: tensors in, PNG out.

Images are uint8 (N, C, H, W) on the CPU. Figures are drawn on a ``Figure`` without pyplot (no
global backend state) and saved without a "Software" chunk, so re-rendering gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torchvision.utils import make_grid, save_image

DPI = 100
MAX_PNG_BYTES = 300_000  # the report embeds these: keep each one small


def save_grid(images: torch.Tensor, path: Path, nrow: int, padding: int = 2) -> Path:
    """uint8 images → one PNG grid (``nrow`` images per row); halves the resolution while the
    file exceeds ``MAX_PNG_BYTES`` (RGB faces compress poorly)."""
    x = images.to(torch.float32) / 255.0
    while True:
        save_image(x, path, nrow=nrow, padding=padding, pad_value=1.0)
        if path.stat().st_size <= MAX_PNG_BYTES or x.shape[-1] <= 16:
            return path
        x = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return path


def _as_hwc(grid: torch.Tensor):
    """A make_grid output (C, H, W) float in [0, 1] → what imshow takes (H, W[, 3])."""
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[2] == 1 else arr


def elbo_curve(history: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """Train and validation ELBO (nats per image) per epoch; None when nothing was recorded."""
    rows = [h for h in history if "val_elbo" in h]
    if not rows:
        return None
    fig = _figure(6, 4)
    ax = fig.subplots()
    epochs = [h["epoch"] for h in rows]
    ax.plot(epochs, [h["val_elbo"] for h in rows], marker="o", markersize=3, label="validation")
    train = [(h["epoch"], h["train_elbo"]) for h in rows if h.get("train_elbo") is not None]
    if train:
        ax.plot(*zip(*train), marker="s", markersize=3, label="train (mean over the epoch)")
    ax.set(xlabel="epoch", ylabel="ELBO (nats per image)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def samples_per_epoch(grids: dict[int, torch.Tensor], path: Path, per_row: int,
                      title: str) -> Path | None:
    """One row per captured epoch: the first ``per_row`` fixed-noise samples of each."""
    if not grids:
        return None
    epochs = sorted(grids)
    x = torch.cat([grids[e][:per_row] for e in epochs]).to(torch.float32) / 255.0
    pad = 2
    while True:
        grid = make_grid(x, nrow=per_row, padding=pad, pad_value=1.0)
        h = x.shape[-2] + pad
        # One image pixel per figure pixel (at least 2 for small digits), plus a label margin.
        zoom = max(1, 56 // x.shape[-1])
        fig = _figure(1.6 + zoom * grid.shape[2] / DPI, 0.5 + zoom * grid.shape[1] / DPI)
        ax = fig.subplots()
        ax.imshow(_as_hwc(grid), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks([pad + h * i + (h - pad) / 2 for i in range(len(epochs))],
                      [f"epoch {e}" for e in epochs])
        ax.set_xticks([])
        ax.set_title(title)
        _save(fig, path)
        if path.stat().st_size <= MAX_PNG_BYTES or x.shape[-1] <= 16:
            return path
        x = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)


def combined_traversal(vae_png: Path, gan_png: Path, path: Path,
                       titles: tuple[str, str] = ("VAE", "GAN")) -> Path:
    """Course report C-2/C-3: the VAE's and the GAN's latent traversals side by side (the
    report draws the same from results/ through a suite's ``[[compare_figures]]``)."""
    from gensuite.report.figures import side_by_side

    return side_by_side([vae_png, gan_png], list(titles), path, "Latent traversals")
