"""Figures of the domain-adaptation plug-ins: training curves (label loss, domain loss, domain
classifier accuracy, the monitored test accuracies) and t-SNE of test features coloured by class
and, separately, by domain (course report D-4).

t-SNE is scikit-learn's (``sklearn.manifold.TSNE``, PCA initialisation, a fixed random state),
on at most ``tsne_points`` test images per domain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gensuite.algorithms.da_common import TsnePoints
from gensuite.algorithms.gan_figures import _figure, _smooth
from gensuite.api import Curves
from gensuite.data.containers import DomainPairData

TRAIN_PANELS = (  # (title, ((curve key, legend), ...), y label)
    ("losses", (("loss_label", "label loss (source)"), ("loss_domain", "domain loss"),
                ("loss_target_encoder", "target encoder loss")), "loss"),
    ("domain classifier", (("domain_acc", "accuracy on the training batches"),), "accuracy (%)"),
)


def _series(points: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(p["step"], p[key]) for p in points if key in p]
    return (np.array([r[0] for r in rows]), np.array([r[1] for r in rows])) if rows else (
        np.array([]), np.array([]))


def training_curves(curves: Curves, path: Path, title: str) -> list[Path]:
    """Loss and domain-accuracy panels from the loop's training curve, and the monitored test
    accuracies per evaluation; panels without data are left out (none at all: no figure)."""
    panels = []
    for name, keys, ylabel in TRAIN_PANELS:
        series = [(legend, *_series(curves.train, k)) for k, legend in keys]
        series = [s for s in series if len(s[1])]
        if series:
            panels.append((name, series, ylabel, name == "domain classifier"))
    val = [(legend, *_series(curves.val, k)) for k, legend in (
        ("val_source_acc", "source test"), ("val_target_acc", "target test"))]
    val = [s for s in val if len(s[1])]
    if val:
        panels.append(("test accuracy (monitor only)", val, "accuracy (%)", False))
    if not panels:
        return []
    fig, axes = _figure(4.2 * len(panels), 3.4, cols=len(panels))
    for ax, (name, series, ylabel, chance) in zip(axes[0], panels):
        for legend, x, y in series:
            window = max(1, len(y) // 20) if name != "test accuracy (monitor only)" else 1
            ax.plot(x, _smooth(y, window), marker="o" if window == 1 else None,
                    markersize=3, label=legend)
        if chance:
            ax.axhline(50, color="tab:gray", linestyle="--", linewidth=1, label="chance (50%)")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path)
    return [path]


def embed(points: TsnePoints, seed: int) -> np.ndarray:
    """2-D t-SNE of the features (perplexity 30, PCA init, ``random_state=seed``)."""
    from sklearn.manifold import TSNE  # ~1 s to import: only when a figure is drawn

    x = points.features.double().numpy()
    perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                n_jobs=1).fit_transform(x)


def tsne_figures(points: TsnePoints, outdir: Path, data: DomainPairData, title: str,
                 seed: int) -> list[Path]:
    """tsne_class.png (colour: digit) and tsne_domain.png (colour: domain) of one embedding."""
    if len(points.features) < 4:
        return []
    xy = embed(points, seed)
    names = (data.source.display_name, data.target.display_name)
    n_each = [int((points.domains == d).sum()) for d in (0, 1)]
    paths = []
    for kind in ("class", "domain"):
        fig, axes = _figure(5.2, 4.8)
        ax = axes[0, 0]
        if kind == "class":
            classes = data.source.classes
            for k, cls in enumerate(classes):
                m = (points.labels == k).numpy()
                ax.scatter(xy[m, 0], xy[m, 1], s=3, color=f"C{k % 10}", label=cls)
        else:
            for d, (name, color) in enumerate(zip(names, ("tab:blue", "tab:red"))):
                m = (points.domains == d).numpy()
                ax.scatter(xy[m, 0], xy[m, 1], s=3, color=color, alpha=0.6,
                           label=f"{name} ({n_each[d]})")
        ax.set_xticks([]), ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=3, loc="best", ncol=2 if kind == "class" else 1)
        ax.set_title(f"t-SNE of test features by {kind}: {title}", fontsize=9)
        path = Path(outdir) / f"tsne_{kind}.png"
        fig.savefig(path)
        paths.append(path)
    return paths
