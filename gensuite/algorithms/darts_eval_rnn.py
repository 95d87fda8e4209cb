"""DARTS recurrent evaluation (Liu, Simonyan & Yang, ICLR 2019, Sec. 3.3 and Table 2; course
report A-Q4): train the PTB language model built from a recurrent genotype from scratch and
score its test perplexity.

The model (gensuite.models.darts.rnn): one DARTS cell, embedding = hidden = 850 tied to the
decoder, variational dropouts 0.75 (output) / 0.25 (states) / 0.75 (cell input) / 0.2
(embedding output), embedding dropout 0 (the defaults of the authors' rnn/train.py). Training as
that script: SGD lr 20, weight decay 8e-7, gradients clipped at norm 0.25, batch 64, BPTT
length drawn per step (35, or 17.5 with probability 0.05, plus N(0, 5), at least 5, at most 55)
with the rate scaled by length / 35, temporal activation regularisation β = 1e-3 on the cell's
states, the hidden state carried between steps and reset each epoch. At every validation the
non-monotone switch (``nonmono`` = 5 validations without beating the best of all but the last 5)
replaces SGD by averaged SGD (``torch.optim.ASGD``, t0 = 0, λ = 0), after which validation and
the kept model use the averaged weights.

Scored: test perplexity of the model with the best validation loss (the authors' selection),
every test token scored with the state carried (test batch 1 as the authors), exp of the mean
NLL accumulated in float64 (gensuite.metrics.language), with a 95% interval over contiguous
blocks of the text by the delta method; the parameter count in millions.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from gensuite.algorithms.charrnn import block_interval
from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext, eval_field
from gensuite.data.containers import TokenStreamData
from gensuite.errors import GensuiteError
from gensuite.metrics.language import PerplexityAccumulator, perplexity_from_nll
from gensuite.models.darts.genotypes import PUBLISHED_RNN, RNN_PRIMITIVES, RnnGenotype, to_dict
from gensuite.models.darts.rnn import RnnLanguageModel, count_parameters
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams


def parse_rnn_genotype(text: str) -> RnnGenotype:
    """A published name ("darts-v2", "darts-v1") or a genotype as JSON
    ({"recurrent": [[activation, input], …], "concat": […]})."""
    if text in PUBLISHED_RNN:
        return PUBLISHED_RNN[text]
    try:
        d = json.loads(text)
        g = RnnGenotype(recurrent=[(str(a), int(j)) for a, j in d["recurrent"]],
                        concat=[int(i) for i in d["concat"]])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"genotype must be one of {', '.join(PUBLISHED_RNN)} or a recurrent "
                         f"genotype as JSON; got {text[:60]!r} ({e})") from None
    for i, (act, j) in enumerate(g.recurrent):
        if act not in RNN_PRIMITIVES or act == "none":
            raise ValueError(f"genotype activation {act!r} is not one of DARTS's "
                             f"{', '.join(RNN_PRIMITIVES[1:])}")
        if not 0 <= j <= i:
            raise ValueError(f"genotype node {i + 1} takes node {j}: only nodes 0…{i} come "
                             f"before it")
    if not g.concat or not all(0 <= i <= len(g.recurrent) for i in g.concat):
        raise ValueError(f"genotype concat {g.concat} must name nodes 0…{len(g.recurrent)}")
    return g


def batchify(ids: Tensor, batch: int) -> Tensor:
    """A stream → (T, batch) columns of contiguous stretches (the tail that does not fill a row
    dropped), as AWD-LSTM's and the authors' batchify."""
    n = len(ids) // batch
    if n < 2:
        raise GensuiteError(f"a stream of {len(ids)} tokens is too short for batch {batch}")
    return ids[: n * batch].view(batch, n).t().contiguous()


@torch.no_grad()
def stream_nll(forward: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]], ids: Tensor,
               batch: int, bptt: int, hidden: Tensor, device: torch.device) -> np.ndarray:
    """Per-token NLL (nats, float64) of a language model over ``ids`` in text order: the text
    in ``batch`` contiguous streams read ``bptt`` tokens at a time, the state carried;
    ``forward(ids (T, B), hidden) → (logits (T, B, V), next hidden)``."""
    data = batchify(ids, batch).to(device)
    out = []
    for i in range(0, data.shape[0] - 1, bptt):
        n = min(bptt, data.shape[0] - 1 - i)
        logits, hidden = forward(data[i: i + n], hidden)
        logp = torch.log_softmax(logits.double(), dim=-1)
        out.append(-logp.gather(-1, data[i + 1: i + 1 + n].unsqueeze(-1)).squeeze(-1))
    # (T, B) → stream by stream: the text's order
    return torch.cat(out).t().reshape(-1).cpu().numpy()


def check_language_model_config(config: Any, positive: tuple[str, ...]) -> None:
    """The checks every DARTS language-model config shares: the named sizes ≥ 1, a tied
    decoder (emsize = nhid), dropouts in [0, 1)."""
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be a positive integer; got {getattr(config, name)}")
    if config.emsize != config.nhid:
        raise ValueError(f"the decoder is tied to the embedding: emsize ({config.emsize}) "
                         f"must equal nhid ({config.nhid})")
    for name in ("dropout", "dropouth", "dropoutx", "dropouti", "dropoute"):
        if not 0 <= getattr(config, name) < 1:
            raise ValueError(f"{name} must be in [0, 1); got {getattr(config, name)}")


@dataclass(frozen=True, kw_only=True)
class DartsEvalRnnConfig:
    """The authors' rnn/train.py defaults (Liu et al. 2019, Sec. 3.3 / Table 2)."""

    data_type: ClassVar[type] = TokenStreamData

    genotype: str = "darts-v2"
    emsize: int = 850
    nhid: int = 850
    dropout: float = 0.75
    dropouth: float = 0.25
    dropoutx: float = 0.75
    dropouti: float = 0.2
    dropoute: float = 0.0
    lr: float = 20.0
    clip: float = 0.25
    batch_size: int = 64
    bptt: int = 35
    max_seq_len_delta: int = 20
    variable_length: bool = True  # False: every step exactly bptt tokens
    weight_decay: float = 8e-7
    alpha: float = 0.0  # activation regularisation on the dropped output (the authors: off)
    beta: float = 1e-3  # temporal activation regularisation on the cell's states
    asgd: bool = True  # the non-monotone switch to averaged SGD
    nonmono: int = 5
    eval_batch_size: int = 10
    val_tokens: int = 0  # validate on the first N validation tokens (0: all)
    test_batch_size: int = eval_field(1)
    test_tokens: int = eval_field(0)  # score the first N test tokens (0: all)
    eval_blocks: int = eval_field(20)

    def __post_init__(self) -> None:
        parse_rnn_genotype(self.genotype)
        check_language_model_config(self, ("emsize", "nhid", "batch_size", "bptt",
                                           "eval_batch_size", "test_batch_size", "nonmono",
                                           "eval_blocks"))
        if self.lr <= 0 or self.clip <= 0:
            raise ValueError("lr and clip must be positive")


@register_algorithm("darts-eval-rnn")
class DartsEvalRnn(AlgorithmBase):
    """A DARTS recurrent cell trained from scratch on PTB (Liu et al. 2019 Table 2; report A-Q4)."""

    Config = DartsEvalRnnConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(emsize=8, nhid=8, batch_size=4, bptt=6,
                                                 eval_batch_size=2, eval_blocks=4)

    def __init__(self, config: DartsEvalRnnConfig, data: TokenStreamData, ctx: RunContext
                 ) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        self.genotype = parse_rnn_genotype(c.genotype)
        torch.manual_seed(ctx.seed)  # network initialisation
        self.model = RnnLanguageModel(
            data.vocab_size, self.genotype, ninp=c.emsize, nhid=c.nhid, dropout=c.dropout,
            dropouth=c.dropouth, dropoutx=c.dropoutx, dropouti=c.dropouti,
            dropoute=c.dropoute).to(self.device)
        self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
            self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.averaging = False  # switched to ASGD
        self.train_data = batchify(data.train, c.batch_size).to(self.device)
        self.len_gen = self.streams.generator("seq_len")
        self.drop_gen = self.streams.generator("dropout")
        self.position = 0
        self.epoch = 0
        self.hidden: Tensor | None = None
        self.val_history: list[float] = []  # SGD-phase validation losses (the switch's memory)
        self.best_val = math.inf
        self.best_state: dict[str, Tensor] | None = None

    # --- training ---------------------------------------------------------------------------

    def seq_len(self) -> int:
        """The authors' variable BPTT length: bptt (or bptt/2 w.p. 0.05) + N(0, 5), in [5,
        bptt + delta]; drawn from this run's own stream."""
        c = self.config
        if not c.variable_length:
            return c.bptt
        u = float(torch.rand(1, generator=self.len_gen, dtype=torch.float64)[0])
        base = c.bptt if u < 0.95 else c.bptt / 2
        normal = float(torch.randn(1, generator=self.len_gen, dtype=torch.float64)[0])
        return min(max(5, int(base + 5 * normal)), c.bptt + c.max_seq_len_delta)

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        total = self.train_data.shape[0]
        if self.hidden is None or self.position >= total - 2:  # an epoch starts
            if self.hidden is not None:
                self.epoch += 1
            self.position = 0
            self.hidden = self.model.init_hidden(c.batch_size)
        seq_len = min(self.seq_len(), total - 1 - self.position)
        x = self.train_data[self.position: self.position + seq_len]
        y = self.train_data[self.position + 1: self.position + 1 + seq_len]
        group = self.optimizer.param_groups[0]
        group["lr"] = c.lr * seq_len / c.bptt
        self.model.train()
        logits, hidden, states = self.model(x, self.hidden, self.drop_gen)
        self.hidden = hidden.detach()
        raw = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss = raw
        if c.beta:  # temporal activation regularisation (slowness of the cell's states)
            loss = loss + c.beta * (states[1:] - states[:-1]).pow(2).mean()
        if c.alpha:
            loss = loss + c.alpha * states.pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip)
        self.optimizer.step()
        group["lr"] = c.lr
        self.position += seq_len
        return {"loss": float(raw.detach()), "ppl": math.exp(min(float(raw.detach()), 50.0)),
                "seq_len": float(seq_len), "asgd": float(self.averaging)}

    # --- evaluation ---------------------------------------------------------------------------

    def _averaged(self) -> dict[str, Tensor] | None:
        """ASGD's running average of every parameter by state-dict name, the tied decoder
        weight under both its names (None before the switch or its first step)."""
        if not self.averaging:
            return None
        state = self.optimizer.state
        return {name: state[p]["ax"].detach().clone()
                for name, p in self.model.named_parameters(remove_duplicate=False)
                if "ax" in state[p]} or None

    @torch.no_grad()
    def _nll(self, ids: Tensor, batch: int, weights: dict[str, Tensor] | None = None
             ) -> np.ndarray:
        """Per-token NLL in text order (``stream_nll``) with ``weights`` swapped in for the
        pass (the averaged or the kept ones)."""
        saved = None
        if weights:
            saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict({**saved, **weights})
        self.model.eval()
        nll = stream_nll(lambda x, h: self.model(x, h)[:2], ids, batch, self.config.bptt,
                         self.model.init_hidden(batch), self.device)
        if saved is not None:
            self.model.load_state_dict(saved)
        self.model.train()
        return nll

    def validate(self) -> dict[str, float]:
        c = self.config
        ids = self.data.val[: c.val_tokens + 1] if c.val_tokens else self.data.val
        averaged = self._averaged()
        nll = self._nll(ids, c.eval_batch_size, averaged)
        acc = PerplexityAccumulator()
        acc.nll_sum, acc.count = float(nll.sum()), len(nll)
        val_loss = acc.mean_nll()
        if val_loss < self.best_val:  # the authors keep the best validation model
            self.best_val = val_loss
            self.best_state = averaged or {k: v.detach().clone()
                                           for k, v in self.model.state_dict().items()}
        if not self.averaging:
            h, k = self.val_history, c.nonmono
            if c.asgd and len(h) > k and val_loss > min(h[:-k]):
                self.optimizer = torch.optim.ASGD(self.model.parameters(), lr=c.lr, t0=0,
                                                  lambd=0.0, weight_decay=c.weight_decay)
                self.averaging = True
            h.append(val_loss)
        return {"val_loss": val_loss, "val_ppl": acc.compute(),
                "val_asgd": float(self.averaging)}

    def test(self, curves: Curves) -> EvalResult:
        c = self.config
        if self.best_state is None:  # never validated: the last model
            self.best_state = self._averaged() or None
        selection = ("best validation loss (the authors' selection)" if self.best_val < math.inf
                     else "last step (no validation ran)")
        ids = self.data.test[: c.test_tokens + 1] if c.test_tokens else self.data.test
        nll = self._nll(ids, c.test_batch_size, self.best_state)
        mean = float(nll.sum() / len(nll))
        half, n = block_interval(nll, c.eval_blocks)
        ppl = perplexity_from_nll(mean)
        params = count_parameters(self.model)
        metrics = {
            # delta method: d exp(x) = exp(x) dx
            "perplexity": Estimate(mean=ppl, ci95=ppl * half if math.isfinite(ppl) else math.nan,
                                   n=n, over="text blocks"),
            "nll": Estimate(mean=mean, ci95=half, n=n, over="text blocks"),
            "parameters_m": Estimate(mean=params / 1e6, ci95=0.0, n=1, over="models"),
        }
        details = {"genotype": to_dict(self.genotype), "parameters": params,
                   "test_tokens": len(nll), "model_selection": selection,
                   "best_val_loss": self.best_val if self.best_val < math.inf else None,
                   "switched_to_asgd": self.averaging, "epochs": self.epoch}
        return EvalResult(metrics=metrics, details=details)

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.darts_eval import write_details
        from gensuite.algorithms.darts_figures import recurrent_cell_drawing

        return [recurrent_cell_drawing(result.details["genotype"], Path(outdir) / "cell.png"),
                write_details(result, Path(outdir) / "details.json")]

    # --- resume -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "averaging": self.averaging, "position": self.position, "epoch": self.epoch,
            "hidden": self.hidden, "len_gen": self.len_gen.get_state(),
            "drop_gen": self.drop_gen.get_state(), "val_history": self.val_history,
            "best_val": self.best_val, "best_state": self.best_state})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        c = self.config
        self.model.load_state_dict(state["model"])
        self.averaging = bool(state["averaging"])
        if self.averaging:
            self.optimizer = torch.optim.ASGD(self.model.parameters(), lr=c.lr, t0=0, lambd=0.0,
                                              weight_decay=c.weight_decay)
        self.optimizer.load_state_dict(state["optimizer"])
        self.position, self.epoch = int(state["position"]), int(state["epoch"])
        self.hidden = state["hidden"]
        self.len_gen.set_state(state["len_gen"])
        self.drop_gen.set_state(state["drop_gen"])
        self.val_history = list(state["val_history"])
        self.best_val = float(state["best_val"])
        self.best_state = state["best_state"]
