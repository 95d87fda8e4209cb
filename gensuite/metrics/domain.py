"""Domain classifiers: IS/FID/KID features, class-conditional accuracy and class histograms.

A small CNN trained by gensuite on the dataset itself (MNIST, Fashion-MNIST, ...) stands in for
Inception-v3 where that network means little (28×28 digits) or is not available. Its numbers are
labelled with it ("IS (MNIST classifier)") and are never comparable to Inception-based ones.

- ``train_domain_classifier`` trains one (deterministic for a seed on CPU at a fixed thread
  count) and measures its test accuracy; ``load_or_train`` caches it in an explicit folder.
- Cache entry: ``<dataset>-<arch>-s<seed>-<key>.pt`` (state_dict + metadata) and a ``.json``
  sidecar with the sha256 of the ``.pt`` bytes. ``<key>`` hashes the training settings, the
  dataset builder's options (``dataset_options``, e.g. ``{"person": "all"}`` for LFW) and the
  data fingerprint, so a change to any trains a new classifier instead of reusing a stale
  one. A checksum mismatch is rejected with a one-line ``ClassifierCacheError`` (never
  retrained silently: a corrupted or edited cache is something to look at).
- ``register_domain_extractor`` registers it with torch-fidelity, which then computes IS from
  ``"logits_unbiased"`` and FID/KID from ``"penultimate"``.
- ``class_conditional_accuracy`` / ``class_histogram``: pure functions of images.

Images are uint8 (N, C, H, W) in 0..255 everywhere, as torch-fidelity takes them: the same
pixels then give the histogram, the accuracy and the IS. Other channel counts or sizes than the
classifier's are converted (RGB → luma, grey → 3 channels, antialiased bilinear resize).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import platformdirs
import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import vassert
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from gensuite.data.fingerprint import fingerprint
from gensuite.data.images import ImageClassData
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError
from gensuite.metrics.inception import ExtractorSpec
from gensuite.models.classifier import build_classifier, normalize
from gensuite.registry import get_dataset
from gensuite.repro import config_hash

LOGITS = "logits_unbiased"  # pre-softmax logits: the Inception Score's input
PENULTIMATE = "penultimate"  # input of the last linear layer: FID/KID features
METRIC_NAMES = {"isc": "IS", "fid": "FID", "kid": "KID", "prc": "PRC"}
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L")
_BATCH = 500  # inference batch: larger ones are no faster on CPU and cost memory


DEFAULT_EPOCHS = {"lfw-faces": 20}  # training epochs where the TrainSettings default is too few


class ClassifierCacheError(GensuiteError):
    """A cached domain classifier failed its checksum or does not match its cache key."""


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything besides the data that decides the weights (all of it enters the cache key)."""

    arch: str = "cnn"
    seed: int = 0
    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3  # OneCycle peak for Adam
    train_limit: int = 0  # train on the first N training images only (smoke runs); 0: all


@dataclass(frozen=True, kw_only=True, eq=False)
class DomainClassifier:
    """A trained classifier and what it was trained on; ``model`` is in eval mode."""

    dataset: str
    title: str  # the dataset as reports name it, e.g. "MNIST"
    model: nn.Module
    classes: tuple[str, ...]
    in_channels: int
    image_size: tuple[int, int]
    settings: TrainSettings
    meta: dict[str, Any]  # test_acc, train_acc_running, data_fingerprint, torch, seconds, ...
    sha256: str  # of the serialized state (the cache file's bytes)
    path: Path | None = None  # the cache file it was loaded from or saved to

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def test_acc(self) -> float:
        return float(self.meta["test_acc"])

    @property
    def label(self) -> str:
        """How metrics computed with it are labelled: "MNIST classifier"."""
        return f"{self.title} classifier"

    @property
    def description(self) -> str:
        s = self.settings
        return f"{self.label} ({s.arch}, seed {s.seed}, test acc {100 * self.test_acc:.1f}%)"


def default_cache_dir() -> Path:
    """The user cache folder for classifiers; callers pass it (or another) explicitly."""
    return platformdirs.user_cache_path("gensuite") / "classifiers"


# --- images in, predictions out -------------------------------------------------------------


def prepare(images: torch.Tensor, clf: DomainClassifier) -> torch.Tensor:
    """uint8 (N, C, H, W) → the classifier's float input (its channels, size and range)."""
    if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if torch.is_tensor(images) else type(images)
        raise TypeError(f"expected uint8 images (N, C, H, W) in 0..255, got {got}")
    x = images.to(torch.float32)
    channels = x.shape[1]
    if channels == 3 and clf.in_channels == 1:
        luma = (x * x.new_tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
        # Where R = G = B (grey repeated to RGB) take the value itself: luma is off by rounding.
        grey = (images[:, :1] == images[:, 1:2]) & (images[:, 1:2] == images[:, 2:])
        x = torch.where(grey, x[:, :1], luma)
    elif channels == 1 and clf.in_channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif channels != clf.in_channels:
        raise ValueError(f"{channels}-channel images for a {clf.in_channels}-channel classifier")
    if tuple(x.shape[-2:]) != clf.image_size:
        x = F.interpolate(x, size=clf.image_size, mode="bilinear", antialias=True)
    return normalize(x)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(clf: DomainClassifier, images: torch.Tensor, batch_size: int = _BATCH) -> torch.Tensor:
    """Predicted class (int64, on the CPU) of each uint8 image."""
    model, dev = clf.model.eval(), _device(clf.model)
    preds = [
        model(prepare(images[i : i + batch_size], clf).to(dev)).argmax(1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def class_conditional_accuracy(
    clf: DomainClassifier, images: torch.Tensor, target_class: int | torch.Tensor
) -> float:
    """Share of ``images`` the classifier assigns to the requested class.

    ``target_class``: one class for all images, or a (N,) tensor of per-image requested classes.
    """
    if len(images) == 0:
        raise ValueError("class_conditional_accuracy needs at least one image")
    target = torch.as_tensor(target_class, dtype=torch.long)
    if target.min() < 0 or target.max() >= clf.num_classes:
        raise ValueError(f"target class outside 0..{clf.num_classes - 1}")
    return float((predict(clf, images) == target).double().mean())


def class_histogram(
    clf: DomainClassifier, images: torch.Tensor, num_classes: int | None = None
) -> list[int]:
    """How many of ``images`` the classifier assigns to each class (sums to N)."""
    k = clf.num_classes if num_classes is None else num_classes
    if k < clf.num_classes:
        raise ValueError(f"num_classes={k} but the classifier has {clf.num_classes} classes")
    return torch.bincount(predict(clf, images), minlength=k).tolist()


# --- training ------------------------------------------------------------------------------


def _load_data(
    dataset: str, data_root: Path | str | None, options: dict[str, Any] | None = None
) -> ImageClassData:
    data = get_dataset(dataset)(DataRoot(data_root), **(options or {}))
    if not isinstance(data, ImageClassData):
        raise GensuiteError(f"dataset {dataset!r} is not a labelled-image dataset (ImageClassData)")
    return data


def _fit(model: nn.Module, data: ImageClassData, s: TrainSettings, device: str) -> float:
    """Adam with a one-cycle schedule; returns the running training accuracy of the last epoch."""
    n = min(len(data.train_labels), s.train_limit or len(data.train_labels))
    steps = math.ceil(n / s.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=s.epochs * steps)
    order = torch.Generator().manual_seed(s.seed)  # its own stream: batch order ≠ init noise
    model.train()
    correct = 0
    for _ in range(s.epochs):
        correct = 0
        for idx in torch.randperm(n, generator=order).split(s.batch_size):
            x = normalize(data.train_images[idx].to(device, torch.float32))
            y = data.train_labels[idx].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y).sum())
    model.eval()
    return correct / n


def train_domain_classifier(
    dataset: str,
    *,
    settings: TrainSettings | None = None,
    device: str = "cpu",
    data_root: Path | str | None = None,
    data: ImageClassData | None = None,
    dataset_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> DomainClassifier:
    """Train a classifier on ``dataset``'s training split and measure it on its test split.

    ``overrides`` set ``TrainSettings`` fields (``arch=``, ``seed=``, ``epochs=``, ...).
    ``dataset_options`` are passed to the dataset builder (and recorded in ``meta``).
    ``data`` skips the dataset builder (e.g. a subset); ``dataset`` then only names it.
    The caller's torch RNG state is left as it was.
    """
    s = dataclasses.replace(settings or TrainSettings(), **overrides)
    data = data if data is not None else _load_data(dataset, data_root, dataset_options)
    channels, height, width = data.image_shape
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)  # weight init and dropout
        model = build_classifier(s.arch, channels, data.num_classes).to(device)
        train_acc = _fit(model, data, s, device)
    seconds = time.perf_counter() - start
    clf = DomainClassifier(
        dataset=dataset, title=data.display_name, model=model, classes=data.classes,
        in_channels=channels, image_size=(height, width), settings=s, meta={}, sha256="",
    )
    test_acc = float((predict(clf, data.test_images) == data.test_labels).double().mean())
    meta = {
        "test_acc": test_acc,
        "test_n": len(data.test_labels),
        "train_n": min(len(data.train_labels), s.train_limit or len(data.train_labels)),
        "train_acc_running": train_acc,  # over the last epoch, dropout on, weights changing
        "data_fingerprint": fingerprint(data.info.files) if data.info.files else "",
        "data_description": data.info.description,
        "train_seconds": round(seconds, 1),
        "device": device,
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),  # TorchVersion would not pass weights_only loading
    }
    if dataset_options:
        meta["dataset_options"] = dict(dataset_options)
    clf = dataclasses.replace(clf, meta=meta)
    return dataclasses.replace(clf, sha256=hashlib.sha256(_serialize(clf)).hexdigest())


# --- the cache -----------------------------------------------------------------------------


def _serialize(clf: DomainClassifier) -> bytes:
    header = {
        "dataset": clf.dataset,
        "title": clf.title,
        "classes": list(clf.classes),
        "in_channels": clf.in_channels,
        "image_size": list(clf.image_size),
        "settings": dataclasses.asdict(clf.settings),
        "meta": clf.meta,
    }
    state = {k: v.detach().cpu() for k, v in clf.model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"header": header, "state_dict": state}, buf)
    return buf.getvalue()


def _deserialize(blob: bytes, sha256: str, path: Path, device: str) -> DomainClassifier:
    saved = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    h = saved["header"]
    settings = TrainSettings(**h["settings"])
    model = build_classifier(settings.arch, h["in_channels"], len(h["classes"]))
    model.load_state_dict(saved["state_dict"])
    return DomainClassifier(
        dataset=h["dataset"], title=h["title"], model=model.to(device).eval(),
        classes=tuple(h["classes"]), in_channels=h["in_channels"],
        image_size=tuple(h["image_size"]), settings=settings, meta=h["meta"], sha256=sha256,
        path=path,
    )


def _write_atomic(path: Path, blob: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)  # readers never see half a file


def cache_path(
    cache_dir: Path | str,
    dataset: str,
    settings: TrainSettings,
    data_fp: str,
    dataset_options: dict[str, Any] | None = None,
) -> Path:
    """``<dataset>-<arch>-s<seed>-<key>.pt``; the key covers settings, builder options, data."""
    spec = {"dataset": dataset, **dataclasses.asdict(settings), "data": data_fp}
    if dataset_options:  # absent when empty: keys made before options existed stay valid
        spec["dataset_options"] = dict(dataset_options)
    key = config_hash(spec)
    return Path(cache_dir) / f"{dataset}-{settings.arch}-s{settings.seed}-{key}.pt"


def save(clf: DomainClassifier, path: Path) -> DomainClassifier:
    """Write ``path`` and its ``.json`` sidecar (sha256 + metadata); returns ``clf`` with path."""
    blob = _serialize(clf)
    sha = hashlib.sha256(blob).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, blob)
    sidecar = {"file": path.name, "sha256": sha, "dataset": clf.dataset,
               "settings": dataclasses.asdict(clf.settings), "meta": clf.meta}
    # The sidecar last: an entry without one is an unfinished write, and is trained again.
    _write_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=2).encode())
    return dataclasses.replace(clf, sha256=sha, path=path)


def load(path: Path, device: str = "cpu") -> DomainClassifier:
    """Load a cache entry after checking its sha256; a mismatch raises ClassifierCacheError."""
    try:
        sidecar = json.loads(path.with_suffix(".json").read_text())
        expected = str(sidecar["sha256"])
    except (ValueError, KeyError, TypeError) as e:
        raise ClassifierCacheError(f"{path.with_suffix('.json')} is unreadable ({e!r})") from None
    if not path.exists():
        raise ClassifierCacheError(f"cached classifier {path} is missing (its .json is there)")
    blob = path.read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    if sha != expected:
        raise ClassifierCacheError(
            f"cached classifier {path} fails its checksum (sha256 {sha[:12]}…, expected "
            f"{expected[:12]}…); delete it and its .json to retrain"
        )
    return _deserialize(blob, sha, path, device)


def load_or_train(
    dataset: str,
    arch: str = "cnn",
    seed: int = 0,
    *,
    cache_dir: Path | str,
    device: str = "cpu",
    data_root: Path | str | None = None,
    min_test_acc: float | None = None,
    dataset_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> DomainClassifier:
    """The cached classifier for (dataset, options, settings, data), trained and saved on a miss.

    ``cache_dir`` is explicit (e.g. ``default_cache_dir()`` or a results work folder); nothing
    else is written. ``overrides`` set other ``TrainSettings`` fields. ``dataset_options`` go to
    the dataset builder (``{"person": "all", "size": 64}`` for a 7-identity LFW classifier).
    ``min_test_acc`` rejects a classifier below that test accuracy (e.g. 0.99 for MNIST).
    """
    # faces need more passes than digits: the 7-identity LFW classifier reaches 47% test
    # accuracy after 2 epochs (a constant guess: 42%) and 87-89% after 20
    overrides.setdefault("epochs", DEFAULT_EPOCHS.get(dataset, TrainSettings.epochs))
    settings = TrainSettings(arch=arch, seed=seed, **overrides)
    options = dict(dataset_options or {})
    # Called with two arguments when there are no options (its original signature).
    data = _load_data(dataset, data_root, options) if options else _load_data(dataset, data_root)
    path = cache_path(cache_dir, dataset, settings, fingerprint(data.info.files), options)
    if path.with_suffix(".json").exists():
        clf = load(path, device)
        if (clf.settings != settings or clf.dataset != dataset
                or clf.meta.get("dataset_options", {}) != options):
            raise ClassifierCacheError(f"cached classifier {path} was trained with other settings")
    else:
        clf = train_domain_classifier(dataset, settings=settings, device=device, data=data,
                                      dataset_options=options)
        clf = save(clf, path)
    if min_test_acc is not None and clf.test_acc < min_test_acc:
        raise GensuiteError(
            f"{clf.description} is below the required test accuracy {100 * min_test_acc:.1f}%"
        )
    return clf


# --- torch-fidelity ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DomainExtractorSpec(ExtractorSpec):
    """An ExtractorSpec for a domain classifier; ``label`` names it in metric names."""

    label: str  # "MNIST classifier"
    test_acc: float

    def metric_name(self, metric: str) -> str:
        """"IS (MNIST classifier)" for ``"isc"``; never just "IS", which means Inception."""
        return f"{METRIC_NAMES.get(metric, metric)} ({self.label})"


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor over a domain classifier.

    torch-fidelity registers classes and instantiates them itself as ``cls(name, features_list,
    **kwargs)``, so ``register_domain_extractor`` makes one subclass per classifier, holding it
    in ``classifier``. Input: uint8 (N, C, H, W), any C and size (see ``prepare``).
    """

    classifier: ClassVar[DomainClassifier]
    rgb_input = False  # fidelity.py: do not repeat grey images to 3 channels for this one

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        # A private copy: torch-fidelity moves its extractor (.cuda()), the caller's model stays.
        self.net = copy.deepcopy(self.classifier.model).cpu()
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        vassert(torch.is_tensor(x) and x.dtype == torch.uint8, "Expecting uint8 images")
        vassert(x.dim() == 4, f"Input is not BxCxHxW: {tuple(x.shape)}")
        logits, feats = self.net.logits_and_features(prepare(x, self.classifier))
        out = {LOGITS: logits, PENULTIMATE: feats}
        return tuple(out[name] for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return LOGITS, PENULTIMATE

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return LOGITS if metric == "isc" else PENULTIMATE

    @staticmethod
    def can_be_compiled():
        return False  # a few ms per batch: compiling would cost more than it saves

    @classmethod
    def get_dummy_input_for_compile(cls):
        return torch.zeros(1, cls.classifier.in_channels, *cls.classifier.image_size,
                           dtype=torch.uint8)


def extractor_name(clf: DomainClassifier) -> str:
    """``domain-<dataset>-<arch>-s<seed>-<sha8>``.

    The checksum is in the name because torch-fidelity's on-disk feature cache is keyed by
    extractor name: other weights must never hit features computed with these.
    """
    s = clf.settings
    return f"domain-{clf.dataset}-{s.arch}-s{s.seed}-{clf.sha256[:8]}"


def register_domain_extractor(clf: DomainClassifier) -> DomainExtractorSpec:
    """Register ``clf`` with torch-fidelity (once per name; again is a no-op) and describe it."""
    name = extractor_name(clf)
    existing = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if existing is None:
        cls = type(f"DomainFeatureExtractor_{clf.sha256[:8]}", (DomainFeatureExtractor,),
                   {"classifier": clf})
        register_feature_extractor(name, cls)
    elif getattr(existing, "classifier", None) is None or existing.classifier.sha256 != clf.sha256:
        raise GensuiteError(f"feature extractor {name!r} is already registered for another network")
    return DomainExtractorSpec(
        name=name,
        feature_layer_fid=PENULTIMATE,
        feature_layer_isc=LOGITS,
        description=clf.description,
        label=clf.label,
        test_acc=clf.test_acc,
    )
