"""Pure functions of an evaluation classifier: predictions, class-conditional accuracy, class
histograms, and the torch-fidelity feature-extractor adapter behind IS/FID/KID.

The classifier (``gensuite.models.classifier.EvaluationClassifier``) is trained and cached by
``gensuite.evaluators``; here it is only applied. Numbers computed with it are labelled with it
("IS (MNIST classifier)") and are never comparable to Inception-based ones.

Images are uint8 (N, C, H, W) in 0..255 everywhere, as torch-fidelity takes them: the same
pixels then give the histogram, the accuracy and the IS. Other channel counts or sizes than the
classifier's are converted (RGB → luma, grey → 3 channels, antialiased bilinear resize).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import vassert
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from gensuite.errors import GensuiteError
from gensuite.metrics.inception import ExtractorSpec
from gensuite.models.classifier import EvaluationClassifier, normalize

LOGITS = "logits_unbiased"  # pre-softmax logits: the Inception Score's input
PENULTIMATE = "penultimate"  # input of the last linear layer: FID/KID features
METRIC_NAMES = {"isc": "IS", "fid": "FID", "kid": "KID", "prc": "PRC"}
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L")
_BATCH = 500  # inference batch: larger ones are no faster on CPU and cost memory


def prepare(images: torch.Tensor, clf: EvaluationClassifier) -> torch.Tensor:
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
def predict(
    clf: EvaluationClassifier, images: torch.Tensor, batch_size: int = _BATCH
) -> torch.Tensor:
    """Predicted class (int64, on the CPU) of each uint8 image."""
    model, dev = clf.model.eval(), _device(clf.model)
    preds = [
        model(prepare(images[i : i + batch_size], clf).to(dev)).argmax(1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def class_conditional_accuracy(
    clf: EvaluationClassifier, images: torch.Tensor, target_class: int | torch.Tensor
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
    clf: EvaluationClassifier, images: torch.Tensor, num_classes: int | None = None
) -> list[int]:
    """How many of ``images`` the classifier assigns to each class (sums to N)."""
    k = clf.num_classes if num_classes is None else num_classes
    if k < clf.num_classes:
        raise ValueError(f"num_classes={k} but the classifier has {clf.num_classes} classes")
    return torch.bincount(predict(clf, images), minlength=k).tolist()


# --- torch-fidelity -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClassifierExtractorSpec(ExtractorSpec):
    """An ExtractorSpec for an evaluation classifier; ``label`` names it in metric names."""

    label: str  # "MNIST classifier"
    test_acc: float

    def metric_name(self, metric: str) -> str:
        """"IS (MNIST classifier)" for ``"isc"``; never just "IS", which means Inception."""
        return f"{METRIC_NAMES.get(metric, metric)} ({self.label})"


class ClassifierFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor over an evaluation classifier.

    torch-fidelity registers classes and instantiates them itself as ``cls(name, features_list,
    **kwargs)``, so ``register_classifier_extractor`` makes one subclass per classifier, holding it
    in ``classifier``. Input: uint8 (N, C, H, W), any C and size (see ``prepare``).
    """

    classifier: ClassVar[EvaluationClassifier]
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


def extractor_name(clf: EvaluationClassifier) -> str:
    """``classifier-<dataset>-<arch>-s<seed>-<sha8>`` (records before the renovation say
    ``domain-…`` for the same network).

    The checksum is in the name because torch-fidelity's on-disk feature cache is keyed by
    extractor name: other weights must never hit features computed with these.
    """
    s = clf.settings
    return f"classifier-{clf.dataset}-{s.arch}-s{s.seed}-{clf.sha256[:8]}"


def register_classifier_extractor(clf: EvaluationClassifier) -> ClassifierExtractorSpec:
    """Register ``clf`` with torch-fidelity (once per name; again is a no-op) and describe it."""
    name = extractor_name(clf)
    existing = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if existing is None:
        cls = type(f"ClassifierFeatureExtractor_{clf.sha256[:8]}", (ClassifierFeatureExtractor,),
                   {"classifier": clf})
        register_feature_extractor(name, cls)
    elif getattr(existing, "classifier", None) is None or existing.classifier.sha256 != clf.sha256:
        raise GensuiteError(f"feature extractor {name!r} is already registered for another network")
    return ClassifierExtractorSpec(
        name=name,
        feature_layer_fid=PENULTIMATE,
        feature_layer_isc=LOGITS,
        description=clf.description,
        label=clf.label,
        test_acc=clf.test_acc,
    )
