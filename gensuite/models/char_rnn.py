"""Character-level recurrent language models (report C-1; Karpathy's min-char-rnn and char-rnn).

Inputs are one-hot characters, as in min-char-rnn and char-rnn; the output layer gives logits
over the vocabulary. Three cells: ``rnn``, a tanh RNN written out (the report's "from scratch"
model, min-char-rnn's equations, stacked), and ``lstm`` / ``gru`` from torch.nn. Everything is
batch-first: ids (B, T) → logits (B, T, V).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

CELLS = ("rnn", "lstm", "gru")
State = Tensor | tuple[Tensor, Tensor]


class VanillaRNN(nn.Module):
    """h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h) per layer, the layer's h_t the next one's x_t.

    min-char-rnn initialises weights N(0, 0.01²) and biases 0; so does this (``init_scale``).
    """

    def __init__(self, input_size: int, hidden: int, layers: int = 1,
                 init_scale: float = 0.01) -> None:
        super().__init__()
        self.hidden, self.layers = hidden, layers
        sizes = [input_size] + [hidden] * (layers - 1)
        self.w_xh = nn.ParameterList(nn.Parameter(torch.randn(hidden, n) * init_scale)
                                     for n in sizes)
        self.w_hh = nn.ParameterList(nn.Parameter(torch.randn(hidden, hidden) * init_scale)
                                     for _ in range(layers))
        self.b_h = nn.ParameterList(nn.Parameter(torch.zeros(hidden)) for _ in range(layers))

    def forward(self, x: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, I), h0 (layers, B, H) → top-layer outputs (B, T, H), h_T (layers, B, H)."""
        out, finals = x, []
        for layer in range(self.layers):
            # the input projection of all steps at once; only the recurrence is sequential
            pre = out @ self.w_xh[layer].T + self.b_h[layer]
            h, steps = h0[layer], []
            for t in range(pre.shape[1]):
                h = torch.tanh(pre[:, t] + h @ self.w_hh[layer].T)
                steps.append(h)
            out = torch.stack(steps, dim=1)
            finals.append(h)
        return out, torch.stack(finals)


class CharRNN(nn.Module):
    """One-hot characters → recurrent cell → linear logits over the vocabulary."""

    def __init__(self, vocab: int, hidden: int, layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
        self.vocab, self.hidden, self.layers, self.cell = vocab, hidden, layers, cell
        if cell == "rnn":
            self.rnn: nn.Module = VanillaRNN(vocab, hidden, layers)
        else:
            rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
            self.rnn = rnn_cls(vocab, hidden, layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab)

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        h = torch.zeros(self.layers, batch, self.hidden, device=device)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def forward(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        x = F.one_hot(ids, self.vocab).to(self.head.weight.dtype)
        out, state = self.rnn(x, state)
        return self.head(out), state


def detach_state(state: State) -> State:
    """Truncated BPTT: keep the values, cut the graph at the chunk boundary."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@torch.inference_mode()
def sample(model: CharRNN, prime: Tensor, length: int, temperature: float,
           generator: torch.Generator) -> list[int]:
    """``length`` ids after ``prime`` (1-D ids): softmax(logits / T) draws with ``generator``;
    T = 0 is greedy decoding (argmax), the limit of T → 0."""
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0; got {temperature}")
    device = next(model.parameters()).device
    state = model.init_state(1, device)
    logits, state = model(prime.view(1, -1).to(device), state)
    last = logits[0, -1]
    out: list[int] = []
    for _ in range(length):
        if temperature == 0:
            nxt = int(last.argmax())
        else:
            probs = torch.softmax(last.double() / temperature, dim=-1)
            nxt = int(torch.multinomial(probs.cpu(), 1, generator=generator))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]], device=device), state)
        last = logits[0, -1]
    return out
