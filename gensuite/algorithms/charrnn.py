"""Character-level RNN language model (course report C-1; Karpathy's min-char-rnn / char-rnn).

One ``train_step`` is one truncated-BPTT mini-batch: the training text is cut into
``batch_size`` contiguous streams, read ``seq_len`` characters at a time; the hidden state is
carried from one chunk to the next (stateful) and reset at each epoch boundary. Gradients are
clipped element-wise to ±``clip`` as min-char-rnn does (``clip_mode = "norm"`` for a norm clip).
Evaluation scores the whole held-out text in ``eval_streams`` contiguous streams (1: the text
in one pass, the exact whole-text loss), accumulating NLL in float64: bits per character,
perplexity (gensuite.metrics.language) and next-character accuracy, each with a 95% interval
over ``eval_blocks`` contiguous blocks of the text (batch means; the characters of a text are
not independent, its blocks nearly are). Samples: temperature sampling from a fixed prime with
a fixed generator (T = 0: greedy).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from scipy import stats
from torch import Tensor

from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext
from gensuite.data.containers import TokenStreamData
from gensuite.errors import GensuiteError
from gensuite.metrics.language import bpc_from_nll, perplexity_from_nll
from gensuite.models.char_rnn import CELLS, CharRNN, detach_state, sample
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adagrad")
CLIP_MODES = ("value", "norm")


@dataclass(frozen=True, kw_only=True)
class CharRNNConfig:
    """Report C-1's knobs (its chosen model: hidden 256, seq 20, lr 1e-3); eval-only fields last."""

    data_type: ClassVar[type] = TokenStreamData

    cell: str = "lstm"
    layers: int = 1
    hidden: int = 256
    dropout: float = 0.0
    seq_len: int = 20
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float = 5.0
    clip_mode: str = "value"
    val_chars: int = 0  # validate on the first N characters of the validation text (0: all)
    test_chars: int = field(default=0, metadata={"eval": True})  # first N test chars (0: all)
    eval_streams: int = field(default=1, metadata={"eval": True})
    eval_blocks: int = field(default=20, metadata={"eval": True})
    sample_chars: int = field(default=300, metadata={"eval": True})
    prime: str = field(default="The ", metadata={"eval": True})
    temperatures: tuple[float, ...] = field(default=(0.4, 0.6, 0.8, 1.0, 1.2, 1.4),
                                            metadata={"eval": True})

    def __post_init__(self) -> None:
        for name, allowed in (("cell", CELLS), ("optimizer", OPTIMIZERS),
                              ("clip_mode", CLIP_MODES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; "
                                 f"got {getattr(self, name)!r}")
        for name in ("layers", "hidden", "seq_len", "batch_size", "eval_streams", "eval_blocks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if self.lr <= 0 or self.clip <= 0:
            raise ValueError("lr and clip must be positive")
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))


def stream_matrix(ids: Tensor, streams: int) -> tuple[Tensor, Tensor]:
    """A text of N ids → inputs and next-character targets, (streams, L) each, L = (N-1) // streams:
    stream i is the i-th contiguous stretch of the text (the tail that does not fill a row is
    dropped)."""
    length = (len(ids) - 1) // streams
    if length < 1:
        raise GensuiteError(f"a text of {len(ids)} characters is too short for {streams} "
                            f"stream(s)")
    inputs = ids[: streams * length].view(streams, length)
    targets = ids[1 : streams * length + 1].view(streams, length)
    return inputs, targets


def block_interval(values: np.ndarray, blocks: int) -> tuple[float, int]:
    """95% t half-width of the mean over ``blocks`` contiguous blocks of ``values`` (in text
    order), and the number of blocks used."""
    n = min(blocks, len(values))
    if n < 2:
        return math.nan, n
    means = np.array([b.mean() for b in np.array_split(values, n)])
    return float(stats.t.ppf(0.975, n - 1) * means.std(ddof=1) / math.sqrt(n)), n


@register_algorithm("charrnn")
class CharRNNModel(AlgorithmBase):
    """Char-RNN (report C-1): vanilla tanh RNN, LSTM or GRU; one step = one TBPTT chunk."""

    Config = CharRNNConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(hidden=8, seq_len=5, batch_size=2,
                                                 sample_chars=10, temperatures=(0.0, 1.0),
                                                 val_chars=100, test_chars=100)

    def __init__(self, config: CharRNNConfig, data: TokenStreamData, ctx: RunContext) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        torch.manual_seed(ctx.seed)  # network initialisation
        self.model = CharRNN(data.vocab_size, config.hidden, config.layers, config.cell,
                             config.dropout).to(self.device)
        self.optimizer = self._optimizer()
        need = config.batch_size * config.seq_len + 1
        if len(data.train) < need:
            raise GensuiteError(f"dataset {data.info.name!r}: the training text has "
                                f"{len(data.train)} characters, fewer than one batch "
                                f"({config.batch_size} streams × {config.seq_len} + 1)")
        inputs, targets = stream_matrix(data.train, config.batch_size)
        self._inputs, self._targets = inputs.to(self.device), targets.to(self.device)
        self.chunks_per_epoch = inputs.shape[1] // config.seq_len
        self._state = None

    def _optimizer(self) -> torch.optim.Optimizer:
        params, lr = self.model.parameters(), self.config.lr
        return {"sgd": lambda: torch.optim.SGD(params, lr=lr),
                "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr),
                "adam": lambda: torch.optim.Adam(params, lr=lr),
                "adagrad": lambda: torch.optim.Adagrad(params, lr=lr)}[self.config.optimizer]()

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        chunk = step % self.chunks_per_epoch
        if chunk == 0 or self._state is None:  # an epoch starts: a fresh hidden state
            self._state = self.model.init_state(c.batch_size, self.device)
        cols = slice(chunk * c.seq_len, (chunk + 1) * c.seq_len)
        self.model.train()
        logits, state = self.model(self._inputs[:, cols], self._state)
        self._state = detach_state(state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               self._targets[:, cols].reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.clip_mode == "value":
            torch.nn.utils.clip_grad_value_(self.model.parameters(), c.clip)
        else:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip)
        self.optimizer.step()
        return {"loss": loss.item(), "epoch": step / self.chunks_per_epoch}

    @torch.inference_mode()
    def score(self, ids: Tensor, streams: int, chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """Per-character NLL (nats, float64) and correctness of the next-character prediction
        over ``ids`` in text order, read in ``streams`` contiguous streams, state carried."""
        self.model.eval()
        inputs, targets = stream_matrix(ids, streams)
        inputs, targets = inputs.to(self.device), targets.to(self.device)
        state = self.model.init_state(streams, self.device)
        nll, hit = [], []
        for start in range(0, inputs.shape[1], chunk):
            cols = slice(start, start + chunk)
            logits, state = self.model(inputs[:, cols], state)
            logp = torch.log_softmax(logits.double(), dim=-1)
            nll.append(-logp.gather(-1, targets[:, cols].unsqueeze(-1)).squeeze(-1))
            hit.append(logits.argmax(-1) == targets[:, cols])
        return (torch.cat(nll, 1).reshape(-1).cpu().numpy(),
                torch.cat(hit, 1).reshape(-1).cpu().numpy())

    def validate(self) -> dict[str, float]:
        ids = self.data.val
        if self.config.val_chars:
            ids = ids[: self.config.val_chars + 1]
        nll, hit = self.score(ids, 1)
        mean = float(nll.sum() / len(nll))
        return {"val_loss": mean, "val_bpc": bpc_from_nll(mean), "val_acc": float(hit.mean())}

    def test(self, curves: Curves) -> EvalResult:
        c = self.config
        ids = self.data.test[: c.test_chars + 1] if c.test_chars else self.data.test
        nll, hit = self.score(ids, c.eval_streams)
        mean = float(nll.sum() / len(nll))  # the whole text's mean, float64
        half, n = block_interval(nll, c.eval_blocks)
        acc_half, _ = block_interval(hit.astype(np.float64), c.eval_blocks)
        ppl = perplexity_from_nll(mean)
        over = "text blocks"
        metrics = {
            "bpc": Estimate(mean=bpc_from_nll(mean), ci95=bpc_from_nll(half), n=n, over=over),
            "nll": Estimate(mean=mean, ci95=half, n=n, over=over),
            # delta method: d exp(x) = exp(x) dx (a diverged model: inf, its interval unknown)
            "perplexity": Estimate(mean=ppl, ci95=ppl * half if math.isfinite(ppl) else math.nan,
                                   n=n, over=over),
            "char_accuracy": Estimate(mean=100 * float(hit.mean()), ci95=100 * acc_half, n=n,
                                      unit="%", over=over),
        }
        return EvalResult(metrics=metrics, details={"samples": self.samples(),
                                                    "test_chars": len(nll)})

    def samples(self) -> dict[str, str]:
        """Text after the prime at each temperature, each drawn with its own fixed generator."""
        c, vocab = self.config, self.data.vocab
        index = {ch: i for i, ch in enumerate(vocab)}
        prime = [index[ch] for ch in c.prime if ch in index] or [0]
        out = {}
        for i, t in enumerate(c.temperatures):
            ids = sample(self.model, torch.tensor(prime), c.sample_chars, t,
                         self.streams.generator("samples", i))
            out[f"{t:g}"] = c.prime + "".join(vocab[j] for j in ids)
        return out

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        samples = result.details.get("samples") or {}
        if not samples:
            return []
        path = Path(outdir) / "samples.json"
        path.write_text(json.dumps(samples, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return [path]

    def state_dict(self) -> dict[str, Any]:
        state = self._state
        return copy.deepcopy({"model": self.model.state_dict(),
                              "optimizer": self.optimizer.state_dict(),
                              "hidden": list(state) if isinstance(state, tuple) else state})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        hidden = state.get("hidden")
        self._state = tuple(hidden) if isinstance(hidden, list) else hidden
