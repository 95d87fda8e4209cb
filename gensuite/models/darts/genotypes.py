"""DARTS genotypes: the operation set, the published cells, and the derivation of a cell from α.

A convolutional genotype lists, for each of a cell's 4 intermediate nodes, its 2 incoming edges
as (operation, input) with inputs 0, 1 the two previous cells' outputs and 2… earlier nodes; the
cell's output concatenates the nodes in ``*_concat``. A recurrent genotype lists, for each of its
8 nodes, (activation, input node).

The published values are those of the authors' release (quark0/darts, ``genotypes.py``),
as printed in Liu et al. 2019, Fig. 4-6: DARTS V1 (first order) and V2 (second order)
convolutional cells, and the DARTS V1 (first order) and V2 (second order) recurrent cells.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

PRIMITIVES = (  # Liu et al. 2019, Sec. 3.1: the 8 operations of the convolutional space
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
RNN_PRIMITIVES = ("none", "tanh", "relu", "sigmoid", "identity")  # Sec. 3.1: recurrent space
STEPS = 4  # intermediate nodes of a convolutional cell
RNN_STEPS = 8


class Genotype(NamedTuple):
    normal: list[tuple[str, int]]
    normal_concat: list[int]
    reduce: list[tuple[str, int]]
    reduce_concat: list[int]


class RnnGenotype(NamedTuple):
    recurrent: list[tuple[str, int]]
    concat: list[int]


DARTS_V1 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    reduce_concat=[2, 3, 4, 5],
)
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)
DARTS_RNN_V1 = RnnGenotype(
    recurrent=[("relu", 0), ("relu", 1), ("tanh", 2), ("relu", 3), ("relu", 4),
               ("identity", 1), ("relu", 5), ("relu", 1)],
    concat=list(range(1, 9)),
)
DARTS_RNN_V2 = RnnGenotype(  # the authors' DARTS = DARTS_V2, Table 2's 55.7
    recurrent=[("sigmoid", 0), ("relu", 1), ("relu", 1), ("identity", 1), ("tanh", 2),
               ("sigmoid", 5), ("tanh", 3), ("relu", 5)],
    concat=list(range(1, 9)),
)
PUBLISHED = {"darts-v1": DARTS_V1, "darts-v2": DARTS_V2}
PUBLISHED_RNN = {"darts-v1": DARTS_RNN_V1, "darts-v2": DARTS_RNN_V2}


def derive_cell(weights: torch.Tensor, primitives=PRIMITIVES, steps: int = STEPS
                ) -> list[tuple[str, int]]:
    """DARTS's discretisation (Sec. 2.4): for each node keep the 2 incoming edges whose strongest
    non-"none" operation is strongest, and on each the strongest non-"none" operation.
    ``weights``: softmax(α), one row per edge in the search cell's order (node 2's 2 edges, node
    3's 3, …)."""
    none = primitives.index("none")
    w = weights.detach().cpu().double()
    gene, start = [], 0
    for i in range(steps):
        n = i + 2
        rows = w[start: start + n]
        masked = rows.clone()
        masked[:, none] = -1.0
        best = masked.max(1).values
        # ties go to the lower input index (a stable sort), as the authors' sorted() does
        edges = sorted(range(n), key=lambda j: -float(best[j]))[:2]
        for j in edges:
            gene.append((primitives[int(masked[j].argmax())], j))
        start += n
    return gene


def derive_rnn(weights: torch.Tensor, primitives=RNN_PRIMITIVES, steps: int = RNN_STEPS
               ) -> list[tuple[str, int]]:
    """The recurrent cell: each node keeps its single strongest incoming edge (non-"none")."""
    none = primitives.index("none")
    w = weights.detach().cpu().double()
    gene, start = [], 0
    for i in range(steps):
        rows = w[start: start + i + 1].clone()
        rows[:, none] = -1.0
        j = int(rows.max(1).values.argmax())
        gene.append((primitives[int(rows[j].argmax())], j))
        start += i + 1
    return gene


def to_dict(g: Genotype | RnnGenotype) -> dict:
    """JSON-able form for records."""
    return {k: [list(x) for x in v] if k in ("normal", "reduce", "recurrent") else list(v)
            for k, v in g._asdict().items()}
