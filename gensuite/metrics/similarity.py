"""SSIM (Wang et al. 2004, "Image quality assessment: from error visibility to structural
similarity") and PSNR, computed by scikit-image, per image pair and as a mean with a 95% CI.

``data_range`` (max − min of the value scale: 1.0 for images in [0, 1], 255 for 8-bit, 2.0 for
[−1, 1]) is a required argument and is never inferred. SSIM's stabilising constants are
(0.01·L)² and (0.03·L)² and PSNR is 10·log10(L²/MSE), so the same pixels give different numbers
for different L; inference picks L silently from the dtype (skimage: 1.0 for float images without
negatives, 2.0 with negatives, 65535 for uint16 holding 12-bit data) or from the batch's own
min/max (torchmetrics), and the reported number then changes with the data, not the model.

Image sets come as numpy arrays or torch tensors with an explicit ``layout``: ``"NCHW"`` (torch
convention), ``"NHWC"`` (numpy/PIL convention) or ``"NHW"`` (greyscale). All values are converted
to float64 first so that uint8, float32 and float64 copies of one image score the same.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gensuite.api import Estimate
from gensuite.metrics.accuracy import mean_ci

# The settings that reproduce Wang et al.'s reference implementation (skimage docs, Notes):
# an 11x11 Gaussian window with sigma 1.5 and population (not sample) covariances.
SSIM_WANG2004 = MappingProxyType(
    {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
)

LAYOUTS = ("NCHW", "NHWC", "NHW")


def _as_float64(x: Any) -> np.ndarray:
    """numpy array or torch tensor (any device) → float64 numpy array."""
    if hasattr(x, "detach"):  # a torch tensor; avoids importing torch for numpy users
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_pair(a: np.ndarray, b: np.ndarray, data_range: float) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape; got {a.shape} and {b.shape}")
    if not np.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive number (max − min); got {data_range}")


def ssim(
    a: Any,
    b: Any,
    *,
    data_range: float,
    channel_axis: int | None = None,
    wang2004: bool = False,
) -> float:
    """Mean SSIM of one image pair (H×W, or with a channel axis named by ``channel_axis``).

    ``wang2004=True`` applies ``SSIM_WANG2004``; otherwise skimage's defaults (7×7 uniform window,
    sample covariances) are used. Colour SSIM is the mean over channels.
    """
    a, b = _as_float64(a), _as_float64(b)
    _check_pair(a, b, data_range)
    settings = SSIM_WANG2004 if wang2004 else {}
    return float(
        structural_similarity(a, b, data_range=data_range, channel_axis=channel_axis, **settings)
    )


def psnr(a: Any, b: Any, *, data_range: float) -> float:
    """PSNR in dB, 10·log10(data_range² / MSE); ``inf`` for identical images."""
    a, b = _as_float64(a), _as_float64(b)
    _check_pair(a, b, data_range)
    with np.errstate(divide="ignore"):  # MSE = 0 gives inf, which is the right answer
        return float(peak_signal_noise_ratio(a, b, data_range=data_range))


def _to_hwc(images: Any, layout: str) -> tuple[np.ndarray, int | None]:
    """Image set → float64 (N, H, W[, C]) and the channel axis of one image (None: greyscale)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    x = _as_float64(images)
    if x.ndim != len(layout):
        raise ValueError(f"layout {layout} needs a {len(layout)}-d array; got shape {x.shape}")
    if layout == "NCHW":
        x = np.moveaxis(x, 1, -1)
    if layout == "NHW":
        return x, None
    if x.shape[-1] == 1:  # one channel: plain 2-d SSIM, same value without the channel loop
        return x[..., 0], None
    return x, -1


def _pairs(a_set: Any, b_set: Any, layout: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    a, channel_axis = _to_hwc(a_set, layout)
    b, _ = _to_hwc(b_set, layout)
    if a.shape != b.shape:
        raise ValueError(f"image sets must have the same shape; got {a.shape} and {b.shape}")
    return a, b, channel_axis


def ssim_pairs(
    a_set: Any, b_set: Any, *, data_range: float, layout: str, wang2004: bool = False
) -> np.ndarray:
    """SSIM of each pair (a_set[i], b_set[i]) → float64 array of shape (N,)."""
    a, b, channel_axis = _pairs(a_set, b_set, layout)
    return np.array(
        [
            ssim(x, y, data_range=data_range, channel_axis=channel_axis, wang2004=wang2004)
            for x, y in zip(a, b)
        ],
        dtype=np.float64,
    )


def psnr_pairs(a_set: Any, b_set: Any, *, data_range: float, layout: str) -> np.ndarray:
    """PSNR (dB) of each pair (a_set[i], b_set[i]) → float64 array of shape (N,)."""
    a, b, _ = _pairs(a_set, b_set, layout)
    return np.array([psnr(x, y, data_range=data_range) for x, y in zip(a, b)], dtype=np.float64)


def ssim_estimate(
    a_set: Any, b_set: Any, *, data_range: float, layout: str, wang2004: bool = False
) -> Estimate:
    """Mean SSIM over image pairs with its 95% CI half-width (normal approximation)."""
    values = ssim_pairs(a_set, b_set, data_range=data_range, layout=layout, wang2004=wang2004)
    mean, half, n = mean_ci(values)
    return Estimate(mean=mean, ci95=half, n=n, unit="", over="images")


def psnr_estimate(a_set: Any, b_set: Any, *, data_range: float, layout: str) -> Estimate:
    """Mean PSNR (dB) over image pairs with its 95% CI half-width (inf if any pair is identical)."""
    values = psnr_pairs(a_set, b_set, data_range=data_range, layout=layout)
    mean, half, n = mean_ci(values)
    return Estimate(mean=mean, ci95=half, n=n, unit="dB", over="images")
