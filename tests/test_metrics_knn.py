"""kNN accuracy against a brute-force numpy reference, on separable and label-free data, and its
invariances (feature scale, query batch size)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gensuite.metrics.knn import knn_accuracy, knn_predict


def reference_predict(train, train_labels, test, *, k, temperature, weighted, num_classes):
    """One query at a time, written from the definition (Wu et al. 2018, sec. 3.4)."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    test = test / np.linalg.norm(test, axis=1, keepdims=True)
    out = []
    for q in test:
        sims = train @ q
        nearest = np.argsort(-sims, kind="stable")[:k]
        scores = np.zeros(num_classes)
        for i in nearest:
            scores[train_labels[i]] += math.exp(sims[i] / temperature) if weighted else 1.0
        out.append(int(np.argmax(scores)))  # first maximum: ties to the smallest class
    return np.array(out)


def clusters(rng, n_per_class, n_classes=5, dim=16, noise=0.3):
    """Gaussian clusters around orthogonal directions (cosine similarity sees direction only)."""
    centres = 3.0 * np.eye(dim)[:n_classes]
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return centres[labels] + noise * rng.standard_normal((labels.size, dim)), labels


@pytest.mark.parametrize("weighted", [True, False])
def test_separated_clusters_are_classified_perfectly(weighted):
    rng = np.random.default_rng(0)
    train, train_y = clusters(rng, 100)
    test, test_y = clusters(rng, 20)
    # default k=200 reaches into the other clusters (100 per class): the own cluster still wins
    assert knn_accuracy(train, train_y, test, test_y, weighted=weighted) == 1.0


def test_labels_without_information_give_chance_accuracy():
    rng = np.random.default_rng(1)
    n_classes, n_test = 10, 2000
    train, train_y = clusters(rng, 100, n_classes=n_classes, dim=16)
    train_y = rng.permutation(train_y)  # features no longer predict labels
    test, _ = clusters(rng, n_test // n_classes, n_classes=n_classes, dim=16)
    test_y = rng.integers(0, n_classes, n_test)  # independent of everything the kNN sees
    # given the predictions, each hit is an independent Bernoulli(1/10): the count is exactly
    # Binomial(2000, 0.1), sd = sqrt(0.1·0.9/2000) ≈ 0.0067; 4 sd fails by chance 6e-5 of the time
    acc = knn_accuracy(train, train_y, test, test_y, k=20)
    assert abs(acc - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n_test), acc


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("k", [1, 7, 60])
def test_equals_brute_force_reference(weighted, k):
    rng = np.random.default_rng(2)
    train, test = rng.standard_normal((60, 8)), rng.standard_normal((25, 8))
    train_y, test_y = rng.integers(0, 4, 60), rng.integers(0, 4, 25)
    expected = reference_predict(
        train, train_y, test, k=k, temperature=0.1, weighted=weighted, num_classes=4
    )
    got = knn_predict(train, train_y, test, k=k, weighted=weighted, batch_size=4)
    np.testing.assert_array_equal(got.numpy(), expected)
    acc = knn_accuracy(train, train_y, test, test_y, k=k, weighted=weighted)
    assert acc == pytest.approx(np.mean(expected == test_y), abs=1e-12)


def test_weighting_lets_one_close_neighbour_outvote_two_far_ones():
    # query at 0°, class 0 at 0° (cos 1), class 1 twice at 60° (cos 0.5): e^10 > 2·e^5
    angle = math.radians(60)
    train = np.array(
        [[1.0, 0.0], [math.cos(angle), math.sin(angle)]] + [[math.cos(angle), -math.sin(angle)]]
    )
    train_y, query = np.array([0, 1, 1]), np.array([[1.0, 0.0]])
    assert knn_predict(train, train_y, query, k=3).item() == 0
    assert knn_predict(train, train_y, query, k=3, weighted=False).item() == 1
    # a high temperature flattens the weights back towards a majority vote
    assert knn_predict(train, train_y, query, k=3, temperature=100.0).item() == 1


@pytest.mark.parametrize("weighted", [True, False])
def test_invariant_to_feature_scale(weighted):
    rng = np.random.default_rng(3)
    train, train_y = clusters(rng, 30, noise=2.0)  # overlapping: many borderline queries
    test, _ = clusters(rng, 10, noise=2.0)
    base = knn_predict(train, train_y, test, k=15, weighted=weighted)
    row_scale = rng.uniform(0.01, 100.0, (len(train), 1))
    scaled = knn_predict(train * row_scale, train_y, test * 1e3, k=15, weighted=weighted)
    np.testing.assert_array_equal(base.numpy(), scaled.numpy())


def test_invariant_to_query_batch_size():
    rng = np.random.default_rng(4)
    train, train_y = clusters(rng, 30, noise=2.0)
    test, test_y = clusters(rng, 10, noise=2.0)
    runs = [knn_predict(train, train_y, test, k=15, batch_size=b) for b in (1, 3, 7, 10_000)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].numpy(), other.numpy())
    accs = {knn_accuracy(train, train_y, test, test_y, k=15, batch_size=b) for b in (1, 50)}
    assert len(accs) == 1


def test_accepts_tensors_and_float32():
    rng = np.random.default_rng(5)
    train, train_y = clusters(rng, 20)
    test, test_y = clusters(rng, 5)
    acc = knn_accuracy(
        torch.tensor(train, dtype=torch.float32),
        torch.tensor(train_y),
        torch.tensor(test, dtype=torch.float32),
        torch.tensor(test_y),
        k=10,
    )
    assert acc == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 41}, r"k must lie in \[1, 40\]"),
        ({"k": 0}, r"k must lie in \[1, 40\]"),
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"num_classes": 1}, r"train_labels must lie in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    rng = np.random.default_rng(6)
    train, train_y = clusters(rng, 20, n_classes=2)
    with pytest.raises(ValueError, match=match):
        knn_predict(train, train_y, train[:3], **{"k": 3, **kwargs})


def test_shape_mismatches_are_clear_errors():
    rng = np.random.default_rng(7)
    train, train_y = clusters(rng, 10, n_classes=2)
    with pytest.raises(ValueError, match="feature dims differ: train 16, test 8"):
        knn_predict(train, train_y, train[:, :8], k=3)
    with pytest.raises(ValueError, match="train_labels has 19 labels for 20 feature rows"):
        knn_predict(train, train_y[:19], train, k=3)
    with pytest.raises(ValueError, match="test_labels has 2 labels for 20 feature rows"):
        knn_accuracy(train, train_y, train, train_y[:2], k=3)
    with pytest.raises(ValueError, match=r"features must be \(N, D\)"):
        knn_predict(train, train_y, train[0], k=3)
