"""Learning curves: smoothed train loss and a validation metric vs step, one line per case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
SMOOTH_FRACTION = 0.05  # rolling-mean window as a share of the logged points
LINESTYLES = ("-", "--", ":", "-.")


def _series(points: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    rows = [(p["step"], p[key]) for p in points if isinstance(p.get(key), (int, float))]
    return [s for s, _ in rows], [float(v) for _, v in rows]


def _val_key(curves: list[dict[str, Any]], prefer: str | None = None) -> str | None:
    """The validation series to plot: ``prefer`` when the curves have it (the validation twin
    of the suite's metric, e.g. val_bpc), else the first "val_*" key (sorted), else any."""
    keys = sorted(
        {k for c in curves for p in c.get("val", []) for k, v in p.items()
         if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    )
    if prefer in keys:
        return prefer
    preferred = [k for k in keys if k.startswith("val_")]
    return (preferred or keys or [None])[0]


def learning_curves(runs: list[tuple[str, dict[str, Any]]], path: Path, title: str,
                    prefer_val: str | None = None) -> bool:
    """Plot (row label, curves) pairs into ``path``; False (nothing written) when no curve."""
    runs = [(label, c) for label, c in runs if c.get("train") or c.get("val")]
    if not runs:
        return False
    val_key = _val_key([c for _, c in runs], prefer_val)
    # a Figure without pyplot: Agg only, and no global backend or figure registry touched
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(10, 4.5), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax_loss, ax_val = fig.subplots(1, 2)
    colors = sns.color_palette("tab10")
    for i, (label, curves) in enumerate(runs):
        # ten colours, then the next line style: suites such as protonet have 15 cases
        style = {"color": colors[i % 10], "linestyle": LINESTYLES[i // 10 % len(LINESTYLES)]}
        steps, loss = _series(curves.get("train", []), "loss")
        window = max(1, int(len(loss) * SMOOTH_FRACTION))
        smooth = pd.Series(loss, dtype=float).rolling(window, min_periods=1).mean()
        ax_loss.plot(steps, smooth, label=label, linewidth=1.2, **style)
        if val_key:
            vsteps, vals = _series(curves.get("val", []), val_key)
            ax_val.plot(vsteps, vals, marker="o", markersize=3, label=label, **style)
    ax_loss.set(title=f"train loss (rolling mean, {SMOOTH_FRACTION:.0%} of points)", xlabel="step")
    ax_val.set(title=val_key or "no validation curve", xlabel="step")
    fig.suptitle(title)
    handles, labels = ax_loss.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    # no "Software" text chunk and a fixed dpi: re-rendering gives the same bytes
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return True


def side_by_side(pngs: list[Path], titles: list[str], path: Path, title: str) -> Path:
    """Figures of different runs next to each other, each under its own title."""
    from PIL import Image

    fig = Figure(figsize=(6 * len(pngs), 6.4), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(pngs), squeeze=False)[0]
    for ax, png, sub in zip(axes, pngs, titles, strict=True):
        with Image.open(png) as im:
            ax.imshow(im.convert("RGB"))
        ax.set_title(sub, fontsize=9)
        ax.set(xticks=[], yticks=[])
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    return path
