"""SSIM/PSNR against skimage called directly and the PSNR closed form, plus invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from gensuite.api import Estimate
from gensuite.metrics.accuracy import mean_ci
from gensuite.metrics.similarity import (
    SSIM_WANG2004,
    psnr,
    psnr_estimate,
    psnr_pairs,
    ssim,
    ssim_estimate,
    ssim_pairs,
)


def _smooth_image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A structured image in [0, 1] (white noise has almost no structure for SSIM to compare)."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.25 * np.sin(6 * xx + 3 * yy) + 0.1 * rng.standard_normal((h, w))
    if len(shape) == 3:
        base = np.stack([np.roll(base, c, axis=1) for c in range(shape[2])], axis=-1)
    return np.clip(base, 0.0, 1.0)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = _smooth_image(rng, (32, 32))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    return a, b


@pytest.mark.parametrize("wang2004", [False, True])
def test_ssim_equals_skimage(pair, wang2004):
    a, b = pair
    settings = SSIM_WANG2004 if wang2004 else {}
    expected = structural_similarity(a, b, data_range=1.0, **settings)
    assert ssim(a, b, data_range=1.0, wang2004=wang2004) == pytest.approx(expected, abs=1e-12)


def test_wang_settings_change_the_value(pair):
    # guards against wang2004 being silently ignored: the two settings must disagree
    a, b = pair
    assert ssim(a, b, data_range=1.0) != pytest.approx(ssim(a, b, data_range=1.0, wang2004=True))


@pytest.mark.parametrize("wang2004", [False, True])
def test_colour_equals_skimage_for_each_layout(wang2004):
    rng = np.random.default_rng(1)
    a = np.stack([_smooth_image(rng, (24, 24, 3)) for _ in range(3)])  # N, H, W, C
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
    settings = SSIM_WANG2004 if wang2004 else {}
    expected = [
        structural_similarity(x, y, data_range=1.0, channel_axis=-1, **settings)
        for x, y in zip(a, b)
    ]
    nhwc = ssim_pairs(a, b, data_range=1.0, layout="NHWC", wang2004=wang2004)
    nchw = ssim_pairs(
        torch.from_numpy(a).permute(0, 3, 1, 2),
        torch.from_numpy(b).permute(0, 3, 1, 2),
        data_range=1.0,
        layout="NCHW",
        wang2004=wang2004,
    )
    np.testing.assert_allclose(nhwc, expected, atol=1e-12)
    np.testing.assert_allclose(nchw, expected, atol=1e-12)
    single = ssim(a[0], b[0], data_range=1.0, channel_axis=-1, wang2004=wang2004)
    assert single == pytest.approx(expected[0], abs=1e-12)


def test_single_channel_nchw_equals_greyscale(pair):
    a, b = pair
    nchw = ssim_pairs(a[None, None], b[None, None], data_range=1.0, layout="NCHW")
    nhw = ssim_pairs(a[None], b[None], data_range=1.0, layout="NHW")
    assert nchw[0] == pytest.approx(nhw[0], abs=1e-12)
    assert nhw[0] == pytest.approx(structural_similarity(a, b, data_range=1.0), abs=1e-12)


@pytest.mark.parametrize("wang2004", [False, True])
def test_ssim_of_an_image_with_itself_is_one(pair, wang2004):
    a, _ = pair
    assert ssim(a, a, data_range=1.0, wang2004=wang2004) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise():
    rng = np.random.default_rng(2)
    a = _smooth_image(rng, (48, 48))
    noise = rng.standard_normal(a.shape)  # one noise pattern, scaled: a strict ordering
    levels = [0.0, 0.01, 0.03, 0.1, 0.3]
    values = [ssim(a, a + s * noise, data_range=1.0, wang2004=True) for s in levels]
    assert values[0] == pytest.approx(1.0)
    assert all(hi > lo for hi, lo in zip(values, values[1:])), values
    assert values[-1] < 0.5


def test_psnr_equals_closed_form(pair):
    a, b = pair
    for data_range in (1.0, 2.0, 255.0):
        mse = np.mean((a - b) ** 2)
        expected = 10 * math.log10(data_range**2 / mse)
        assert psnr(a, b, data_range=data_range) == pytest.approx(expected, rel=1e-12)
    assert psnr(a, a, data_range=1.0) == math.inf


def test_dtype_does_not_change_the_value():
    rng = np.random.default_rng(3)
    a8 = (255 * _smooth_image(rng, (32, 32))).round().astype(np.uint8)
    b8 = np.clip(a8.astype(int) + rng.integers(-20, 21, a8.shape), 0, 255).astype(np.uint8)
    ref = ssim(a8, b8, data_range=255)
    assert ssim(a8.astype(np.float32), b8.astype(np.float32), data_range=255) == ref
    assert psnr(a8, b8, data_range=255) == psnr(a8.astype(float), b8.astype(float), data_range=255)


def test_data_range_matters(pair):
    # the same [0, 1] pixels scored as if the scale were 0..255: the constants C1, C2 swamp the
    # statistics and SSIM is near 1; this is why data_range is required, never guessed
    a, b = pair
    right = ssim(a, b, data_range=1.0)
    wrong = ssim(a, b, data_range=255.0)
    assert wrong > right + 0.1
    assert wrong > 0.99
    assert psnr(a, b, data_range=255.0) - psnr(a, b, data_range=1.0) == pytest.approx(
        20 * math.log10(255), rel=1e-9
    )


def test_data_range_is_required(pair):
    a, b = pair
    with pytest.raises(TypeError, match="data_range"):
        ssim(a, b)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="data_range must be a positive"):
        ssim(a, b, data_range=0)


def test_shape_mismatch_is_a_clear_error(pair):
    a, _ = pair
    with pytest.raises(ValueError, match=r"same shape; got \(32, 32\) and \(32, 31\)"):
        ssim(a, a[:, :31], data_range=1.0)
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[:31], data_range=1.0)
    with pytest.raises(ValueError, match="same shape"):
        ssim_pairs(a[None], a[None, :, :31], data_range=1.0, layout="NHW")
    with pytest.raises(ValueError, match="layout NCHW needs a 4-d array"):
        ssim_pairs(a[None], a[None], data_range=1.0, layout="NCHW")
    with pytest.raises(ValueError, match="layout must be one of"):
        ssim_pairs(a[None], a[None], data_range=1.0, layout="CHW")


def test_estimates_are_mean_ci_of_the_pairs():
    rng = np.random.default_rng(4)
    a = np.stack([_smooth_image(rng, (16, 16)) for _ in range(5)])
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    est = ssim_estimate(a, b, data_range=1.0, layout="NHW")
    mean, half, n = mean_ci(ssim_pairs(a, b, data_range=1.0, layout="NHW"))
    assert est == Estimate(mean=mean, ci95=half, n=n, unit="", over="images")
    p = psnr_estimate(a, b, data_range=1.0, layout="NHW")
    assert p.mean == pytest.approx(psnr_pairs(a, b, data_range=1.0, layout="NHW").mean())
    assert (p.unit, p.n) == ("dB", 5)
