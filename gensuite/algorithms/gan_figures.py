"""Figures of the GAN plug-in: sample grids, loss and fidelity curves, class histograms.

Pure drawing: arrays in, a PNG out. Grids go through torchvision's ``make_grid``; plots through
matplotlib Figures without pyplot (no global backend state), as ``gensuite.report.figures``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torchvision.utils import make_grid, save_image

DPI = 100
# Largest grid drawn at full resolution (36 colour images of 64 px): bigger ones are halved so a
# PNG stays well under ~300 KB (90 faces of 64 px would be ~650 KB).
MAX_VALUES = 36 * 3 * 64 * 64


def _figure(w: float, h: float, rows: int = 1, cols: int = 1):
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _as_float(images: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """uint8 0..255 → float 0..1 (what torchvision's grid helpers expect), halved in size
    (antialiased) while the whole figure (``total`` values) exceeds ``MAX_VALUES``."""
    x = images.float() / 255.0
    total = total or images.numel()
    while total > MAX_VALUES and x.shape[-1] > 16:
        x = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear",
                                            antialias=True)
        total //= 4
    return x


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> Path:
    """uint8 (N, C, H, W) images as one grid PNG, ``nrow`` images per row, 2-px white gaps."""
    save_image(_as_float(images), path, nrow=nrow, padding=2, pad_value=1.0)
    return path


def labelled_rows(rows: Sequence[tuple[str, torch.Tensor]], path: Path, title: str) -> Path:
    """One image row per (label, uint8 images) pair, the label at the left (e.g. "epoch 5")."""
    n = max(len(images) for _, images in rows)
    total = sum(images.numel() for _, images in rows)
    h_px, w_px = _as_float(rows[0][1][:1], total).shape[-2:]
    zoom = 2.0 if h_px <= 32 else 1.0  # small digits are drawn at twice their size
    grid_w, grid_h = zoom * (n * (w_px + 2) + 2) / DPI, zoom * (h_px + 4) / DPI
    fig, axes = _figure(grid_w + 1.4, len(rows) * (grid_h + 0.08) + 0.45, rows=len(rows))
    for ax, (label, images) in zip(axes[:, 0], rows):
        grid = make_grid(_as_float(images, total), nrow=n, padding=2, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.savefig(path)
    return path


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    return pd.Series(values, dtype=float).rolling(window, min_periods=1).mean().to_numpy()


def loss_curves(loss_d: Sequence[float], loss_g: Sequence[float], path: Path, title: str) -> Path:
    """G and D loss at every iteration (thin) with a rolling mean over 2% of the run (bold)."""
    return named_loss_curves({"discriminator": loss_d, "generator": loss_g}, path, title)


def named_loss_curves(series: dict[str, Sequence[float]], path: Path, title: str,
                      xlabel: str = "iteration (one generator update)") -> Path:
    """Each named loss at every iteration (thin) with a rolling mean over 2% of the run."""
    fig, axes = _figure(8, 3.6)
    ax = axes[0, 0]
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for (name, values), color in zip(series.items(), colors):
        it = np.arange(1, len(values) + 1)
        window = max(1, len(values) // 50)
        ax.plot(it, values, color=color, alpha=0.3, linewidth=0.6)
        ax.plot(it, _smooth(values, window), color=color, linewidth=1.6,
                label=f"{name} (rolling mean, {window} it.)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.savefig(path)
    return path


def fidelity_curves(epochs: Sequence[float], series: dict[str, Sequence[float]], path: Path,
                    title: str, window: int = 5) -> Path:
    """Each metric per epoch: raw values and a trailing rolling-mean trend (report B-3)."""
    fig, axes = _figure(4.2 * len(series), 3.4, cols=len(series))
    for ax, (name, values) in zip(axes[0], series.items()):
        ax.plot(epochs, values, "o-", color="tab:gray", alpha=0.6, markersize=3, label="raw")
        ax.plot(epochs, _smooth(values, window), color="tab:red", linewidth=2,
                label=f"trend (rolling mean of {window})")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path)
    return path


def class_histogram_chart(counts: Sequence[int], classes: Sequence[str], path: Path, title: str,
                          reference: Sequence[int] | None = None,
                          reference_label: str = "") -> Path:
    """Share of generated images per class (%), optionally beside a reference histogram's
    shares (totals may differ: both are normalised)."""
    fig, axes = _figure(max(5.0, 0.6 * len(classes) + 2), 3.6)
    ax = axes[0, 0]
    x = np.arange(len(classes))
    width = 0.4 if reference is not None else 0.8
    share = 100.0 * np.asarray(counts, dtype=float) / max(1, sum(counts))
    ax.bar(x - (width / 2 if reference is not None else 0), share, width, color="tab:blue",
           label=f"this run ({sum(counts)} images)")
    if reference is not None:
        ref = 100.0 * np.asarray(reference, dtype=float) / sum(reference)
        ax.bar(x + width / 2, ref, width, color="tab:gray",
               label=f"{reference_label} ({sum(reference)} images)")
    ax.legend(fontsize=8)
    long_names = max(len(c) for c in classes) > 3  # identities: slant them so they fit
    ax.set_xticks(x, [c[:18] for c in classes], rotation=30 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_ylabel("share of generated images (%)")
    ax.axhline(100.0 / len(classes), color="k", linewidth=0.8, linestyle=":")
    fig.suptitle(title)
    fig.savefig(path)
    return path
