"""Perplexity / bits per character against F.cross_entropy and uniform-model closed forms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gensuite.metrics.language import (
    PerplexityAccumulator,
    bits_per_character,
    nll_sum_and_count,
    perplexity,
)


def _random_batch(seed: int, shape=(4, 9), vocab: int = 50, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(*shape, vocab, generator=g, dtype=dtype)
    targets = torch.randint(0, vocab, shape, generator=g)
    return logits, targets


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_exp_cross_entropy(dtype):
    logits, targets = _random_batch(0, dtype=dtype)
    # reference computed on a float64 copy: the metric must not lose digits on float32 input
    ref = math.exp(F.cross_entropy(logits.double().reshape(-1, 50), targets.reshape(-1)).item())
    rel = 1e-12 if dtype == torch.float64 else 1e-5
    assert perplexity(logits, targets) == pytest.approx(ref, rel=rel)


def test_sequence_shape_matches_flat_shape():
    logits, targets = _random_batch(1, shape=(3, 5, 7))
    flat = perplexity(logits.reshape(-1, 50), targets.reshape(-1))
    assert perplexity(logits, targets) == pytest.approx(flat, rel=1e-12)


@pytest.mark.parametrize("vocab", [2, 27, 10_000])
def test_uniform_model_has_perplexity_v_and_bpc_log2_v(vocab):
    logits = torch.zeros(3, 11, vocab, dtype=torch.float64)
    targets = torch.randint(0, vocab, (3, 11), generator=torch.Generator().manual_seed(vocab))
    assert perplexity(logits, targets) == pytest.approx(vocab, rel=1e-12)
    assert bits_per_character(logits, targets) == pytest.approx(math.log2(vocab), rel=1e-12)


def test_a_perfect_model_has_perplexity_one_and_a_worse_one_more():
    targets = torch.tensor([3, 1, 4, 1, 5])
    confident = F.one_hot(targets, 8).double() * 100.0
    assert perplexity(confident, targets) == pytest.approx(1.0, abs=1e-12)
    assert perplexity(-confident, targets) > 8  # the worst model is worse than uniform


def test_accumulating_chunks_equals_one_shot_on_the_concatenation():
    chunks = [_random_batch(s, shape=(n, 7)) for s, n in zip(range(4), (1, 3, 2, 5))]
    acc = PerplexityAccumulator()
    for logits, targets in chunks:
        acc.update(logits, targets)
    all_logits = torch.cat([c[0] for c in chunks])
    all_targets = torch.cat([c[1] for c in chunks])
    assert acc.count == all_targets.numel()
    assert acc.compute() == pytest.approx(perplexity(all_logits, all_targets), rel=1e-12)
    # and differs from the (wrong) mean of per-chunk perplexities
    per_chunk = sum(perplexity(lg, t) for lg, t in chunks) / len(chunks)
    assert acc.compute() != pytest.approx(per_chunk, rel=1e-3)
    acc.reset()
    with pytest.raises(ValueError, match="no tokens"):
        acc.compute()


def test_ignore_index_excludes_tokens():
    logits, targets = _random_batch(5)
    padded = targets.clone()
    padded[:, -3:] = -100
    expected = math.exp(F.cross_entropy(logits.reshape(-1, 50), padded.reshape(-1)).item())
    assert perplexity(logits, padded, ignore_index=-100) == pytest.approx(expected, rel=1e-12)
    kept = perplexity(logits[:, :-3], targets[:, :-3])
    assert perplexity(logits, padded, ignore_index=-100) == pytest.approx(kept, rel=1e-12)
    assert nll_sum_and_count(logits, padded, ignore_index=-100)[1] == 4 * 6
    # a real class id as the padding id: those tokens vanish from the mean
    pad0 = targets.clone()
    pad0[0] = 0
    assert perplexity(logits, pad0, ignore_index=0) == pytest.approx(
        perplexity(logits[1:][targets[1:] != 0], targets[1:][targets[1:] != 0]), rel=1e-12
    )


def test_half_precision_logits_are_scored_in_float32():
    logits, targets = _random_batch(6, dtype=torch.float32)
    half = logits.to(torch.bfloat16)
    assert perplexity(half, targets) == pytest.approx(perplexity(half.float(), targets), rel=1e-12)


def test_shape_mismatch_is_a_clear_error():
    logits, targets = _random_batch(7)
    with pytest.raises(ValueError, match=r"got logits \(4, 9, 50\) and targets \(4, 8\)"):
        perplexity(logits, targets[:, :8])


def test_perplexity_beyond_float_range_is_infinite_not_an_error():
    import math

    from gensuite.metrics.language import perplexity_from_nll

    assert perplexity_from_nll(709.0) == math.exp(709.0)
    assert perplexity_from_nll(800.0) == math.inf
