"""Evaluation classifiers: trained once per dataset and recipe, cached outside the repository.

A dataset's registration names the classifier that judges generated images of it
(``register_dataset(name, evaluation=EvaluationClassifierSpec(...))``: which registered dataset
trains it, with which builder options and epochs); ``for_dataset`` resolves that declaration,
so plug-ins ask for "the evaluation classifier of my data" and keep no table of datasets.

- ``train_classifier`` trains one (deterministic for a seed on CPU at a fixed thread count) and
  measures its test accuracy; ``load_or_train`` caches it in an explicit folder.
- Cache entry: ``<dataset>-<arch>-s<seed>-<key>.pt`` (state_dict + metadata) and a ``.json``
  sidecar with the sha256 of the ``.pt`` bytes. ``<key>`` hashes the training settings, the
  dataset builder's options (``dataset_options``, e.g. ``{"person": "all"}`` for LFW) and the
  data fingerprint, so a change to any trains a new classifier instead of reusing a stale
  one. A checksum mismatch is rejected with a one-line ``ClassifierCacheError`` (never
  retrained silently: a corrupted or edited cache is something to look at).

Applying a classifier (predictions, histograms, IS/FID features) is pure and lives in
``gensuite.metrics.classifier``; the network in ``gensuite.models.classifier``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import platformdirs
import torch
import torch.nn.functional as F
from torch import nn

from gensuite.api import EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.fingerprint import dataset_fingerprint
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError
from gensuite.metrics.classifier import predict
from gensuite.models.classifier import (
    EvaluationClassifier,
    TrainSettings,
    build_classifier,
    normalize,
)
from gensuite.plugins import datasets
from gensuite.repro import config_hash

CACHE_ENV = "GENSUITE_CACHE_DIR"


class ClassifierCacheError(GensuiteError):
    """A cached evaluation classifier failed its checksum or does not match its cache key."""


def default_cache_dir() -> Path:
    """``$GENSUITE_CACHE_DIR/classifiers`` if set, else the user cache folder; callers pass it
    (or another) explicitly."""
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else platformdirs.user_cache_path("gensuite")) / "classifiers"


def evaluation_spec(dataset: str) -> EvaluationClassifierSpec:
    """The evaluation classifier ``dataset``'s registration declares (one-line error if none)."""
    spec = datasets().entry(dataset).meta.get("evaluation")
    if spec is None:
        raise GensuiteError(f"dataset {dataset!r} declares no evaluation classifier "
                            "(register_dataset(..., evaluation=EvaluationClassifierSpec()))")
    return spec


def for_dataset(
    dataset: str,
    *,
    image_size: int,
    device: str = "cpu",
    data_root: Path | str | None = None,
    train_limit: int = 0,
    epochs: int = 0,
    cache_dir: Path | str | None = None,
) -> EvaluationClassifier:
    """The evaluation classifier that judges images generated from ``dataset``, as its
    registration declares; ``image_size`` fills the spec's ``size_option``; ``train_limit`` /
    ``epochs`` (0: the recipe's) make a token classifier for smoke runs."""
    spec = evaluation_spec(dataset)
    options = dict(spec.options)
    if spec.size_option:
        options[spec.size_option] = image_size
    kwargs: dict[str, Any] = {"train_limit": train_limit, "epochs": epochs or spec.epochs}
    if options:
        kwargs["dataset_options"] = options
    return load_or_train(spec.dataset or dataset, "cnn", 0,
                         cache_dir=default_cache_dir() if cache_dir is None else cache_dir,
                         device=device, data_root=data_root, **kwargs)


# --- training ------------------------------------------------------------------------------


def _load_data(
    dataset: str, data_root: Path | str | None, options: dict[str, Any] | None = None
) -> ImageClassData:
    data = datasets().get(dataset)(DataRoot(data_root), **(options or {}))
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


def train_classifier(
    dataset: str,
    *,
    settings: TrainSettings | None = None,
    device: str = "cpu",
    data_root: Path | str | None = None,
    data: ImageClassData | None = None,
    dataset_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> EvaluationClassifier:
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
    clf = EvaluationClassifier(
        dataset=dataset, title=data.display_name, model=model, classes=data.classes,
        in_channels=channels, image_size=(height, width), settings=s, meta={}, sha256="",
    )
    test_acc = float((predict(clf, data.test_images) == data.test_labels).double().mean())
    meta = {
        "test_acc": test_acc,
        "test_n": len(data.test_labels),
        "train_n": min(len(data.train_labels), s.train_limit or len(data.train_labels)),
        "train_acc_running": train_acc,  # over the last epoch, dropout on, weights changing
        "data_fingerprint": (dataset_fingerprint(data.info)
                             if data.info.files or data.info.digest else ""),
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


def _serialize(clf: EvaluationClassifier) -> bytes:
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


def _deserialize(blob: bytes, sha256: str, path: Path, device: str) -> EvaluationClassifier:
    saved = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    h = saved["header"]
    settings = TrainSettings(**h["settings"])
    model = build_classifier(settings.arch, h["in_channels"], len(h["classes"]))
    model.load_state_dict(saved["state_dict"])
    return EvaluationClassifier(
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


def save(clf: EvaluationClassifier, path: Path) -> EvaluationClassifier:
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


def load(path: Path, device: str = "cpu") -> EvaluationClassifier:
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
) -> EvaluationClassifier:
    """The cached classifier for (dataset, options, settings, data), trained and saved on a miss.

    ``cache_dir`` is explicit (e.g. ``default_cache_dir()`` or a results work folder); nothing
    else is written. ``overrides`` set other ``TrainSettings`` fields (``epochs``: 2 unless
    given). ``dataset_options`` go to the dataset builder (``{"person": "all", "size": 64}``
    for a 7-identity LFW classifier).
    ``min_test_acc`` rejects a classifier below that test accuracy (e.g. 0.99 for MNIST).
    """
    settings = TrainSettings(arch=arch, seed=seed, **overrides)
    options = dict(dataset_options or {})
    # Called with two arguments when there are no options (its original signature).
    data = _load_data(dataset, data_root, options) if options else _load_data(dataset, data_root)
    path = cache_path(cache_dir, dataset, settings, dataset_fingerprint(data.info), options)
    if path.with_suffix(".json").exists():
        clf = load(path, device)
        if (clf.settings != settings or clf.dataset != dataset
                or clf.meta.get("dataset_options", {}) != options):
            raise ClassifierCacheError(f"cached classifier {path} was trained with other settings")
    else:
        clf = train_classifier(dataset, settings=settings, device=device, data=data,
                               dataset_options=options)
        clf = save(clf, path)
    if min_test_acc is not None and clf.test_acc < min_test_acc:
        raise GensuiteError(
            f"{clf.description} is below the required test accuracy {100 * min_test_acc:.1f}%"
        )
    return clf


