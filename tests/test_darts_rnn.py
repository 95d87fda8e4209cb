"""DARTS on PTB (issue 16): the word-level PTB builder, the recurrent cell against a numpy
reference, the AWD-LSTM dropouts, the published model's size, the averaged-SGD switch and the
test perplexity's independence of how the text is cut."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from gensuite.algorithms.darts_eval_rnn import (
    DartsEvalRnn,
    DartsEvalRnnConfig,
    batchify,
    parse_rnn_genotype,
)
from gensuite.api import Curves, RunContext, Schedule
from gensuite.data.containers import TokenStreamData
from gensuite.data.ptb import tokenize
from gensuite.data.root import DataRoot
from gensuite.errors import DatasetOptionError, MissingDataError
from gensuite.models.darts.genotypes import DARTS_RNN_V1, DARTS_RNN_V2, RnnGenotype, to_dict
from gensuite.models.darts.rnn import (
    DartsRnnCell,
    RnnLanguageModel,
    count_parameters,
    embedded_dropout,
    locked_dropout,
)
from gensuite.plugins import datasets


def test_ptb_has_mikolovs_token_counts_and_vocabulary(data_root):
    data = datasets().get("ptb")(DataRoot(data_root))
    assert (len(data.train), len(data.val), len(data.test)) == (929_589, 73_760, 82_430)
    assert data.vocab_size == 10_000 and data.unit == "word"
    assert {"<eos>", "<unk>", "N"} <= set(data.vocab)
    words = [data.vocab[i] for i in data.train[:5].tolist()]
    assert words == ["aer", "banknote", "berlitz", "calloway", "centrust"]  # the file's start
    short = datasets().get("ptb")(DataRoot(data_root), limit_train=1000, limit_test=50)
    assert len(short.train) == 1000 and len(short.test) == 50 and short.vocab == data.vocab
    assert torch.equal(short.train, data.train[:1000])


def test_ptb_tokens_are_words_then_eos_per_line():
    assert tokenize("a b\n\nc\n") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]


def test_ptb_bad_options_and_missing_files_are_one_line_errors(tmp_path, data_root):
    with pytest.raises(DatasetOptionError, match="limit_train must be 0"):
        datasets().get("ptb")(DataRoot(data_root), limit_train=-3)
    (tmp_path / "ptb").mkdir()
    shutil.copy(f"{data_root}/ptb/ptb.train.txt", tmp_path / "ptb")
    with pytest.raises(MissingDataError, match="ptb.valid.txt, ptb.test.txt not found") as e:
        datasets().get("ptb")(DataRoot(tmp_path))
    assert "\n" not in str(e.value)


def _numpy_cell(x, h, w0, ws, genotype):
    """Liu et al.'s equations with [x, h] concatenated, as the authors' cell writes them."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "sigmoid": sig,
           "identity": lambda v: v}
    n = h.shape[1]
    outs = []
    for t in range(x.shape[0]):
        ch = np.concatenate([x[t], h], 1) @ w0
        states = [h + sig(ch[:, :n]) * (np.tanh(ch[:, n:]) - h)]
        for (name, j), w in zip(genotype.recurrent, ws, strict=True):
            s = states[j]
            cc = s @ w
            states.append(s + sig(cc[:, :n]) * (act[name](cc[:, n:]) - s))
        h = np.mean([states[i] for i in genotype.concat], 0)
        outs.append(h)
    return np.stack(outs)


@pytest.mark.parametrize("genotype", [DARTS_RNN_V2, DARTS_RNN_V1])
def test_the_cell_matches_a_numpy_reference(genotype):
    torch.manual_seed(0)
    cell = DartsRnnCell(3, 4, genotype).double().eval()
    with torch.no_grad():  # larger weights than the ±0.04 init, so every activation matters
        cell.w0.mul_(20)
        for w in cell.ws:
            w.mul_(20)
    x, h = torch.randn(5, 2, 3, dtype=torch.double), torch.randn(2, 4, dtype=torch.double)
    out, last = cell(x, h)
    ref = _numpy_cell(x.numpy(), h.numpy(), cell.w0.detach().numpy(),
                      [w.detach().numpy() for w in cell.ws], genotype)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(last, out[-1])


def test_the_published_ptb_model_has_the_readme_parameter_count():
    model = RnnLanguageModel(10_000, DARTS_RNN_V2)  # 850 units, tied decoder
    assert count_parameters(model) == 22_960_000  # the authors' README: 22.960 M
    assert model.decoder.weight is model.encoder.weight


def test_locked_dropout_keeps_one_mask_over_time_and_embedding_dropout_whole_words():
    g = torch.Generator().manual_seed(0)
    out = locked_dropout(torch.ones(7, 3, 50), 0.5, g)
    assert torch.equal(out, out[:1].expand_as(out))  # the same mask at every step
    assert set(out.unique().tolist()) == {0.0, 2.0}
    weight = torch.ones(20, 4)
    ids = torch.tensor([[1, 2, 1, 3, 1, 2] * 5])
    emb = embedded_dropout(weight, ids, 0.5, torch.Generator().manual_seed(1))
    per_word = {}
    for i, row in zip(ids.flatten().tolist(), emb.reshape(-1, 4), strict=True):
        per_word.setdefault(i, set()).add(float(row[0]))
        assert row.unique().numel() == 1  # a word is kept or dropped as a whole
    assert all(len(v) == 1 for v in per_word.values())  # the same fate at every occurrence


def test_a_recurrent_genotype_is_a_published_name_or_json():
    assert parse_rnn_genotype("darts-v2") == DARTS_RNN_V2
    assert parse_rnn_genotype(json.dumps(to_dict(DARTS_RNN_V1))) == DARTS_RNN_V1
    with pytest.raises(ValueError, match="genotype must be one of"):
        DartsEvalRnnConfig(genotype="enas")
    bad = to_dict(DARTS_RNN_V2)
    bad["recurrent"][0][0] = "softplus"
    with pytest.raises(ValueError, match="'softplus' is not one of"):
        parse_rnn_genotype(json.dumps(bad))
    bad = to_dict(DARTS_RNN_V2)
    bad["recurrent"][2][1] = 5
    with pytest.raises(ValueError, match="node 3 takes node 5"):
        parse_rnn_genotype(json.dumps(bad))


def _algo(steps=20, **kw) -> DartsEvalRnn:
    data = TokenStreamData.synthetic(0, vocab=12, length=600)
    config = DartsEvalRnnConfig(**{**DartsEvalRnn.tiny_config, **kw})
    return DartsEvalRnn(config, data, RunContext(seed=0, schedule=Schedule(steps=steps)))


def test_bptt_lengths_follow_the_authors_draw():
    algo = _algo(bptt=35)
    lengths = np.array([algo.seq_len() for _ in range(4000)])
    assert lengths.min() >= 5 and lengths.max() <= 55
    # mean: 0.95 · 35 + 0.05 · 17.5 less the floor's ~0.5, clipped at 55 rarely
    assert abs(lengths.mean() - (0.95 * 35 + 0.05 * 17.5 - 0.5)) < 0.4
    assert (lengths < 25).mean() == pytest.approx(0.05 + 0.95 * 0.023, abs=0.015)
    fixed = _algo(bptt=35, variable_length=False)
    assert {fixed.seq_len() for _ in range(50)} == {35}


def test_the_switch_to_averaged_sgd_and_the_kept_model(monkeypatch):
    algo = _algo(nonmono=2)
    losses = iter([3.0, 2.0, 2.5, 2.4, 2.6, 2.3, 1.0])
    kept = []

    def fake_nll(ids, batch, weights=None):
        kept.append(weights)
        return np.full(10, next(losses))

    monkeypatch.setattr(algo, "_nll", fake_nll)
    switched = []
    for step in range(7):
        algo.train_step(step)
        switched.append(algo.validate()["val_asgd"])
    # the switch needs more than 2 earlier losses and a loss above the best of all but the
    # last 2: 4th validation, 2.4 < min(3.0): no; 5th, 2.6 > min(3.0, 2.0): switch
    assert switched == [0, 0, 0, 0, 1, 1, 1]
    assert isinstance(algo.optimizer, torch.optim.ASGD)
    assert algo.best_val == 1.0
    assert kept[-1] is not None and kept[4] is None  # averaged weights scored after the switch
    # the kept model is the averaged one of the best validation
    assert all(torch.equal(algo.best_state[k], kept[-1][k]) for k in kept[-1])


def test_test_perplexity_does_not_depend_on_how_the_text_is_cut():
    algo = _algo()
    for step in range(5):
        algo.train_step(step)
    whole = algo.test(Curves())
    ids = algo.data.test
    model = algo.model.eval()
    with torch.no_grad():  # one pass over the whole text, no chunks, batch 1
        logits, _, _ = model(ids[:-1].unsqueeze(1), model.init_hidden(1))
        nll = torch.nn.functional.cross_entropy(logits.squeeze(1).double(), ids[1:])
    assert whole.metrics["perplexity"].mean == pytest.approx(math.exp(float(nll)), rel=1e-9)
    assert whole.details["test_tokens"] == len(ids) - 1


def test_batchify_keeps_contiguous_stretches_in_columns():
    out = batchify(torch.arange(10), 3)
    assert out.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_a_custom_cell_trains_end_to_end():
    cell = RnnGenotype(recurrent=[("tanh", 0), ("identity", 1)], concat=[1, 2])
    algo = _algo(genotype=json.dumps(to_dict(cell)))
    before = {k: v.clone() for k, v in algo.model.state_dict().items()}
    out = algo.train_step(0)
    assert math.isfinite(out["loss"]) and len(algo.model.cell.ws) == 2
    assert any(not torch.equal(before[k], v) for k, v in algo.model.state_dict().items())


# --- the recurrent search -------------------------------------------------------------------

def _mixed_cell_reference(cell, weights, x, h):
    """The authors' mixed node written edge by edge and activation by activation (eval mode:
    batch norm with its running statistics)."""
    from gensuite.models.darts.genotypes import RNN_PRIMITIVES

    acts = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
            "identity": lambda v: v}
    n = cell.nhid

    def bn(v):
        return (v - cell.bn.running_mean) / torch.sqrt(cell.bn.running_var + cell.bn.eps)

    outs = []
    for t in range(x.shape[0]):
        ch = torch.cat([x[t], h], 1) @ cell.w0
        states = [bn(h + torch.sigmoid(ch[:, :n]) * (torch.tanh(ch[:, n:]) - h))]
        offset = 0
        for i in range(cell.steps):
            s = torch.zeros_like(h)
            for j in range(i + 1):
                cc = states[j] @ cell.ws[i]
                c, hh = torch.sigmoid(cc[:, :n]), cc[:, n:]
                for k, name in enumerate(RNN_PRIMITIVES):
                    if name != "none":
                        s = s + weights[offset + j, k] * (states[j] + c * (acts[name](hh)
                                                                           - states[j]))
            states.append(bn(s))
            offset += i + 1
        h = torch.stack(states[1:]).mean(0)
        outs.append(h)
    return torch.stack(outs)


def test_the_mixed_search_cell_matches_an_edge_by_edge_reference():
    from gensuite.models.darts.rnn_search import RNN_EDGES, SearchRnnCell

    torch.manual_seed(0)
    cell = SearchRnnCell(3, 4).double().eval()
    with torch.no_grad():
        cell.bn.running_mean.uniform_(-0.5, 0.5)
        cell.bn.running_var.uniform_(0.5, 2.0)
        for w in (cell.w0, *cell.ws):
            w.mul_(20)
    weights = torch.softmax(torch.randn(RNN_EDGES, 5, dtype=torch.double), -1)
    x, h = torch.randn(4, 2, 3, dtype=torch.double), torch.randn(2, 4, dtype=torch.double)
    out, _ = cell(x, h, weights)
    ref = _mixed_cell_reference(cell, weights, x, h)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def _search(unrolled=False, **kw):
    from gensuite.algorithms.darts_search_rnn import DartsSearchRnn, DartsSearchRnnConfig

    data = TokenStreamData.synthetic(0, vocab=12, length=800)
    config = DartsSearchRnnConfig(**{**DartsSearchRnn.tiny_config, "unrolled": unrolled, **kw})
    return DartsSearchRnn(config, data, RunContext(seed=0, schedule=Schedule(steps=10)))


def test_a_recurrent_search_step_moves_alpha_and_weights_and_the_orders_differ():
    alphas = {}
    for unrolled in (False, True):
        algo = _search(unrolled)
        a0 = algo.model.alphas.detach().clone()
        w0 = algo.model.cell.ws[0].detach().clone()
        algo.train_step(0)
        assert not torch.equal(algo.model.alphas, a0)
        assert not torch.equal(algo.model.cell.ws[0], w0)
        assert algo.hidden_val is not None and algo.hidden_val.shape == (4, 6)
        alphas[unrolled] = algo.model.alphas.detach().clone()
    assert not torch.equal(alphas[False], alphas[True])
    result = algo.test(Curves())
    assert len(result.details["genotype"]["recurrent"]) == 8
    assert math.isfinite(result.metrics["val_perplexity"].mean)


def test_the_first_order_alpha_gradient_is_the_validation_loss_gradient():
    """Dropouts off: the architect's ∇α (through functional_call, tuple inputs, tied weights)
    equals autograd on the model itself, and it hands back the validation pass's state."""
    from gensuite.algorithms.darts_search_rnn import lm_loss

    algo = _search(dropout=0, dropouth=0, dropoutx=0, dropouti=0)
    model, data = algo.model.train(), algo.search_data
    x, y, h = data[:5], data[1:6], torch.randn(4, 6)
    grads = algo.architect.alpha_gradients((x, h), y, (x, h), y, eta=1.0)
    bn_state = {k: v.clone() for k, v in model.state_dict().items()}
    out = model((x, h))
    expected = torch.autograd.grad(lm_loss(out, y), model.alphas)[0]
    torch.testing.assert_close(grads[0], expected)
    torch.testing.assert_close(algo.architect.val_output[1], out[1])
    model.load_state_dict(bn_state)
