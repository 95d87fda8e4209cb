"""Char-RNN (report C-1): metrics against closed forms, the written-out RNN against torch.nn.RNN
and gradcheck, stateful evaluation, sampling limits and one-line errors (synthetic streams)."""

from __future__ import annotations

import math

import pytest
import torch

from gensuite.algorithms.charrnn import CharRNNConfig, CharRNNModel, block_interval
from gensuite.api import RunContext, Schedule
from gensuite.data.containers import TokenStreamData
from gensuite.errors import GensuiteError
from gensuite.models.char_rnn import CharRNN, VanillaRNN, sample


def _algo(cell="lstm", data=None, **overrides) -> CharRNNModel:
    data = data or TokenStreamData.synthetic(0, vocab=12, length=2000)
    config = CharRNNConfig(cell=cell, hidden=16, seq_len=8, batch_size=4, sample_chars=20,
                           **overrides)
    ctx = RunContext(seed=0, device="cpu", data_root=None, profile="smoke",
                     schedule=Schedule(steps=10))
    return CharRNNModel(config, data, ctx)


def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    algo = _algo()
    with torch.no_grad():
        algo.model.head.weight.zero_()
        algo.model.head.bias.zero_()
    result = algo.test({})
    v = algo.data.vocab_size
    assert result.metrics["perplexity"].mean == pytest.approx(v, rel=1e-12)
    assert result.metrics["bpc"].mean == pytest.approx(math.log2(v), rel=1e-12)
    assert result.metrics["perplexity"].ci95 == pytest.approx(0, abs=1e-9)


def test_bits_per_character_is_nll_over_ln2():
    algo = _algo()
    for step in range(5):
        algo.train_step(step)
    m = algo.test({}).metrics
    assert m["bpc"].mean == pytest.approx(m["nll"].mean / math.log(2), rel=1e-12)
    assert m["perplexity"].mean == pytest.approx(math.exp(m["nll"].mean), rel=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_chunked_stateful_scoring_equals_one_long_chunk(cell):
    algo = _algo(cell)
    for step in range(3):
        algo.train_step(step)
    ids = algo.data.val
    nll_chunks, hit_chunks = algo.score(ids, 1, chunk=7)
    nll_whole, hit_whole = algo.score(ids, 1, chunk=len(ids))
    assert nll_chunks == pytest.approx(nll_whole, abs=1e-5)
    assert (hit_chunks == hit_whole).all()
    # a reset state per chunk would differ: the state is really carried
    fresh = []
    for start in range(0, len(ids) - 1, 7):
        part = ids[start : start + 8]
        if len(part) > 1:
            fresh.extend(algo.score(part, 1)[0].tolist())
    assert abs(sum(fresh) - nll_whole.sum()) > 100 * abs(nll_chunks.sum() - nll_whole.sum())


def test_training_carries_the_state_and_resets_it_each_epoch():
    algo = _algo()
    algo.train_step(0)
    carried = algo._state[0].clone()
    assert carried.abs().sum() > 0
    algo.train_step(1)
    assert not torch.equal(algo._state[0], carried)
    algo.train_step(algo.chunks_per_epoch)  # first chunk of epoch 2: from zeros again
    again = _algo()
    again.model.load_state_dict(algo.model.state_dict())
    ref_logits, _ = again.model(algo._inputs[:, :8], again.model.init_state(4))
    assert algo._state is not None and ref_logits.shape == (4, 8, 12)


def test_the_written_out_rnn_matches_torch_nn_rnn():
    torch.manual_seed(0)
    ours = VanillaRNN(5, 7, layers=2, init_scale=0.3)
    ref = torch.nn.RNN(5, 7, num_layers=2, nonlinearity="tanh", batch_first=True)
    with torch.no_grad():
        for layer in range(2):
            getattr(ref, f"weight_ih_l{layer}").copy_(ours.w_xh[layer])
            getattr(ref, f"weight_hh_l{layer}").copy_(ours.w_hh[layer])
            getattr(ref, f"bias_ih_l{layer}").copy_(ours.b_h[layer])
            getattr(ref, f"bias_hh_l{layer}").zero_()
    x, h0 = torch.randn(3, 6, 5), torch.randn(2, 3, 7)
    out, hn = ours(x, h0)
    ref_out, ref_hn = ref(x, h0)
    assert torch.allclose(out, ref_out, atol=1e-6) and torch.allclose(hn, ref_hn, atol=1e-6)


def test_the_written_out_rnn_passes_gradcheck():
    torch.manual_seed(0)
    rnn = VanillaRNN(3, 4, layers=2, init_scale=0.5).double()
    x = torch.randn(2, 5, 3, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(2, 2, 4, dtype=torch.double, requires_grad=True)
    names = [n for n, _ in rnn.named_parameters()]
    weights = [p.detach().clone().requires_grad_(True) for p in rnn.parameters()]

    def f(x, h0, *w):
        out, hn = torch.func.functional_call(rnn, dict(zip(names, w, strict=True)), (x, h0))
        return out, hn

    assert torch.autograd.gradcheck(f, (x, h0, *weights))


def test_sampling_at_temperature_towards_zero_is_greedy_decoding():
    torch.manual_seed(0)
    model = CharRNN(10, 16, cell="gru")
    prime = torch.tensor([1, 2, 3])
    greedy = sample(model, prime, 30, 0.0, torch.Generator().manual_seed(0))
    cold = sample(model, prime, 30, 1e-4, torch.Generator().manual_seed(1))
    assert cold == greedy
    warm = [sample(model, prime, 30, 1.0, torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    assert warm[0] == warm[1] != warm[2]  # a fixed generator repeats; another one does not


def test_samples_start_with_the_prime_at_every_temperature():
    algo = _algo(prime="abc", temperatures=(0.0, 0.5, 1.4))
    samples = algo.samples()
    assert list(samples) == ["0", "0.5", "1.4"]
    assert all(s.startswith("abc") and len(s) == 3 + 20 for s in samples.values())


def test_a_text_shorter_than_one_batch_is_a_one_line_error():
    tiny = TokenStreamData.synthetic(0, vocab=5, length=20)
    with pytest.raises(GensuiteError, match="fewer than one batch") as err:
        _algo(data=tiny)
    assert "\n" not in str(err.value)


def test_block_interval_matches_the_t_interval_of_block_means():
    import numpy as np
    from scipy import stats

    values = np.arange(100, dtype=float) % 7
    half, n = block_interval(values, 4)
    means = values.reshape(4, 25).mean(1)
    want = stats.t.ppf(0.975, 3) * means.std(ddof=1) / 2
    assert n == 4 and half == pytest.approx(want)
