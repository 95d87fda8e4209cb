"""k-nearest-neighbour accuracy of frozen embeddings: the monitor of self-supervised training.

Weighted kNN of Wu et al. (2018, "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", sec. 3.4), as reused by the MoCo and SimSiam kNN monitors: features are
L2-normalised, each query takes its k most cosine-similar training features, and neighbour i
votes for its label with weight exp(s_i / temperature); the class with the largest total wins.
``weighted=False`` gives a plain majority vote. Ties go to the smallest class index.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def _features(x: Any) -> Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"features must be (N, D); got shape {tuple(t.shape)}")
    # below float32 the exp(s / 0.1) weights lose the ordering of close neighbours
    return F.normalize(t if t.dtype == torch.float64 else t.float(), dim=1)


def _labels(y: Any, n: int, name: str) -> Tensor:
    t = torch.as_tensor(y).long().reshape(-1)
    if t.numel() != n:
        raise ValueError(f"{name} has {t.numel()} labels for {n} feature rows")
    return t


def knn_predict(
    train_feats: Any,
    train_labels: Any,
    test_feats: Any,
    *,
    k: int = 200,
    temperature: float = 0.1,
    weighted: bool = True,
    num_classes: int | None = None,
    batch_size: int = 512,
) -> Tensor:
    """Predicted label of each test feature → (N_test,) long tensor.

    Queries are processed ``batch_size`` at a time, so memory is batch_size × N_train
    similarities, not N_test × N_train.
    """
    bank = _features(train_feats)
    queries = _features(test_feats).to(device=bank.device, dtype=bank.dtype)
    if queries.shape[1] != bank.shape[1]:
        raise ValueError(f"feature dims differ: train {bank.shape[1]}, test {queries.shape[1]}")
    bank_labels = _labels(train_labels, bank.shape[0], "train_labels").to(bank.device)
    if not 1 <= k <= bank.shape[0]:
        # refuse rather than clamp: a silently smaller k would be a different metric
        raise ValueError(f"k must lie in [1, {bank.shape[0]}] (the training set size); got {k}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive; got {temperature}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    n_classes = int(bank_labels.max()) + 1 if num_classes is None else num_classes
    if bank_labels.min() < 0 or bank_labels.max() >= n_classes:
        raise ValueError(f"train_labels must lie in [0, {n_classes}); num_classes={num_classes}")
    predictions = []
    for start in range(0, queries.shape[0], batch_size):
        sim = queries[start : start + batch_size] @ bank.T  # cosine: both sides unit length
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = torch.exp(top_sim / temperature) if weighted else torch.ones_like(top_sim)
        scores = torch.zeros(sim.shape[0], n_classes, dtype=sim.dtype, device=sim.device)
        scores.scatter_add_(1, bank_labels[top_idx], votes)
        predictions.append(scores.argmax(dim=1))  # first maximum: ties to the smallest class
    return torch.cat(predictions).cpu()


def knn_accuracy(
    train_feats: Any,
    train_labels: Any,
    test_feats: Any,
    test_labels: Any,
    *,
    k: int = 200,
    temperature: float = 0.1,
    weighted: bool = True,
    num_classes: int | None = None,
    batch_size: int = 512,
) -> float:
    """Top-1 kNN accuracy in [0, 1] of ``test_feats`` classified by the labelled ``train_feats``.

    Features are (N, D) numpy arrays or tensors; labels are integer class ids.
    """
    predictions = knn_predict(
        train_feats,
        train_labels,
        test_feats,
        k=k,
        temperature=temperature,
        weighted=weighted,
        num_classes=num_classes,
        batch_size=batch_size,
    )
    targets = _labels(test_labels, predictions.shape[0], "test_labels")
    return float((predictions == targets).double().mean())
