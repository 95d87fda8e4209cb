"""Image fidelity through torch-fidelity: Inception Score, FID and KID; numbers only.

Layered like torch-fidelity itself (features → statistics → value):

- ``fid_from_features`` / ``kid_from_features`` / ``isc_from_logits`` call torch-fidelity's own
  statistic functions on given features (no network, nothing re-implemented);
- ``fidelity_metrics`` runs uint8 images through any registered torch-fidelity extractor
  (the Inception ones in ``gensuite.metrics.inception``, an evaluation classifier, ...) and returns
  the metrics together with the extractor that made them.

Nothing is written (torch-fidelity's file cache is off) and nothing is printed (verbose off).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID,
    fid_features_to_statistics,
    fid_statistics_to_metric,
)
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from gensuite.api import Estimate
from gensuite.errors import RegistryError
from gensuite.metrics.accuracy import Z95
from gensuite.metrics.inception import (  # importing it registers inception-v3-fid-helper
    UnsupportedMetricError,
    inception_extractor,
)

# torch-fidelity's own defaults, so numbers match its CLI run with the same inputs.
DEFAULT_SEED = 2020
DEFAULT_BATCH_SIZE = 64


def _features(x: Any) -> torch.Tensor:
    """(N, D) float64 CPU tensor: torch-fidelity's statistics want CPU tensors of one dtype."""
    t = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().cpu()
    if t.dim() != 2:
        raise ValueError(f"features must be 2-d (N, D); got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def fid_from_features(features_1: Any, features_2: Any) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets (torch-fidelity)."""
    stats_1 = fid_features_to_statistics(_features(features_1))
    stats_2 = fid_features_to_statistics(_features(features_2))
    return float(fid_statistics_to_metric(stats_1, stats_2, verbose=False)[KEY_METRIC_FID])


def kid_from_features(
    features_1: Any,
    features_2: Any,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Unbiased polynomial-kernel MMD² over random subsets (torch-fidelity): mean and std."""
    return kid_features_to_metric(
        _features(features_1),
        _features(features_2),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        kid_kernel="poly",
        kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=gamma,
        kid_kernel_poly_coef0=coef0,
        rng_seed=seed,
        verbose=False,
    )


def isc_from_logits(
    logits: Any, splits: int = 10, *, shuffle: bool = True, seed: int = DEFAULT_SEED
) -> dict[str, float]:
    """Inception Score from (N, C) pre-softmax logits over ``splits`` splits (torch-fidelity)."""
    return isc_features_to_metric(_features(logits), splits, shuffle, seed)


@dataclass(frozen=True, kw_only=True)
class FidelityResult:
    """Metric values (torch-fidelity's key names) and everything that decides them."""

    extractor: str
    feature_layer_fid: str | None
    feature_layer_isc: str | None
    metrics: dict[str, float]
    n_generated: int
    n_real: int | None
    settings: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def is_estimate(self) -> Estimate:
        """The Inception Score as mean ± 95% over its splits (each split is an independent
        estimate): the one place this interval is made (z = Φ⁻¹(0.975), as ``mean_ci``)."""
        splits = int(self.settings.get("isc_splits", 10))
        half = Z95 * self.metrics["inception_score_std"] / math.sqrt(splits)
        return Estimate(mean=self.metrics["inception_score_mean"], ci95=half, n=splits,
                        over="splits")

    def as_record(self) -> dict[str, Any]:
        """Flat dict for a result record: the values plus the extractor that made them."""
        return {
            "extractor": self.extractor,
            "feature_layer_fid": self.feature_layer_fid,
            "feature_layer_isc": self.feature_layer_isc,
            "n_generated": self.n_generated,
            "n_real": self.n_real,
            **self.settings,
            **self.metrics,
        }


class ImageTensorDataset(Dataset):
    """uint8 (N, C, H, W) images, one per item, as torch-fidelity reads a Dataset input.

    With ``rgb=True`` grey (C=1) images are repeated to 3 channels here, per item: this is the
    one place where grey data meets RGB-only extractors.
    """

    def __init__(self, images: torch.Tensor, rgb: bool) -> None:
        if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4:
            got = (
                f"{images.dtype} {tuple(images.shape)}" if torch.is_tensor(images) else type(images)
            )
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W) in 0..255; got {got}")
        self.images = images.cpu()  # the DataLoader batches on CPU (and pins for CUDA)
        self.rgb = rgb and images.shape[1] == 1

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return image.expand(3, -1, -1) if self.rgb else image


def _extractor_class(name: str) -> type:
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        known = ", ".join(sorted(FEATURE_EXTRACTORS_REGISTRY))
        raise RegistryError(f"unknown feature extractor {name!r}; registered: {known}")
    return FEATURE_EXTRACTORS_REGISTRY[name]


def wants_rgb(name: str) -> bool:
    """Whether the extractor takes 3-channel images only: torch-fidelity's built-in ones
    (Inception, VGG, CLIP, DINOv2) and any class declaring ``rgb_input = True``. Others (a
    evaluation classifier) get the images with their own channel count."""
    cls = _extractor_class(name)
    return bool(getattr(cls, "rgb_input", cls.__module__.startswith("torch_fidelity.")))


@contextlib.contextmanager
def _device(device: str) -> Iterator[bool]:
    """Yields torch-fidelity's ``cuda`` flag; makes ``cuda:N`` the current device meanwhile."""
    dev = torch.device(device)
    if dev.type == "cpu":
        yield False
    elif dev.type == "cuda":
        with torch.cuda.device(dev.index if dev.index is not None else torch.cuda.current_device()):
            yield True
    else:
        raise ValueError(f"device must be cpu or cuda[:N]; got {device!r}")


def _layers(
    name: str, feature_layer_fid: str | None, feature_layer_isc: str | None, isc: bool, binary: bool
) -> tuple[str | None, str | None]:
    """The feature layers to use: the given ones, else the extractor's defaults."""
    cls = _extractor_class(name)
    layer_isc = layer_fid = None
    if isc:
        if getattr(cls, "supports_isc", True) is False:
            # Checked before any image is read; the extractor's own one-line reason comes first.
            cls.get_default_feature_layer_for_metric("isc")
            raise UnsupportedMetricError(
                f"feature extractor {name!r} cannot give the Inception Score"
            )
        layer_isc = feature_layer_isc or cls.get_default_feature_layer_for_metric("isc")
    if binary:
        layer_fid = feature_layer_fid or cls.get_default_feature_layer_for_metric("fid")
    return layer_fid, layer_isc


def fidelity_metrics(
    generated: torch.Tensor,
    real: torch.Tensor | None,
    *,
    extractor: str,
    feature_layer_fid: str | None = None,
    feature_layer_isc: str | None = None,
    isc: bool,
    fid: bool,
    kid: bool,
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    isc_splits: int = 10,
    seed: int = DEFAULT_SEED,
    weights_path: str | None = None,
) -> FidelityResult:
    """IS of ``generated``; FID and KID between ``generated`` and ``real`` (uint8 N×C×H×W).

    ``extractor`` is any torch-fidelity registered name; a ``None`` feature layer means the
    extractor's default for that metric (KID uses the FID layer). ``weights_path`` goes to the
    extractor as torch-fidelity's ``feature_extractor_weights_path``. IS from an extractor
    without logits raises a one-line UnsupportedMetricError.
    """
    if not (isc or fid or kid):
        raise ValueError("ask for at least one of isc, fid, kid")
    binary = fid or kid
    if binary and real is None:
        raise ValueError("FID and KID need the real images")
    layer_fid, layer_isc = _layers(extractor, feature_layer_fid, feature_layer_isc, isc, binary)
    rgb = wants_rgb(extractor)
    input1 = ImageTensorDataset(generated, rgb)
    input2 = ImageTensorDataset(real, rgb) if binary else None
    if kid and min(len(input1), len(input2)) < kid_subset_size:
        raise ValueError(
            f"kid_subset_size {kid_subset_size} exceeds the images given "
            f"({len(input1)} generated, {len(input2)} real); pass a smaller kid_subset_size"
        )
    with _device(device) as cuda:
        metrics = torch_fidelity.calculate_metrics(
            input1=input1,
            input2=input2,
            cuda=cuda,
            save_cpu_ram=not cuda,
            batch_size=batch_size,
            isc=isc,
            fid=fid,
            kid=kid,
            feature_extractor=extractor,
            feature_layer_isc=layer_isc,
            feature_layer_fid=layer_fid,
            feature_layer_kid=layer_fid,
            feature_extractor_weights_path=weights_path,
            isc_splits=isc_splits,
            kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size,
            rng_seed=seed,
            cache=False,
            verbose=False,
        )
    settings: dict[str, Any] = {"seed": seed}
    if isc:
        settings["isc_splits"] = isc_splits
    if kid:
        settings.update(kid_subsets=kid_subsets, kid_subset_size=kid_subset_size)
    return FidelityResult(
        extractor=extractor,
        feature_layer_fid=layer_fid,
        feature_layer_isc=layer_isc,
        metrics={k: float(v) for k, v in metrics.items()},
        n_generated=len(input1),
        n_real=len(input2) if input2 is not None else None,
        settings=settings,
    )


def bootstrap_half_width(
    generated: Any,
    real: Any,
    metric: str,
    *,
    resamples: int = 100,
    seed: int = DEFAULT_SEED,
    kid_subsets: int = 10,
    kid_subset_size: int = 1000,
) -> float:
    """95% half-width of FID or KID over the generated samples of one model: the metric is
    recomputed on ``resamples`` bootstrap resamples (with replacement) of the generated features
    against the fixed real ones, and the half-width is z·sd of those replicates (normal
    bootstrap interval). KID replicates use ``kid_subsets`` subsets each (cost). NaN with fewer
    than 2 resamples."""
    if metric not in ("fid", "kid"):
        raise ValueError(f"bootstrap_half_width: metric must be 'fid' or 'kid', not {metric!r}")
    if resamples < 2:
        return math.nan
    gen, ref = _features(generated), _features(real)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        sample = gen[torch.from_numpy(rng.integers(0, len(gen), len(gen)))]
        if metric == "fid":
            values.append(fid_from_features(sample, ref))
        else:
            values.append(kid_from_features(
                sample, ref, subsets=kid_subsets,
                subset_size=min(kid_subset_size, len(sample), len(ref)),
                seed=int(rng.integers(0, 2**31)))[KEY_METRIC_KID_MEAN])
    return float(Z95 * np.std(values, ddof=1))


def fidelity_intervals(
    generated: torch.Tensor,
    real: torch.Tensor,
    *,
    extractor: str,
    layer: str,
    kid: bool,
    resamples: int = 100,
    device: str = "cpu",
    kid_subset_size: int = 1000,
    seed: int = DEFAULT_SEED,
    weights_path: str | None = None,
) -> dict[str, float]:
    """95% half-widths of FID (and KID) for uint8 images: features extracted once (``layer``
    of ``extractor``, as the metrics used), then ``bootstrap_half_width``."""
    feats = [extract_features(x, extractor=extractor, layers=[layer], device=device,
                              weights_path=weights_path)[layer]
             for x in (generated, real)]
    out = {"fid": bootstrap_half_width(*feats, "fid", resamples=resamples, seed=seed)}
    if kid:
        out["kid"] = bootstrap_half_width(*feats, "kid", resamples=resamples, seed=seed,
                                          kid_subset_size=kid_subset_size)
    return out


def extract_features(
    images: torch.Tensor,
    *,
    extractor: str,
    layers: Sequence[str],
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    weights_path: str | None = None,
) -> dict[str, torch.Tensor]:
    """The extractor's ``layers`` for uint8 images, through torch-fidelity's own batching."""
    rgb = wants_rgb(extractor)
    with _device(device) as cuda:
        net = create_feature_extractor(
            extractor,
            list(layers),
            cuda=cuda,
            feature_extractor_weights_path=weights_path,
            verbose=False,
        )
        return get_featuresdict_from_dataset(
            ImageTensorDataset(images, rgb), net, batch_size, cuda, not cuda, False
        )


def compare_inception_fid(
    generated: torch.Tensor,
    real: torch.Tensor,
    *,
    weights_path: str | None = None,
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
    """FID of the same images through torch-fidelity's Inception and fid-helper's, their relative
    gap, and the largest pool3 feature difference between the two networks.

    Runs only where both networks exist. torch-fidelity's weights file is not available offline,
    so on the offline dev/CI machines this raises MissingDataError and has not been run there;
    results made with fid-helper's network are named as such meanwhile.
    """
    specs = (
        inception_extractor(prefer="torch-fidelity", weights_path=weights_path),
        inception_extractor(prefer="fid-helper"),
    )
    out: dict[str, float] = {}
    pools = []
    for spec in specs:
        layer = spec.feature_layer_fid
        kw = dict(
            extractor=spec.name,
            layers=[layer],
            device=device,
            batch_size=batch_size,
            weights_path=spec.weights_path,
        )
        f_gen = extract_features(generated, **kw)[layer]
        f_real = extract_features(real, **kw)[layer]
        out[f"fid[{spec.name}]"] = fid_from_features(f_gen, f_real)
        pools.append(torch.cat([f_gen, f_real]))
    a, b = (out[f"fid[{spec.name}]"] for spec in specs)
    out["fid_relative_difference"] = abs(a - b) / max(abs(a), 1e-12)
    out["feature_max_abs_difference"] = float((pools[0] - pools[1]).abs().max())
    return out
