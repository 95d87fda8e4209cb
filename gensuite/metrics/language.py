"""Perplexity and bits per character of a language model from its logits.

Perplexity = exp(mean token cross-entropy in nats), as reported for word-level models (e.g. Merity
et al. 2018, Penn Treebank / WikiText-2); bits per character = mean cross-entropy / ln 2, as
reported for character-level models (e.g. Graves 2013, enwik8). The mean is over all scored tokens
of the whole evaluation set, not a mean of per-batch perplexities, so batches are accumulated as
(sum of NLL, token count) and combined once at the end (torchmetrics' update/compute split).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def nll_sum_and_count(
    logits: Tensor, targets: Tensor, ignore_index: int | None = None
) -> tuple[float, int]:
    """Summed token NLL (nats, float64) and the number of scored tokens.

    ``logits``: (..., V) unnormalised scores; ``targets``: (...) class indices. Tokens equal to
    ``ignore_index`` (e.g. padding) are neither scored nor counted.
    """
    if logits.ndim < 2 or logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits must be (..., V) and targets (...) with the same leading shape; "
            f"got logits {tuple(logits.shape)} and targets {tuple(targets.shape)}"
        )
    if logits.dtype in (torch.float16, torch.bfloat16):  # log-softmax in half loses digits
        logits = logits.float()
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1).long()
    if ignore_index is None:
        keep = torch.ones_like(flat_targets, dtype=torch.bool)
    else:
        keep = flat_targets != ignore_index
        flat_logits, flat_targets = flat_logits[keep], flat_targets[keep]
    nll = F.cross_entropy(flat_logits, flat_targets, reduction="none")
    # float64 sum: millions of float32 terms would otherwise drift in the last digits
    return float(nll.double().sum()), int(keep.sum())


def perplexity_from_nll(mean_nll: float) -> float:
    """exp(mean NLL in nats); ``inf`` beyond float range (a diverged model scores NLL > 709)."""
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


def bpc_from_nll(mean_nll: float) -> float:
    """Mean NLL in nats → bits per character (mean NLL / ln 2)."""
    return mean_nll / math.log(2.0)


class PerplexityAccumulator:
    """Sums token NLL and counts over batches; ``compute()`` gives the perplexity of all of them."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.nll_sum = 0.0
        self.count = 0

    def update(self, logits: Tensor, targets: Tensor, ignore_index: int | None = None) -> None:
        nll, count = nll_sum_and_count(logits.detach(), targets.detach(), ignore_index)
        self.nll_sum += nll
        self.count += count

    def mean_nll(self) -> float:
        """Mean token cross-entropy in nats over everything seen since the last reset."""
        if self.count == 0:
            raise ValueError("no tokens scored yet (all ignored, or update never called)")
        return self.nll_sum / self.count

    def compute(self) -> float:
        """Perplexity, exp(mean NLL)."""
        return perplexity_from_nll(self.mean_nll())

    def bits_per_character(self) -> float:
        """Mean NLL in bits, for character-level models."""
        return bpc_from_nll(self.mean_nll())


def perplexity(logits: Tensor, targets: Tensor, ignore_index: int | None = None) -> float:
    """One-shot perplexity of ``logits`` (..., V) against ``targets`` (...)."""
    acc = PerplexityAccumulator()
    acc.update(logits, targets, ignore_index)
    return acc.compute()


def bits_per_character(logits: Tensor, targets: Tensor, ignore_index: int | None = None) -> float:
    """One-shot bits per character of ``logits`` (..., V) against ``targets`` (...)."""
    acc = PerplexityAccumulator()
    acc.update(logits, targets, ignore_index)
    return acc.bits_per_character()
