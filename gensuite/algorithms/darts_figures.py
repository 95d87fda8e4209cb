"""Figures of the DARTS search: softmax(α) of every edge over the search (one panel per edge,
one line per operation) and the derived cells drawn as graphs (matplotlib): the normal and
reduction cells (inputs c_{k-2}, c_{k-1}, the 4 nodes and the output, each edge labelled with
its operation) and the recurrent cell (x(t), h(t−1), node 0, the 8 nodes and their mean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gensuite.algorithms.gan_figures import DPI, _figure
from gensuite.models.darts.genotypes import PRIMITIVES, RNN_PRIMITIVES, RNN_STEPS, STEPS


def _edge_labels(kind: str) -> list[str]:
    """Edge names in α's row order: a convolutional cell's (2 inputs + earlier nodes per node)
    or the recurrent cell's (node i ← each of nodes 0 … i − 1)."""
    if kind == "recurrent":
        return [f"node {i} ← {j}" for i in range(1, RNN_STEPS + 1) for j in range(i)]
    labels = []
    for i in range(STEPS):
        labels += [f"node {i} ← {'c(k−2)' if j == 0 else 'c(k−1)' if j == 1 else j - 2}"
                   for j in range(2 + i)]
    return labels


def alpha_curves(history: list[dict[str, Any]], kind: str, path: Path) -> Path:
    """softmax(α_kind) per edge against the search step, an edge a panel (convolutional: 14
    edges, 2 × 7; recurrent: 36 edges, 4 × 9)."""
    primitives = RNN_PRIMITIVES if kind == "recurrent" else PRIMITIVES
    steps = [h["step"] for h in history]
    edges = len(history[0]["alphas"][kind])
    cols = 9 if kind == "recurrent" else 7
    rows = (edges + cols - 1) // cols
    # a fixed grid: the constrained layout's solver costs seconds for 36 panels
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(2.3 * cols, 2.0 * rows + 0.8), dpi=DPI)
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.03, right=0.99, top=0.88, bottom=0.14, wspace=0.3, hspace=0.5)
    labels = _edge_labels(kind)
    for e in range(rows * cols):
        ax = axes[e // cols, e % cols]
        if e >= edges:
            ax.axis("off")
            continue
        for k, op in enumerate(primitives):
            ax.plot(steps, [h["alphas"][kind][e][k] for h in history], color=f"C{k}",
                    label=op, linewidth=1.2)
        ax.set_title(labels[e] if e < len(labels) else f"edge {e}", fontsize=8)
        ax.tick_params(labelsize=6)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(primitives), fontsize=7)
    fig.suptitle(f"softmax(α_{kind}) per edge over the search (x: step)")
    fig.savefig(path)
    return path


def cell_drawings(genotype: dict[str, Any], path: Path,
                  title: str = "derived cells (top-2 incoming edges per node, 'none' excluded)"
                  ) -> Path:
    """The normal and the reduction cell side by side as labelled graphs."""
    fig, axes = _figure(12, 4.6, cols=2)
    for ax, kind in zip(axes[0], ("normal", "reduce")):
        edges = genotype[kind]
        concat = genotype[f"{kind}_concat"]
        steps = len(edges) // 2
        pos = {0: (0.0, 0.75), 1: (0.0, 0.25)}
        for i in range(steps):
            pos[i + 2] = (1.0 + i, 0.9 - 0.8 * i / max(1, steps - 1))
        pos["out"] = (steps + 1.0, 0.5)
        names = {0: "c(k−2)", 1: "c(k−1)", "out": "c(k)"}
        for node, (x, y) in pos.items():
            label = names[node] if node in names else str(node - 2)
            ax.text(x, y, label, ha="center", va="center", fontsize=9,
                    bbox={"boxstyle": "round", "fc": "lightblue" if node in (0, 1, "out")
                          else "lightyellow"})
        for idx, (op, j) in enumerate(edges):
            dst = idx // 2 + 2
            (x0, y0), (x1, y1) = pos[j], pos[dst]
            ax.annotate("", xy=(x1 - 0.12, y1), xytext=(x0 + 0.12, y0),
                        arrowprops={"arrowstyle": "->", "color": "tab:gray"})
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.03, op, fontsize=7, ha="center",
                    color="tab:red")
        for node in concat:
            (x0, y0), (x1, y1) = pos[node], pos["out"]
            ax.annotate("", xy=(x1 - 0.15, y1), xytext=(x0 + 0.12, y0),
                        arrowprops={"arrowstyle": "->", "color": "tab:blue", "alpha": 0.4})
        ax.set_xlim(-0.5, steps + 1.5)
        ax.set_ylim(0.0, 1.0)
        ax.axis("off")
        ax.set_title(f"{kind} cell")
    fig.suptitle(title)
    fig.savefig(path)
    return path


def recurrent_cell_drawing(genotype: dict[str, Any], path: Path) -> Path:
    """The recurrent cell as a graph: x(t) and h(t−1) into node 0, each node from its one
    predecessor (the node's box names its activation), the averaged nodes into h(t)."""
    edges, concat = genotype["recurrent"], genotype["concat"]
    fig, axes = _figure(11, 4.2)
    ax = axes[0, 0]
    n = len(edges)
    pos = {"x": (-1.2, 0.75), "h": (-1.2, 0.25), 0: (0.0, 0.5), "out": (n + 1.0, 0.5)}
    for i in range(1, n + 1):
        pos[i] = (float(i), 0.85 if i % 2 else 0.15)
    names = {"x": "x(t)", "h": "h(t−1)", "out": "h(t) = mean"}
    acts = {i: act for i, (act, _) in enumerate(edges, start=1)}
    for node, (x, y) in pos.items():
        label = names.get(node, f"{node}: {acts[node]}" if node in acts else str(node))
        ax.text(x, y, label, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "fc": "lightblue" if node in names
                      else "lightyellow"})

    def arrow(a, b, color="tab:gray", alpha=1.0):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1 - 0.3, y1), xytext=(x0 + 0.3, y0),
                    arrowprops={"arrowstyle": "->", "color": color, "alpha": alpha,
                                "connectionstyle": "arc3,rad=0.15" if x1 - x0 > 1 else None})

    arrow("x", 0)
    arrow("h", 0)
    for i, (_, j) in enumerate(edges, start=1):
        arrow(j, i)
    for node in concat:
        arrow(node, "out", color="tab:blue", alpha=0.35)
    ax.set_xlim(-1.8, n + 1.8)
    ax.set_ylim(0.0, 1.0)
    ax.axis("off")
    fig.suptitle("recurrent cell (each node: one predecessor through a highway step)")
    fig.savefig(path)
    return path
