"""DARTS's recurrent cell and the language model around it (Liu et al. 2019, Sec. 2.1 and 3.3;
the authors' rnn/model.py as its search network rnn/model_search.py builds on it).

The cell (8 nodes, each one incoming edge): node 0 is a highway step from the input and the
previous state, s0 = h + c0 ⊙ (tanh(h0) − h) with [c0, h0] = [x, h] W0 and c0 a sigmoid gate;
node i takes its predecessor s_j through [c, h] = s_j Wi, s_i = s_j + σ(c) ⊙ (f(h) − s_j) with f
one of tanh, relu, sigmoid, identity. The cell's output (and next state) is the mean of nodes
1…8. No biases; weights uniform ±0.04.

Regularisation (AWD-LSTM's, as the authors use it): variational ("locked") dropout masks drawn
once per sequence batch on the embedding output (``dropouti``), the cell's input x
(``dropoutx``) and the recurrent states (``dropouth``) and on the cell's output before the
decoder (``dropout``); embedding dropout removes whole words (``dropoute``); the decoder's
weight is the embedding's (tied). Every mask comes from the caller's generator.

Everything is time-major as the authors': ids (T, B) → logits (T, B, V).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from gensuite.models.darts.genotypes import RnnGenotype

INIT_RANGE = 0.04
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
               "identity": lambda h: h}


def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor,
                 generator: torch.Generator | None) -> Tensor | None:
    """Bernoulli(1 − p) / (1 − p) of ``shape`` (None when p = 0: nothing to drop)."""
    if p <= 0:
        return None
    keep = torch.empty(shape, dtype=like.dtype).bernoulli_(1 - p, generator=generator)
    return (keep / (1 - p)).to(like.device)


def locked_dropout(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """One mask per sequence and feature, the same at every time step (x: (T, B, D))."""
    mask = dropout_mask((1, *x.shape[1:]), p, x, generator)
    return x if mask is None else x * mask


def embedded_dropout(weight: Tensor, ids: Tensor, p: float,
                     generator: torch.Generator | None) -> Tensor:
    """Drop whole words: rows of the embedding matrix zeroed (and the rest scaled) for the batch."""
    mask = dropout_mask((weight.shape[0], 1), p, weight, generator)
    return F.embedding(ids, weight if mask is None else weight * mask)


def highway_weights(ninp: int, nhid: int, steps: int) -> tuple[nn.Parameter, nn.ParameterList]:
    """W0 ((ninp + nhid) × 2·nhid, node 0) and one nhid × 2·nhid matrix per node, uniform ±0.04."""
    w0 = nn.Parameter(torch.empty(ninp + nhid, 2 * nhid).uniform_(-INIT_RANGE, INIT_RANGE))
    ws = nn.ParameterList(
        nn.Parameter(torch.empty(nhid, 2 * nhid).uniform_(-INIT_RANGE, INIT_RANGE))
        for _ in range(steps))
    return w0, ws


def run_cell(cell: nn.Module, x: Tensor, h: Tensor, generator: torch.Generator | None,
             *step_args) -> tuple[Tensor, Tensor]:
    """A cell over a sequence: x (T, B, ninp), h (B, nhid) → states (T, B, nhid) and the last
    one; the x and h dropout masks drawn once (in that order) and kept over the sequence;
    ``cell.step(xw_t, h, h_mask, *step_args)`` does one time step."""
    train = cell.training
    x_mask = dropout_mask((x.shape[1], cell.ninp), cell.dropoutx, x, generator) if train \
        else None
    h_mask = dropout_mask((x.shape[1], cell.nhid), cell.dropouth, x, generator) if train \
        else None
    # node 0's input share for every step at once: the x mask is the same at each step
    xw = (x if x_mask is None else x * x_mask) @ cell.w0[: cell.ninp]
    out = []
    for t in range(x.shape[0]):
        h = cell.step(xw[t], h, h_mask, *step_args)
        out.append(h)
    return torch.stack(out), h


class DartsRnnCell(nn.Module):
    """The recurrent cell of a genotype; ``forward`` runs it over a sequence."""

    def __init__(self, ninp: int, nhid: int, genotype: RnnGenotype, dropouth: float = 0.0,
                 dropoutx: float = 0.0) -> None:
        super().__init__()
        self.ninp, self.nhid, self.genotype = ninp, nhid, genotype
        self.dropouth, self.dropoutx = dropouth, dropoutx
        self.w0, self.ws = highway_weights(ninp, nhid, len(genotype.recurrent))

    def step(self, xw: Tensor, h: Tensor, h_mask: Tensor | None) -> Tensor:
        """One time step from x's share of node 0's projection (``xw`` = x W0[:ninp])."""
        hm = h if h_mask is None else h * h_mask
        c0, h0 = (xw + hm @ self.w0[self.ninp:]).split(self.nhid, dim=-1)
        states = [h + c0.sigmoid() * (h0.tanh() - h)]
        for (name, pred), w in zip(self.genotype.recurrent, self.ws, strict=True):
            s = states[pred]
            c, hh = (s if h_mask is None else s * h_mask).mm(w).split(self.nhid, dim=-1)
            states.append(s + c.sigmoid() * (ACTIVATIONS[name](hh) - s))
        return torch.stack([states[i] for i in self.genotype.concat]).mean(0)

    def forward(self, x: Tensor, h: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor]:
        """x (T, B, ninp), h (B, nhid) → states (T, B, nhid) and the last one."""
        return run_cell(self, x, h, generator)


class RnnLanguageModel(nn.Module):
    """Embedding → DARTS cell → tied decoder, with the authors' dropouts (Liu et al. 2019 Sec. 3.3:
    one layer, embedding = hidden = 850 for PTB)."""

    def __init__(self, ntoken: int, genotype: RnnGenotype, *, ninp: int = 850, nhid: int = 850,
                 dropout: float = 0.75, dropouth: float = 0.25, dropoutx: float = 0.75,
                 dropouti: float = 0.2, dropoute: float = 0.0) -> None:
        super().__init__()
        if ninp != nhid:
            raise ValueError(f"the decoder is tied to the embedding: ninp ({ninp}) must equal "
                             f"nhid ({nhid})")
        self.dropout, self.dropouti, self.dropoute = dropout, dropouti, dropoute
        self.encoder = nn.Embedding(ntoken, ninp)
        self.cell = DartsRnnCell(ninp, nhid, genotype, dropouth, dropoutx)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.decoder.bias)
        self.nhid = nhid

    def init_hidden(self, batch: int) -> Tensor:
        return self.encoder.weight.new_zeros(batch, self.nhid)

    def forward(self, ids: Tensor, hidden: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """ids (T, B) → logits (T, B, V), the last state, and the cell's undropped states
        (T, B, H) for temporal activation regularisation."""
        train = self.training
        emb = embedded_dropout(self.encoder.weight, ids, self.dropoute if train else 0.0,
                               generator)
        emb = locked_dropout(emb, self.dropouti if train else 0.0, generator)
        raw, hidden = self.cell(emb, hidden, generator)
        out = locked_dropout(raw, self.dropout if train else 0.0, generator)
        return self.decoder(out), hidden, raw


def count_parameters(model: nn.Module) -> int:
    """Distinct parameters (the tied decoder weight counted once, as ``model.parameters()``)."""
    return sum(p.numel() for p in model.parameters())
