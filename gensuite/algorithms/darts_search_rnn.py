"""DARTS recurrent search on Penn Treebank (Liu, Simonyan & Yang, ICLR 2019, Sec. 2 and 3.1; the
search course report A-Q4 stopped at epoch 15): the bilevel optimisation of a one-shot
language model's weights (on PTB's training text) and its cell's α (on PTB's validation text,
as the authors' rnn/train_search.py), first or second order.

One ``train_step`` = one α step (gensuite.models.darts.architect: Adam 3e-3, β 0.9/0.999,
weight decay 1e-3, on a 35-token batch of the validation text, its state carried; second order:
the unrolled step with the weights' rate, its gradient clipped at 0.25 as the authors' code)
then one weight step on a batch of the training text (SGD lr 20 scaled by the BPTT length —
35, or 17 with probability 0.05 —, weight decay 5e-7, temporal activation regularisation 1e-3,
gradient norm clip 0.25). The one-shot model: embedding = hidden = 300, the evaluation model's
dropouts, batch 256, 50 epochs.

Every evaluation records the derived cell (each node's strongest non-"none" edge) and
softmax(α), and the one-shot model's perplexity on the validation text; the figures draw α per
edge over the search and the final cell. Where gensuite's Hessian-vector product differs from
the authors' rnn/architect.py: it is taken at w as the paper's eq. 8 (that file perturbs the
unrolled weights w′) with the plain ∇w′ L_val (that file clips it and adds weight decay).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from gensuite.algorithms.darts_eval_rnn import (
    batchify,
    check_language_model_config,
    stream_nll,
)
from gensuite.api import AlgorithmBase, Curves, Estimate, EvalResult, RunContext, eval_field
from gensuite.data.containers import TokenStreamData
from gensuite.metrics.language import perplexity_from_nll
from gensuite.models.darts.architect import Architect
from gensuite.models.darts.genotypes import to_dict
from gensuite.models.darts.rnn_search import SearchRnnModel
from gensuite.registry import register_algorithm
from gensuite.seeds import SeedStreams


def lm_loss(out: tuple[Tensor, ...], targets: Tensor) -> Tensor:
    """Mean token cross-entropy of a language model's (logits, …) output."""
    logits = out[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@dataclass(frozen=True, kw_only=True)
class DartsSearchRnnConfig:
    """The authors' rnn/train_search.py defaults (Liu et al. 2019, Sec. 3.1)."""

    data_type: ClassVar[type] = TokenStreamData

    unrolled: bool = False  # True: second order (eq. 7-8)
    emsize: int = 300
    nhid: int = 300
    dropout: float = 0.75
    dropouth: float = 0.25
    dropoutx: float = 0.75
    dropouti: float = 0.2
    dropoute: float = 0.0
    lr: float = 20.0
    clip: float = 0.25
    batch_size: int = 256
    bptt: int = 35
    weight_decay: float = 5e-7
    beta: float = 1e-3  # temporal activation regularisation
    arch_lr: float = 3e-3
    arch_weight_decay: float = 1e-3
    hessian_r: float = 1e-2
    eval_batch_size: int = 10
    val_tokens: int = 0  # perplexity on the first N validation tokens at each evaluation (0: all)
    test_tokens: int = eval_field(0)  # the same at the end (0: all)

    def __post_init__(self) -> None:
        check_language_model_config(self, ("emsize", "nhid", "batch_size", "bptt",
                                           "eval_batch_size"))


@register_algorithm("darts-search-rnn")
class DartsSearchRnn(AlgorithmBase):
    """DARTS's bilevel search of a recurrent cell on PTB, first or second order."""

    Config = DartsSearchRnnConfig
    tiny_config: ClassVar[dict[str, Any]] = dict(emsize=6, nhid=6, batch_size=4, bptt=5,
                                                 eval_batch_size=2)

    def __init__(self, config: DartsSearchRnnConfig, data: TokenStreamData, ctx: RunContext
                 ) -> None:
        self.config, self.data, self.ctx = config, data, ctx
        c = config
        self.device = torch.device(ctx.device)
        self.streams = SeedStreams(ctx.seed)
        torch.manual_seed(ctx.seed)  # network and α initialisation
        self.model = SearchRnnModel(data.vocab_size, ninp=c.emsize, nhid=c.nhid,
                                    dropout=c.dropout, dropouth=c.dropouth, dropoutx=c.dropoutx,
                                    dropouti=c.dropouti, dropoute=c.dropoute).to(self.device)
        self.model.mask_generator = self.streams.generator("dropout")
        self.w_opt = torch.optim.SGD(self.model.weights(), lr=c.lr, weight_decay=c.weight_decay)
        self.architect = Architect(self.model, self.w_opt, lr=c.arch_lr, betas=(0.9, 0.999),
                                   weight_decay=c.arch_weight_decay, unrolled=c.unrolled,
                                   hessian_r=c.hessian_r, loss_fn=lm_loss,
                                   unrolled_clip=c.clip)
        self.train_data = batchify(data.train, c.batch_size).to(self.device)
        self.search_data = batchify(data.val, c.batch_size).to(self.device)  # α's text
        self.len_gen = self.streams.generator("seq_len")
        self.position = 0
        self.hidden: Tensor | None = None
        self.hidden_val: Tensor | None = None
        self.history: list[dict[str, Any]] = []
        self.step = 0

    def train_step(self, step: int) -> dict[str, float]:
        c = self.config
        total = self.train_data.shape[0]
        if self.hidden is None or self.position >= total - 2:  # an epoch starts
            self.position = 0
            self.hidden = self.model.init_hidden(c.batch_size)
            self.hidden_val = self.model.init_hidden(c.batch_size)
        u = float(torch.rand(1, generator=self.len_gen, dtype=torch.float64)[0])
        seq_len = min(c.bptt if u < 0.95 else c.bptt // 2, total - 1 - self.position)
        lr = c.lr * seq_len / c.bptt
        for g in self.w_opt.param_groups:
            g["lr"] = lr
        i = self.position
        xt, yt = self.train_data[i: i + seq_len], self.train_data[i + 1: i + 1 + seq_len]
        v = i % (self.search_data.shape[0] - 1)  # the validation batch: bptt tokens
        n = min(c.bptt, self.search_data.shape[0] - 1 - v)
        xv, yv = self.search_data[v: v + n], self.search_data[v + 1: v + 1 + n]
        self.model.train()
        self.architect.step((xt, self.hidden), yt, (xv, self.hidden_val), yv, eta=lr)
        self.hidden_val = self.architect.val_output[1].detach()
        self.architect.val_output = None
        logits, hidden, states = self.model((xt, self.hidden))
        raw = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1))
        loss = raw + c.beta * (states[1:] - states[:-1]).pow(2).mean() if c.beta else raw
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.weights(), c.clip)
        self.w_opt.step()
        self.model.alphas.grad = None  # α's gradient from the training loss is not used
        self.hidden = hidden.detach()
        self.position += seq_len
        self.step = step + 1
        return {"loss": float(raw.detach()), "lr": lr, "seq_len": float(seq_len)}

    def val_nll(self, tokens: int) -> float:
        """Mean NLL of the one-shot model on the validation text (batch 10, state carried)."""
        c = self.config
        ids = self.data.val[: tokens + 1] if tokens else self.data.val
        self.model.eval()
        nll = stream_nll(lambda x, h: self.model((x, h))[:2], ids, c.eval_batch_size, c.bptt,
                         self.model.init_hidden(c.eval_batch_size), self.device)
        self.model.train()
        return float(nll.sum() / len(nll))

    def _snapshot(self) -> dict[str, Any]:
        with torch.no_grad():
            alphas = {"recurrent": F.softmax(self.model.alphas, dim=-1).cpu().tolist()}
        return {"step": self.step, "genotype": to_dict(self.model.genotype()), "alphas": alphas}

    def validate(self) -> dict[str, float]:
        self.history.append(self._snapshot())
        nll = self.val_nll(self.config.val_tokens)
        return {"val_loss": nll, "val_ppl": perplexity_from_nll(nll)}

    def test(self, curves: Curves) -> EvalResult:
        nll = self.val_nll(self.config.test_tokens)
        final = self._snapshot()
        history = self.history if self.history and self.history[-1]["step"] == self.step \
            else [*self.history, final]
        metrics = {"val_perplexity": Estimate(mean=perplexity_from_nll(nll), ci95=float("nan"),
                                              n=1, over="validation text")}
        details = {
            "genotype": final["genotype"], "order": "second" if self.config.unrolled else "first",
            "genotype_history": [{"step": h["step"], "genotype": h["genotype"]}
                                 for h in history],
            "alphas_final": final["alphas"],
            "one_shot_parameters": sum(p.numel() for p in self.model.weights()),
            "validation_tokens": (min(self.config.test_tokens, len(self.data.val) - 1)
                                  if self.config.test_tokens else len(self.data.val) - 1),
            "note": "the validation text also trains α (the authors' setting): this perplexity "
                    "is the search's own monitor, not a held-out score",
        }
        self._figure_history = history
        return EvalResult(metrics=metrics, details=details)

    def write_artifacts(self, outdir: Path, result: EvalResult, curves: Curves) -> list[Path]:
        from gensuite.algorithms.darts_eval import write_details
        from gensuite.algorithms.darts_figures import alpha_curves, recurrent_cell_drawing

        history = getattr(self, "_figure_history", None) or []
        paths = [write_details(result, Path(outdir) / "search.json")]
        if len(history) >= 2:
            paths.append(alpha_curves(history, "recurrent", Path(outdir) / "alphas.png"))
        paths.append(recurrent_cell_drawing(result.details["genotype"],
                                            Path(outdir) / "cell.png"))
        return paths

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({
            "model": self.model.state_dict(), "w_opt": self.w_opt.state_dict(),
            "arch_opt": self.architect.opt.state_dict(), "position": self.position,
            "hidden": self.hidden, "hidden_val": self.hidden_val,
            "len_gen": self.len_gen.get_state(),
            "mask_gen": self.model.mask_generator.get_state(),
            "history": self.history, "step": self.step})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.architect.opt.load_state_dict(state["arch_opt"])
        self.position = int(state["position"])
        self.hidden, self.hidden_val = state["hidden"], state["hidden_val"]
        self.len_gen.set_state(state["len_gen"])
        self.model.mask_generator.set_state(state["mask_gen"])
        self.history = copy.deepcopy(state["history"])
        self.step = int(state["step"])
