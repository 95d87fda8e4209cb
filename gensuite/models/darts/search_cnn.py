"""DARTS's convolutional search network (Liu et al. 2019, Sec. 2.2): every edge of a cell is a
mixed operation, the softmax(α)-weighted sum of all candidate operations; α_normal and
α_reduce (14 edges × 8 operations each) are shared by all normal / all reduction cells.
Reduction cells sit at 1/3 and 2/3 of the depth, as in the authors' model_search.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from gensuite.models.darts.genotypes import PRIMITIVES, STEPS, Genotype, derive_cell
from gensuite.models.darts.operations import OPS, FactorizedReduce, ReLUConvBN

EDGES = sum(2 + i for i in range(STEPS))  # 14


class MixedOp(nn.Module):
    def __init__(self, c: int, stride: int, primitives=PRIMITIVES) -> None:
        super().__init__()
        ops = []
        for name in primitives:
            op = OPS[name](c, stride, False)
            if "pool" in name:  # pooled features get a BN too, as the search paper's
                op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool,
                 steps: int = STEPS, multiplier: int = 4) -> None:
        super().__init__()
        self.reduction, self.steps, self.multiplier = reduction, steps, multiplier
        self.pre0 = (FactorizedReduce(c_pp, c, affine=False) if reduction_prev
                     else ReLUConvBN(c_pp, c, 1, 1, 0, affine=False))
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(c, 2 if reduction and j < 2 else 1)
            for i in range(steps) for j in range(2 + i))

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        offset = 0
        for _ in range(self.steps):
            s = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


class SearchNetwork(nn.Module):
    """The one-shot model: stem, ``layers`` search cells, global pooling, a linear classifier;
    ``alphas_normal`` / ``alphas_reduce`` are its architecture parameters (kept apart from the
    weights: ``weights()`` and ``arch_parameters()``)."""

    def __init__(self, c: int = 16, num_classes: int = 10, layers: int = 8,
                 stem_multiplier: int = 3, steps: int = STEPS, multiplier: int = 4) -> None:
        super().__init__()
        self.c, self.num_classes, self.layers = c, num_classes, layers
        self.steps, self.multiplier = steps, multiplier
        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            self.cells.append(SearchCell(c_pp, c_p, c_curr, reduction, reduction_prev, steps,
                                         multiplier))
            reduction_prev = reduction
            c_pp, c_p = c_p, multiplier * c_curr
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        edges = sum(2 + i for i in range(steps))
        # α initialised at 1e-3 · N(0, 1), as the authors do
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weights(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(self.pool(s1).flatten(1))

    def genotype(self) -> Genotype:
        concat = list(range(2 + self.steps - self.multiplier, self.steps + 2))
        return Genotype(
            normal=derive_cell(F.softmax(self.alphas_normal, dim=-1), steps=self.steps),
            normal_concat=concat,
            reduce=derive_cell(F.softmax(self.alphas_reduce, dim=-1), steps=self.steps),
            reduce_concat=concat,
        )
