"""ProtoNet plug-in (Snell et al. 2017): distances, prototypes, learning, determinism, resume.

All data here is synthetic: small random templates plus noise, so the tests run in seconds.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from gensuite.algorithms.protonet import (
    ProtoNet,
    ProtoNetConfig,
    cosine_similarity,
    proto_logits,
    prototypes,
    squared_euclidean,
)
from gensuite.api import Curves, DatasetInfo, RunContext, Schedule, eval_only_fields
from gensuite.data.containers import FewShotData, FixedEpisode
from gensuite.models.conv4 import Conv4
from gensuite.registry import get_algorithm

SMALL = dict(
    train_way=5, train_shot=2, train_query=3, val_way=5, val_query=3, test_way=5, test_shot=2,
    test_query=3,
)


def synthetic_classes(classes: int, per_class: int, seed: int, signal: float = 0.3):
    """(classes, per_class, 1, 28, 28): a blocky binary template per class under uniform noise."""
    g = torch.Generator().manual_seed(seed)
    tmpl = (torch.rand(classes, 1, 7, 7, generator=g) > 0.5).float()
    tmpl = torch.nn.functional.interpolate(tmpl, scale_factor=4).unsqueeze(1)
    noise = torch.rand(classes, per_class, 1, 28, 28, generator=g)
    return signal * tmpl + (1 - signal) * noise


def synthetic_data(test_episodes=None) -> FewShotData:
    info = DatasetInfo(name="synthetic", description="templates + noise (tests)", files=())
    return FewShotData(
        info=info,
        train=synthetic_classes(30, 10, seed=0),
        val=synthetic_classes(10, 10, seed=1),
        test=synthetic_classes(10, 10, seed=2),
        test_episodes=test_episodes,
    )


def make(seed: int = 0, data: FewShotData | None = None, **overrides) -> ProtoNet:
    config = ProtoNetConfig(**{**SMALL, "hidden": 8, "test_episodes": 20, **overrides})
    ctx = RunContext(seed=seed, schedule=Schedule(steps=4, val_episodes=10))
    return ProtoNet(config, data or synthetic_data(), ctx)


# --- distances and prototypes -------------------------------------------------------------


def test_squared_euclidean_matches_numpy_and_cdist():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, generator=g), torch.randn(3, 5, generator=g)
    ref = ((x.numpy()[:, None] - y.numpy()[None]) ** 2).sum(-1)
    np.testing.assert_allclose(squared_euclidean(x, y).numpy(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(squared_euclidean(x, y), torch.cdist(x, y) ** 2)
    assert squared_euclidean(x, x).diagonal().abs().max() < 1e-5


def test_cosine_similarity_matches_numpy():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 4, generator=g), torch.randn(3, 4, generator=g)
    xn, yn = x.numpy(), y.numpy()
    ref = (xn @ yn.T) / np.linalg.norm(xn, axis=1)[:, None] / np.linalg.norm(yn, axis=1)[None]
    np.testing.assert_allclose(cosine_similarity(x, y).numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        proto_logits(x, y, "cosine", cosine_scale=10.0).numpy(), 10 * ref, rtol=1e-5
    )
    torch.testing.assert_close(proto_logits(x, y, "euclidean"), -squared_euclidean(x, y))


def test_prototypes_are_class_means_in_any_order():
    g = torch.Generator().manual_seed(2)
    emb = torch.randn(9, 4, generator=g)
    labels = torch.tensor([2, 0, 1, 1, 2, 0, 0, 1, 2])
    ref = np.stack([emb.numpy()[labels.numpy() == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(prototypes(emb, labels, 3).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_conv4_shape_and_paper_block_order():
    # Pooling before ReLU (for speed) must equal the papers' conv → BN → ReLU → pool.
    torch.manual_seed(0)
    net = Conv4(in_channels=1, hidden=8, out=12)
    x = torch.rand(6, 1, 28, 28)
    out = net(x)
    assert out.shape == (6, 12)
    h = x
    for conv, bn, pool, relu in net.encoder:
        h = pool(relu(bn(conv(h))))
    torch.testing.assert_close(out, h.flatten(1), rtol=0, atol=0)


# --- config ---------------------------------------------------------------------------------


def test_config_rejects_unknown_distance_in_one_line():
    with pytest.raises(ValueError, match="euclidean, cosine") as exc:
        ProtoNetConfig(distance="manhattan")
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="test_way"):
        ProtoNetConfig(test_way=0)


def test_eval_only_fields_and_registry():
    assert eval_only_fields(ProtoNetConfig) == {
        "test_way",
        "test_shot",
        "test_query",
        "test_episodes",
    }
    assert get_algorithm("protonet") is ProtoNet
    assert ProtoNet.Config is ProtoNetConfig


# --- training, evaluation, determinism, resume ---------------------------------------------


def test_learns_a_separable_synthetic_task():
    # Unseen test classes: only a working loss with correct labels lifts accuracy this far.
    algo = make(hidden=16, lr=3e-3, test_episodes=100)
    before = algo.test(Curves()).metrics["accuracy"]
    for step in range(100):
        metrics = algo.train_step(step)
    after = algo.test(Curves()).metrics["accuracy"]
    assert 0.0 <= metrics["acc"] <= 1.0 and metrics["loss"] < 0.5
    assert (after.n, after.unit, after.over) == (100, "%", "episodes")
    assert after.mean > 75.0 and after.mean > before.mean + 25.0  # chance is 20%
    val = algo.validate()
    assert set(val) == {"val_acc", "val_loss"} and val["val_acc"] > 0.75


def test_same_seed_same_numbers():
    a, b = make(seed=3), make(seed=3)
    assert [a.train_step(s) for s in range(3)] == [b.train_step(s) for s in range(3)]
    assert a.test(Curves()).metrics == b.test(Curves()).metrics
    assert make(seed=4).train_step(0) != make(seed=3).train_step(0)


def test_test_episodes_are_shared_units_for_paired_comparisons():
    """Two models of one seed and test setting are scored on the very same episodes: the record
    keeps the per-episode accuracies with an id of those episodes (a paired test's input)."""
    euclid = make(seed=3).test(Curves()).metrics["accuracy"]
    cosine = make(seed=3, distance="cosine").test(Curves()).metrics["accuracy"]
    assert euclid.units == cosine.units and euclid.units.startswith("episodes:")
    assert len(euclid.samples) == len(cosine.samples) == 20
    assert sum(euclid.samples) / 20 == pytest.approx(euclid.mean)
    assert make(seed=4).test(Curves()).metrics["accuracy"].units != euclid.units
    assert make(seed=3, test_shot=1).test(Curves()).metrics["accuracy"].units != euclid.units
    from gensuite.api import Estimate

    assert Estimate.from_dict(euclid.to_dict()) == euclid  # what a record holds comes back


def test_validate_is_repeatable_and_leaves_training_alone():
    a, b = make(), make()
    for s in range(2):
        a.train_step(s), b.train_step(s)
    assert a.validate() == a.validate()
    assert [a.train_step(s) for s in (2, 3)] == [b.train_step(s) for s in (2, 3)]


def test_state_dict_round_trip():
    a = make(seed=5)
    for s in range(2):
        a.train_step(s)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    expected = [a.train_step(s) for s in (2, 3)]

    b = make(seed=6)  # another seed: everything that matters must come from the state
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert [b.train_step(s) for s in (2, 3)] == expected
    assert b.scheduler.last_epoch == 4


def test_fixed_episodes_give_one_sample_per_run():
    # Four 5-way 1-shot runs in the style of Lake et al.; label order must not matter.
    test = synthetic_classes(5, 4, seed=7)
    runs, shuffled = [], []
    for r in range(4):
        support, query = test[:, r], test[:, (r + 1) % 4]
        labels = torch.arange(5)
        runs.append(FixedEpisode(support, labels, query, labels))
        perm = torch.randperm(5, generator=torch.Generator().manual_seed(r))
        shuffled.append(FixedEpisode(support[perm], labels[perm], query, labels))
    acc = make(data=synthetic_data(tuple(runs))).test(Curves()).metrics["accuracy"]
    acc_shuffled = make(data=synthetic_data(tuple(shuffled))).test(Curves()).metrics["accuracy"]
    assert (acc.n, acc.over, acc.unit) == (4, "runs", "%")
    assert acc == acc_shuffled


def test_without_val_or_test_split_returns_nothing():
    info = DatasetInfo(name="synthetic", description="train only", files=())
    algo = make(data=FewShotData(info=info, train=synthetic_classes(6, 5, seed=0)))
    assert algo.validate() == {} and algo.test(Curves()).metrics == {}
