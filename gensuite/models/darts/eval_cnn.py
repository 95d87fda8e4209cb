"""DARTS's CIFAR-10 evaluation network built from a genotype (Liu et al. 2019, Sec. 3.3 and
the authors' model.py): a 3×3 stem of 3·C channels, ``layers`` cells (reductions at 1/3 and
2/3 of the depth), drop-path on every non-identity edge during training, and an auxiliary
classifier after the second reduction (weight 0.4 in the loss). At C = 36, 20 cells, DARTS V2
has 3.3 M parameters, not counting the auxiliary head (the paper's convention).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gensuite.models.darts.genotypes import Genotype
from gensuite.models.darts.operations import OPS, FactorizedReduce, ReLUConvBN


def drop_path(x: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero whole samples of a branch with probability p and rescale the rest by 1/(1 − p)."""
    if p <= 0.0:
        return x
    keep = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), 1.0 - p), generator=generator)
    return x / (1.0 - p) * keep.to(x.device, x.dtype)


class EvalCell(nn.Module):
    def __init__(self, genotype: Genotype, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        if len(edges) % 2:
            raise ValueError(f"a cell needs 2 edges a node; got {len(edges)} edges")
        self.steps = len(edges) // 2
        self.inputs = [j for _, j in edges]
        self.ops = nn.ModuleList(OPS[name](c, 2 if reduction and j < 2 else 1, True)
                                 for name, j in edges)
        self.multiplier = len(self.concat)

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float = 0.0,
                generator: torch.Generator | None = None) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(self.steps):
            hs = []
            for k in (2 * i, 2 * i + 1):
                op = self.ops[k]
                h = op(states[self.inputs[k]])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob, generator)
                hs.append(h)
            states.append(hs[0] + hs[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier on the 8×8 feature map (assumes a 32-px input)."""

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class EvalNetwork(nn.Module):
    """NetworkCIFAR: returns (logits, auxiliary logits or None)."""

    def __init__(self, genotype: Genotype, c: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = True, stem_multiplier: int = 3) -> None:
        super().__init__()
        self.layers, self.drop_prob = layers, 0.0
        c_curr = stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_at = 2 * layers // 3
        c_aux = None
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = EvalCell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == self.aux_at:
                c_aux = c_p
        self.auxiliary = AuxiliaryHead(c_aux, num_classes) if auxiliary else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor | None]:
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_prob, generator)
            if i == self.aux_at and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        return self.classifier(self.pool(s1).flatten(1)), aux


def count_parameters(model: nn.Module, *, auxiliary: bool = False) -> int:
    """Parameters, without the auxiliary head unless asked (DARTS's count_parameters_in_MB)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if auxiliary or not name.startswith("auxiliary."))
