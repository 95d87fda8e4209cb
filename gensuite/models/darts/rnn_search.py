"""DARTS's recurrent search network (Liu et al. 2019, Sec. 2.2 and 3.1; the authors'
rnn/model_search.py): every node of the cell takes *all* earlier nodes, each edge the
softmax(α)-weighted sum of the 4 activations' highway steps ("none" contributes nothing), and
batch normalisation without affine parameters after node 0 and after every node (the authors
add it so that the mixed states keep their scale). α: 36 edges (1 + 2 + … + 8) × 5 candidates.

The language model around it is the evaluation one's (embedding, variational dropouts, tied
decoder). ``forward`` takes ``(ids, hidden)`` as one tuple so the architect can call it through
``torch.func.functional_call``; its dropout masks come from ``mask_generator``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from gensuite.models.darts.genotypes import RNN_PRIMITIVES, RNN_STEPS, RnnGenotype, derive_rnn
from gensuite.models.darts.rnn import (
    ACTIVATIONS,
    INIT_RANGE,
    embedded_dropout,
    highway_weights,
    locked_dropout,
    run_cell,
)

RNN_EDGES = sum(i + 1 for i in range(RNN_STEPS))  # 36


class SearchRnnCell(nn.Module):
    """The mixed recurrent cell; ``weights``: softmax(α), (36, 5)."""

    def __init__(self, ninp: int, nhid: int, dropouth: float = 0.0, dropoutx: float = 0.0,
                 steps: int = RNN_STEPS) -> None:
        super().__init__()
        self.ninp, self.nhid, self.steps = ninp, nhid, steps
        self.dropouth, self.dropoutx = dropouth, dropoutx
        self.w0, self.ws = highway_weights(ninp, nhid, steps)
        self.bn = nn.BatchNorm1d(nhid, affine=False)
        self.active = [(k, ACTIVATIONS[name]) for k, name in enumerate(RNN_PRIMITIVES)
                       if name != "none"]

    def step(self, xw: Tensor, h: Tensor, h_mask: Tensor | None, weights: Tensor) -> Tensor:
        hm = h if h_mask is None else h * h_mask
        c0, h0 = (xw + hm @ self.w0[self.ninp:]).split(self.nhid, dim=-1)
        s0 = self.bn(h + c0.sigmoid() * (h0.tanh() - h))
        states = s0.unsqueeze(0)  # (nodes so far, B, H)
        offset = 0
        for i in range(self.steps):
            masked = states if h_mask is None else states * h_mask
            c, hh = (masked @ self.ws[i]).split(self.nhid, dim=-1)  # every predecessor at once
            c = c.sigmoid()
            w = weights[offset: offset + i + 1]  # (i + 1, 5)
            s = torch.zeros_like(s0)
            for k, fn in self.active:
                s = s + (w[:, k, None, None] * (states + c * (fn(hh) - states))).sum(0)
            states = torch.cat([states, self.bn(s).unsqueeze(0)])
            offset += i + 1
        return states[1:].mean(0)  # the 8 intermediate nodes, as the authors' CONCAT = 8

    def forward(self, x: Tensor, h: Tensor, weights: Tensor,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        return run_cell(self, x, h, generator, weights)


class SearchRnnModel(nn.Module):
    """Embedding → mixed cell → tied decoder, α as a parameter (``arch_parameters``)."""

    def __init__(self, ntoken: int, *, ninp: int = 300, nhid: int = 300, dropout: float = 0.75,
                 dropouth: float = 0.25, dropoutx: float = 0.75, dropouti: float = 0.2,
                 dropoute: float = 0.0) -> None:
        super().__init__()
        if ninp != nhid:
            raise ValueError(f"the decoder is tied to the embedding: ninp ({ninp}) must equal "
                             f"nhid ({nhid})")
        self.dropout, self.dropouti, self.dropoute = dropout, dropouti, dropoute
        self.encoder = nn.Embedding(ntoken, ninp)
        self.cell = SearchRnnCell(ninp, nhid, dropouth, dropoutx)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.decoder.bias)
        # the authors' initialisation: N(0, 1e-3²), nearly uniform over the candidates
        self.alphas = nn.Parameter(1e-3 * torch.randn(RNN_EDGES, len(RNN_PRIMITIVES)))
        self.nhid = nhid
        self.mask_generator: torch.Generator | None = None

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas]

    def weights(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p is not self.alphas]

    def init_hidden(self, batch: int) -> Tensor:
        return self.encoder.weight.new_zeros(batch, self.nhid)

    def forward(self, inputs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(ids (T, B), hidden (B, H)) → logits (T, B, V), the last state, the cell's states."""
        ids, hidden = inputs
        g, train = self.mask_generator, self.training
        emb = embedded_dropout(self.encoder.weight, ids, self.dropoute if train else 0.0, g)
        emb = locked_dropout(emb, self.dropouti if train else 0.0, g)
        raw, hidden = self.cell(emb, hidden, F.softmax(self.alphas, dim=-1), g)
        out = locked_dropout(raw, self.dropout if train else 0.0, g)
        return self.decoder(out), hidden, raw

    def genotype(self) -> RnnGenotype:
        return RnnGenotype(recurrent=derive_rnn(F.softmax(self.alphas, dim=-1)),
                           concat=list(range(1, RNN_STEPS + 1)))
