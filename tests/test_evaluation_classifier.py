"""Evaluation classifiers: the CNN, training and the checksummed cache (gensuite.evaluators),
torch-fidelity and class metrics (gensuite.metrics.classifier), resolved from a dataset's
registration.

Fast tests train on small MNIST subsets. The ``mnist_clf`` fixture trains the real classifier
once per session on the full MNIST training set (quick-profile schedule) and checks the bar.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
import torch_fidelity
from torch_fidelity.utils import create_feature_extractor

from gensuite.data import DataRoot
from gensuite.data.containers import ImageClassData
from gensuite.data.mnist import build_mnist
from gensuite.errors import GensuiteError
from gensuite.evaluators import classifier as evaluators
from gensuite.evaluators.classifier import ClassifierCacheError, for_dataset, load_or_train
from gensuite.evaluators.classifier import train_classifier as train_domain_classifier
from gensuite.metrics import classifier as applied
from gensuite.metrics.classifier import (
    class_conditional_accuracy,
    class_histogram,
)
from gensuite.metrics.classifier import register_classifier_extractor as register_domain_extractor
from gensuite.models.classifier import EvaluationClassifier as DomainClassifier
from gensuite.models.classifier import SmallCNN, build_classifier

DATA = Path(os.environ["GENSUITE_DATA_ROOT"])  # conftest.py: ../shared/data unless set
QUICK_EPOCHS = 2  # the quick-profile schedule: the fewest epochs that reach 99% reliably


class Images(torch.utils.data.Dataset):
    """uint8 (N, C, H, W) images as torch-fidelity takes them."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def inception_score(spec, images: torch.Tensor) -> float:
    metrics = torch_fidelity.calculate_metrics(
        input1=Images(images), feature_extractor=spec.name, feature_layer_isc=spec.feature_layer_isc,
        isc=True, cuda=False, save_cpu_ram=True, cache=False, verbose=False,
    )
    return metrics["inception_score_mean"]


@pytest.fixture(scope="module")
def mnist() -> ImageClassData:
    return build_mnist(DataRoot(DATA))


@pytest.fixture(scope="module")
def small(mnist) -> ImageClassData:
    """2048 training and 500 test images: enough to train something in a few seconds."""
    return dataclasses.replace(
        mnist,
        train_images=mnist.train_images[:2048], train_labels=mnist.train_labels[:2048],
        test_images=mnist.test_images[:500], test_labels=mnist.test_labels[:500],
    )


@pytest.fixture(scope="module")
def small_clf(small) -> DomainClassifier:
    return train_domain_classifier("mnist", data=small, epochs=1, seed=3)


@pytest.fixture(scope="session")
def mnist_clf(tmp_path_factory) -> DomainClassifier:
    """The real MNIST classifier, trained once per session into a temporary cache."""
    cache = tmp_path_factory.mktemp("classifiers")
    return load_or_train("mnist", "cnn", 0, cache_dir=cache, epochs=QUICK_EPOCHS, data_root=DATA)


# --- the network ---------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32), (3, 64), (1, 64)])
def test_classifier_shapes(channels, size):
    net = build_classifier("cnn", channels, 7).eval()
    x = torch.randn(5, channels, size, size)
    assert net(x).shape == (5, 7)
    assert net.features(x).shape == (5, 128)
    logits, feats = net.logits_and_features(x)
    assert torch.equal(logits, net(x)) and torch.equal(feats, net.features(x))
    assert torch.equal(net.head(feats), logits)  # penultimate = the last linear layer's input
    with pytest.raises(ValueError, match="unknown classifier arch 'vgg'"):
        build_classifier("vgg", 1, 10)


def test_prepare_channels_and_size(small_clf, mnist):
    grey = mnist.test_images[:8]
    ref = applied.prepare(grey, small_clf)
    assert ref.shape == (8, 1, 28, 28) and ref.min() == -1 and ref.max() == 1
    assert torch.equal(applied.prepare(grey.expand(-1, 3, -1, -1), small_clf), ref)
    rgb = torch.cat([grey, grey // 2, grey // 4], 1)
    assert applied.prepare(rgb, small_clf).shape == (8, 1, 28, 28)
    big = torch.nn.functional.interpolate(grey.float(), size=64).round().to(torch.uint8)
    assert applied.prepare(big, small_clf).shape == (8, 1, 28, 28)
    with pytest.raises(TypeError, match="uint8"):
        applied.prepare(grey.float(), small_clf)


# --- training and the cache ----------------------------------------------------------------


def test_training_is_deterministic_and_leaves_rng_alone(small):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = train_domain_classifier("mnist", data=small, epochs=1, seed=5, train_limit=512)
    assert torch.equal(torch.get_rng_state(), before)
    b = train_domain_classifier("mnist", data=small, epochs=1, seed=5, train_limit=512)
    c = train_domain_classifier("mnist", data=small, epochs=1, seed=6, train_limit=512)
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.meta["train_n"] == 512 and a.meta["test_n"] == 500
    assert a.meta["data_fingerprint"] and a.meta["torch"] == torch.__version__


@pytest.fixture
def counting(monkeypatch, small):
    """load_or_train on the small subset, counting how often it trains."""
    calls = []
    real = evaluators.train_classifier

    def spy(*args, **kwargs):
        calls.append(kwargs["settings"])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluators, "_load_data", lambda dataset, data_root: small)
    monkeypatch.setattr(evaluators, "train_classifier", spy)
    return calls


def test_cache_reused(tmp_path, counting):
    first = load_or_train("mnist", "cnn", 1, cache_dir=tmp_path, epochs=1, train_limit=512)
    assert len(counting) == 1 and first.path.parent == tmp_path
    assert first.path.name.startswith("mnist-cnn-s1-") and first.path.suffix == ".pt"
    assert first.path.with_suffix(".json").exists()
    second = load_or_train("mnist", "cnn", 1, cache_dir=tmp_path, epochs=1, train_limit=512)
    assert len(counting) == 1  # loaded, not trained
    assert second.sha256 == first.sha256 and second.meta == first.meta
    s1, s2 = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    x = build_mnist(DataRoot(DATA)).test_images[:64]
    assert class_histogram(first, x) == class_histogram(second, x)
    # Other settings are another cache entry, trained anew.
    third = load_or_train("mnist", "cnn", 1, cache_dir=tmp_path, epochs=1, train_limit=256)
    assert len(counting) == 2 and third.path != first.path


def test_checksum_mismatch_rejected(tmp_path, counting):
    clf = load_or_train("mnist", "cnn", 2, cache_dir=tmp_path, epochs=1, train_limit=256)
    blob = bytearray(clf.path.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one flipped bit inside the weights
    clf.path.write_bytes(bytes(blob))
    with pytest.raises(ClassifierCacheError, match="fails its checksum") as info:
        load_or_train("mnist", "cnn", 2, cache_dir=tmp_path, epochs=1, train_limit=256)
    assert "\n" not in str(info.value) and str(clf.path) in str(info.value)
    assert len(counting) == 1  # rejected, not silently retrained
    clf.path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ClassifierCacheError, match="unreadable"):
        load_or_train("mnist", "cnn", 2, cache_dir=tmp_path, epochs=1, train_limit=256)


def test_accuracy_bar_enforced(tmp_path, counting):
    with pytest.raises(GensuiteError, match=r"below the required test accuracy 99\.9%"):
        load_or_train("mnist", "cnn", 0, cache_dir=tmp_path, epochs=1, train_limit=256,
                      min_test_acc=0.999)


# --- torch-fidelity and the class metrics on a small classifier ------------------------------


def test_extractor_features_and_registration(small_clf, mnist):
    spec = register_domain_extractor(small_clf)
    assert spec.name == f"classifier-mnist-cnn-s3-{small_clf.sha256[:8]}"
    assert (spec.feature_layer_isc, spec.feature_layer_fid) == ("logits_unbiased", "penultimate")
    assert spec.metric_name("isc") == "IS (MNIST classifier)"
    assert spec.description.startswith("MNIST classifier (cnn, seed 3, test acc ")
    assert register_domain_extractor(small_clf) == spec  # registering again is a no-op
    impostor = dataclasses.replace(small_clf, sha256=small_clf.sha256[:8] + "0" * 56)
    with pytest.raises(GensuiteError, match="already registered for another network"):
        register_domain_extractor(impostor)

    for order in (["penultimate", "logits_unbiased"], ["logits_unbiased"]):
        fe = create_feature_extractor(spec.name, order, cuda=False)
        out = fe(mnist.test_images[:10])
        assert isinstance(out, tuple) and len(out) == len(order)
        shapes = {"logits_unbiased": (10, 10), "penultimate": (10, 128)}
        assert [tuple(t.shape) for t in out] == [shapes[name] for name in order]
    # torch-fidelity gets its own copy: moving or changing it leaves the classifier alone.
    assert fe.net is not small_clf.model
    # Batch-size independence (eval-mode BN): one image at a time gives the same logits.
    x = mnist.test_images[:10]
    singles = torch.cat([fe(x[i : i + 1])[0] for i in range(10)])
    assert torch.allclose(singles, fe(x)[0], atol=1e-5)
    logits = fe(mnist.test_images[:10].expand(-1, 3, -1, -1))[0]
    assert torch.equal(logits, small_clf.model(applied.prepare(mnist.test_images[:10], small_clf)))


def test_fidelity_metrics_takes_the_spec(small_clf, mnist):
    from gensuite.metrics.fidelity import fidelity_metrics, wants_rgb

    spec = register_domain_extractor(small_clf)
    assert not wants_rgb(spec.name)  # grey images reach it with one channel
    result = fidelity_metrics(
        mnist.test_images[:200], mnist.test_images[200:400], isc=True, fid=True, kid=True,
        kid_subset_size=100, **spec.metric_kwargs(),
    )
    assert result.feature_layer_isc == "logits_unbiased"
    assert result.feature_layer_fid == "penultimate"
    assert result["inception_score_mean"] > 1 and result["frechet_inception_distance"] >= 0


def test_class_metrics_small(small_clf, mnist):
    x = mnist.test_images[:300]
    hist = class_histogram(small_clf, x)
    assert len(hist) == 10 and sum(hist) == 300
    assert class_histogram(small_clf, x, 12)[10:] == [0, 0]
    preds = applied.predict(small_clf, x)
    assert class_conditional_accuracy(small_clf, x, preds) == 1.0
    assert class_conditional_accuracy(small_clf, x, 4) == pytest.approx(hist[4] / 300)
    with pytest.raises(ValueError, match="target class outside"):
        class_conditional_accuracy(small_clf, x, 10)
    with pytest.raises(ValueError, match="num_classes=5"):
        class_histogram(small_clf, x, 5)


# --- the real MNIST classifier (quick profile) ---------------------------------------------


@pytest.mark.slow
def test_mnist_classifier_reaches_bar_and_is_reused(mnist_clf, monkeypatch):
    assert mnist_clf.test_acc >= 0.99, mnist_clf.description
    assert mnist_clf.meta["train_n"] == 60000 and mnist_clf.meta["test_n"] == 10000
    monkeypatch.setattr(evaluators, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
    again = load_or_train("mnist", "cnn", 0, cache_dir=mnist_clf.path.parent,
                          epochs=QUICK_EPOCHS, data_root=DATA, min_test_acc=0.99)
    assert again.sha256 == mnist_clf.sha256


@pytest.mark.slow
def test_mnist_inception_score(mnist_clf, mnist):
    spec = register_domain_extractor(mnist_clf)
    assert inception_score(spec, mnist.test_images[:1000]) > 8
    fours = mnist.test_images[mnist.test_labels == 4][:1000]
    assert inception_score(spec, fours) < 2


@pytest.mark.slow
def test_mnist_histogram_and_conditional_accuracy(mnist_clf, mnist):
    hist = class_histogram(mnist_clf, mnist.test_images, 10)
    truth = torch.bincount(mnist.test_labels).tolist()
    errors = round((1 - mnist_clf.test_acc) * 10000)
    # Each mistake moves one count from one bin to another.
    assert sum(abs(h - t) for h, t in zip(hist, truth)) <= 2 * errors
    assert all(abs(h - t) <= errors for h, t in zip(hist, truth))
    fours = mnist.test_images[mnist.test_labels == 4]
    assert class_conditional_accuracy(mnist_clf, fours, 4) >= 0.98
    assert class_conditional_accuracy(mnist_clf, mnist.test_images, mnist.test_labels) == (
        pytest.approx(mnist_clf.test_acc)
    )


def test_small_model_is_smallcnn(small_clf):
    assert isinstance(small_clf.model, SmallCNN) and not small_clf.model.training


# --- resolved from the dataset's registration ----------------------------------------------


def test_for_dataset_follows_the_registration(tmp_path, monkeypatch):
    """mnist-binarized declares MNIST's classifier; LFW the 7 people at the model's size, 20
    epochs unless a smoke run asks for fewer; Omniglot none."""
    seen = []

    def fake(dataset, arch, seed, **kw):
        seen.append((dataset, kw.get("dataset_options"), kw["epochs"], kw["train_limit"]))
        return "clf"

    monkeypatch.setattr(evaluators, "load_or_train", fake)
    assert for_dataset("mnist-binarized", image_size=28, cache_dir=tmp_path) == "clf"
    for_dataset("lfw-faces", image_size=32, cache_dir=tmp_path)
    for_dataset("lfw-faces", image_size=64, cache_dir=tmp_path, epochs=1, train_limit=256)
    assert seen == [("mnist", None, 2, 0), ("lfw-faces", {"person": "all", "size": 32}, 20, 0),
                    ("lfw-faces", {"person": "all", "size": 64}, 1, 256)]
    with pytest.raises(GensuiteError, match="'omniglot-vinyals' declares no evaluation classifier"):
        for_dataset("omniglot-vinyals", image_size=28, cache_dir=tmp_path)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSUITE_CACHE_DIR", str(tmp_path))
    assert evaluators.default_cache_dir() == tmp_path / "classifiers"
