"""VAE plug-in (Kingma & Welling 2014; reports E-1, C-3, B-1): loss pieces against closed forms,
network shapes, the lr schedule of Burda et al. 2016, resume, the ELBO ≤ log-likelihood bound
on a trained model, and the figures.

Real binarized MNIST (small subsets) where a trained model matters; synthetic images, named
so, for shapes and the Gaussian likelihood.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from gensuite.algorithms.vae import VAE, VAEConfig, iwae_lr_factor
from gensuite.api import Curves, DatasetInfo, RunContext, Schedule, eval_only_fields
from gensuite.data.binarized_mnist import build_binarized_mnist
from gensuite.data.containers import ImageClassData
from gensuite.data.root import DataRoot
from gensuite.metrics.likelihood import elbo
from gensuite.models.vae_nets import build_vae_nets, conv_sizes
from gensuite.registry import get_algorithm
from gensuite.train.loop import run_loop

SMALL = dict(hidden=64, hidden_layers=1, latent_dim=8, batch_size=50, train_limit=500,
             val_limit=200, test_limit=100, iw_samples=20, fid_samples=0)


@pytest.fixture(scope="module")
def bmnist():
    return build_binarized_mnist(DataRoot())


def synthetic_rgb(n: int = 60, size: int = 32, seed: int = 0) -> ImageClassData:
    """Synthetic RGB images (smooth random blobs), for the Gaussian-likelihood conv VAE."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g)
    images = (F.interpolate(low, size=size, mode="bilinear") * 255).round().to(torch.uint8)
    info = DatasetInfo(name="synthetic-rgb", description="synthetic blobs (tests)", files=())
    labels = torch.zeros(n, dtype=torch.long)
    return ImageClassData(info=info, train_images=images[: n - 10], train_labels=labels[: n - 10],
                          test_images=images[n - 10 :], test_labels=labels[n - 10 :],
                          classes=("blob",))


def make(data, seed: int = 0, steps: int = 20, **overrides) -> VAE:
    config = VAEConfig(**{**SMALL, **overrides})
    bpe = math.ceil(min(len(data.train_images), config.train_limit or 10**9) / config.batch_size)
    ctx = RunContext(seed=seed, schedule=Schedule(steps=steps, eval_every=bpe))
    torch.manual_seed(seed)
    return VAE(config, data, ctx)


# --- loss pieces ------------------------------------------------------------------------------


def test_bernoulli_term_is_minus_bce_sum(bmnist):
    vae = make(bmnist)
    x = vae.to_float(vae.test_images[:16])
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    ref = -F.binary_cross_entropy(torch.sigmoid(vae.decoder(z)), x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(vae.log_px_given_z(x, z), ref, rtol=1e-4, atol=1e-3)


def test_gaussian_term_and_report_b1_loss_match_manual_formula():
    data = synthetic_rgb()
    vae = make(data, arch="conv", channels=8, likelihood="gaussian", x_sigma2=0.01,
               train_limit=0, val_limit=0, test_limit=0, batch_size=10)
    d = 3 * 32 * 32
    assert vae.s2 == pytest.approx(0.01 * d / 2)
    x = vae.to_float(vae.test_images[:4])
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    mean = torch.sigmoid(vae.decoder(z))
    sq = (x - mean).pow(2).sum((1, 2, 3))
    manual = -sq / (2 * vae.s2) - 0.5 * d * math.log(2 * math.pi * vae.s2)
    torch.testing.assert_close(vae.log_px_given_z(x, z), manual, rtol=1e-5, atol=1e-2)
    # Report B-1's loss ‖x − x̂‖²/(σ² d_x) + KL from the negative ELBO, on the same draw.
    terms = vae.elbo_terms(x, torch.Generator().manual_seed(3))
    mu, logvar = vae.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    xr = torch.sigmoid(vae.decoder(mu + torch.exp(0.5 * logvar) * eps))
    b1 = (x - xr).pow(2).sum((1, 2, 3)) / (0.01 * d) + terms["kl"]
    torch.testing.assert_close(vae.report_b1_loss(-terms["elbo"]), b1, rtol=1e-5, atol=1e-3)


def test_kl_term_matches_closed_form_for_known_posterior(bmnist):
    vae = make(bmnist)
    mu = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    vae.encode = lambda x: (mu, logvar)  # a known q(z|x)
    vae.config = VAEConfig(**{**SMALL, "latent_dim": 2})
    vae.decoder = build_vae_nets("mlp", (1, 28, 28), 2, hidden=8, hidden_layers=1)[1]
    terms = vae.elbo_terms(torch.zeros(2, 1, 28, 28), torch.Generator().manual_seed(0))
    # 0.5 Σ (μ² + σ² − 1 − log σ²): (1 + 1 − 1 − 0) + (4 + 4 − 1 − log 4) → 0.5 (8 − log 4)
    torch.testing.assert_close(terms["kl"], torch.tensor([0.5 * (8 - math.log(4.0)), 0.0]))


def test_elbo_terms_equal_the_metrics_library_elbo(bmnist):
    vae = make(bmnist)
    x = vae.to_float(vae.test_images[:32])
    mine = vae.elbo_terms(x, torch.Generator().manual_seed(5))["elbo"]
    lib = elbo(x, vae.encode, vae.log_px_given_z, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(mine, lib)


# --- networks and config ------------------------------------------------------------------------


@pytest.mark.parametrize("arch,shape", [
    ("mlp", (1, 28, 28)), ("conv", (1, 28, 28)), ("mlp", (3, 32, 32)), ("conv", (3, 32, 32)),
    ("conv", (3, 64, 64)),
])
def test_encoder_decoder_shapes(arch, shape):
    enc, dec = build_vae_nets(arch, shape, 5, hidden=16, channels=4)
    x = torch.rand(3, *shape)
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (3, 5)
    assert dec(mu).shape == (3, *shape)


def test_conv_sizes_and_output_bias_starts_at_the_data_mean():
    assert conv_sizes(28) == [28, 14, 7]
    assert conv_sizes(64) == [64, 32, 16, 8, 4]
    _, dec = build_vae_nets("mlp", (1, 28, 28), 3, hidden=8)
    mean = torch.full((1, 28, 28), 0.25)
    dec.init_output_bias(mean)
    torch.testing.assert_close(torch.sigmoid(dec.bias), mean)


def test_config_rejects_bad_values_in_one_line():
    with pytest.raises(ValueError, match="likelihood must be one of bernoulli, gaussian"):
        VAEConfig(likelihood="poisson")
    with pytest.raises(ValueError, match="latent_dim must be"):
        VAEConfig(latent_dim=0)
    with pytest.raises(ValueError, match="val_fraction"):
        VAEConfig(val_fraction=1.0)
    assert eval_only_fields(VAEConfig) == {"test_limit", "iw_samples", "fid_samples",
                                           "fid_reference", "classifier_train_limit",
                                           "classifier_epochs", "bootstrap"}
    assert get_algorithm("vae") is VAE


def test_iwae_schedule_follows_burda_et_al():
    # 3^i epochs at 1e-3·round(10^(1 − i/7), 1)/10: 1 epoch, then 3, 9, 27, ...
    assert iwae_lr_factor(0) == 1.0
    assert [iwae_lr_factor(e) for e in (1, 3)] == [0.72, 0.72]
    assert [iwae_lr_factor(e) for e in (4, 12)] == [0.52, 0.52]
    assert iwae_lr_factor(13) == 0.37
    assert iwae_lr_factor(3279) == 0.1 and iwae_lr_factor(10**6) == 0.1


# --- the dataset ----------------------------------------------------------------------------------


def test_binarized_mnist_is_a_fixed_50k_10k_10k_draw_per_seed(bmnist):
    d = bmnist
    assert (len(d.train_images), len(d.val_images), len(d.test_images)) == (50_000, 10_000, 10_000)
    assert set(torch.unique(d.train_images).tolist()) == {0, 255}
    assert "stochastically binarized once" in d.info.description
    assert "seed 0" in d.info.description
    again = build_binarized_mnist(DataRoot(), binarization_seed=0)
    assert torch.equal(again.train_images, d.train_images)
    assert torch.equal(again.test_images, d.test_images)
    other = build_binarized_mnist(DataRoot(), binarization="stochastic", binarization_seed=1)
    assert not torch.equal(other.train_images, d.train_images)
    assert "seed 1" in other.info.description
    assert other.info.description != d.info.description  # its pixel sha256 differs too
    # A draw, not a threshold: pixels follow their grey intensities on average (~13% on).
    assert 0.12 < d.train_images.float().mean().item() / 255 < 0.14


def test_fixed_binarization_is_used_when_its_files_exist(tmp_path, monkeypatch):
    from gensuite.data import binarized_mnist as bm
    from gensuite.errors import MissingDataError

    with pytest.raises(MissingDataError, match="fixed binarization"):
        build_binarized_mnist(DataRoot(tmp_path / "empty"), binarization="fixed")
    # Synthetic .amat files with the standard sizes shrunk to 3/2/2 images.
    monkeypatch.setattr(bm, "TRAIN", 3)
    monkeypatch.setattr(bm, "VAL", 2)
    monkeypatch.setattr(bm, "TEST", 2)
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 3), ("valid", 2), ("test", 2)):
        rows = (torch.rand(n, 784, generator=g) < 0.5).int().tolist()
        (folder / f"binarized_mnist_{split}.amat").write_text(
            "\n".join(" ".join(map(str, r)) for r in rows) + "\n")
    d = build_binarized_mnist(DataRoot(tmp_path))
    assert "Larochelle & Murray" in d.info.description
    assert (len(d.train_images), len(d.val_images), len(d.test_images)) == (3, 2, 2)
    assert set(torch.unique(d.train_images).tolist()) <= {0, 255}
    monkeypatch.setattr(bm, "TRAIN", 4)
    with pytest.raises(Exception, match="not the standard 4"):
        build_binarized_mnist(DataRoot(tmp_path), binarization="fixed")


# --- training, resume, the bound ---------------------------------------------------------------


def test_state_dict_round_trip_resumes_identically(bmnist):
    kw = dict(train_limit=100, batch_size=25)  # 4 steps per epoch: the split crosses epochs
    straight = make(bmnist, steps=10, **kw)
    ref = [straight.train_step(s) for s in range(10)]
    first = make(bmnist, steps=10, **kw)
    for s in range(6):
        first.train_step(s)
        if (s + 1) % 4 == 0:
            first.validate()
    state = first.state_dict()
    resumed = make(bmnist, seed=0, steps=10, **kw)
    resumed.load_state_dict(state)
    got = [resumed.train_step(s) for s in range(6, 10)]
    assert got == ref[6:]
    for a, b in zip(straight.decoder.parameters(), resumed.decoder.parameters()):
        assert torch.equal(a, b)
    # The epoch-1 grid and training ELBO came along in the state; epoch 2 ended after resuming.
    assert set(resumed.epoch_grids) == set(straight.epoch_grids) == {1, 2}
    assert all(torch.equal(resumed.epoch_grids[e], straight.epoch_grids[e]) for e in (1, 2))
    assert resumed.epoch_train_elbo == straight.epoch_train_elbo and len(straight.epoch_train_elbo) == 2


def test_trained_model_satisfies_elbo_le_log_likelihood(bmnist):
    vae = make(bmnist, steps=40, train_limit=1000, batch_size=50, iw_samples=100)
    for s in range(40):
        vae.train_step(s)
    val = vae.validate()
    assert math.isfinite(val["val_elbo"]) and val["val_elbo"] < 0
    out = vae.test(Curves()).metrics
    assert out["bound_holds"].mean == 1.0
    assert out["elbo"].mean <= out["log_likelihood"].mean
    assert out["elbo"].over == "images" and out["elbo"].n == 100 and out["elbo"].unit == "nats"
    x = vae.test_images
    ll_1 = vae.log_likelihood_per_image(x, 1, seed=11).mean().item()
    ll_100 = vae.log_likelihood_per_image(x, 100, seed=11).mean().item()
    # L_K is non-decreasing in K in expectation (Burda et al. 2016, Theorem 1).
    assert ll_100 > ll_1
    # A few dozen steps already beat the initial model (decoder at the data mean).
    fresh = make(bmnist)
    assert fresh.validate()["val_elbo"] < val["val_elbo"]


def test_bound_check_reports_a_violation():
    # If the "log-likelihood" were below the ELBO the record says so instead of passing.
    data = synthetic_rgb()
    vae = make(data, arch="conv", channels=4, likelihood="gaussian", x_sigma2=0.1,
               train_limit=0, val_limit=0, test_limit=0, batch_size=10)
    real = vae.log_likelihood_per_image
    vae.log_likelihood_per_image = lambda images, k, seed: real(images, k, seed) - 1e4
    assert vae.test(Curves()).metrics["bound_holds"].mean == 0.0


def test_gaussian_conv_vae_trains_on_rgb_and_reports_finite_numbers():
    data = synthetic_rgb()
    vae = make(data, steps=10, arch="conv", channels=8, likelihood="gaussian", x_sigma2=1e-4,
               train_limit=0, val_limit=0, test_limit=0, batch_size=10)
    losses = [vae.train_step(s)["loss"] for s in range(10)]
    assert all(math.isfinite(v) for v in losses)
    assert len(vae.val_images) == round(50 * VAEConfig().val_fraction)  # no val split: last 1/6
    out = vae.test(Curves()).metrics
    assert all(math.isfinite(e.mean) for e in out.values())
    assert out["bound_holds"].mean == 1.0


# --- figures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("latent_dim", [2, 5])
def test_artifacts_are_written_with_the_manifold_for_2d(bmnist, tmp_path, latent_dim):
    vae = make(bmnist, steps=8, latent_dim=latent_dim, train_limit=100, batch_size=25)
    loop = run_loop(vae, Schedule(steps=8, eval_every=4), train_key="x")
    result = vae.test(loop.curves)
    paths = vae.write_artifacts(tmp_path, result, loop.curves)
    names = {p.name for p in paths}
    expected = {"elbo_curve.png", "samples_per_epoch.png", "samples.png", "reconstructions.png",
                "traversal.png", "perturbation.png", "vae_details.json"}
    assert expected <= names
    assert ("manifold.png" in names) == (latent_dim == 2)
    for p in paths:
        assert p.exists() and 0 < p.stat().st_size < 300_000, p
    assert sorted(vae.epoch_grids) == [1, 2]
    # the history is the loop's validation curve with each epoch's mean training ELBO
    history = json.loads((tmp_path / "vae_details.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1.0, 2.0]
    assert [h["val_elbo"] for h in history] == [v["val_elbo"] for v in loop.val_curve]
    assert [h["train_elbo"] for h in history] == vae.epoch_train_elbo


def test_fidelity_uses_the_evaluation_classifier_and_names_it(bmnist, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSUITE_CACHE_DIR", str(tmp_path))
    vae = make(bmnist, fid_samples=200, classifier_train_limit=500, classifier_epochs=1,
               test_limit=200)
    result = vae.test(Curves())
    out = result.metrics
    assert {"is", "fid"} <= set(out)  # one naming scheme: the extractor is in the details
    assert 1.0 <= out["is"].mean <= 10.0
    assert out["fid"].mean > 0
    details = result.details["fidelity"]
    assert details["classifier"].startswith("MNIST classifier")  # mnist-binarized → MNIST's
    assert sum(details["class_histogram"].values()) == 200
    assert list((tmp_path / "classifiers").glob("mnist-cnn-s0-*.pt"))
    # Binary data: the samples are binary too, like the test images they are compared with.
    assert set(torch.unique(vae.sample(50, torch.Generator().manual_seed(0))).tolist()) <= {0, 255}


def test_combined_vae_gan_traversal_figure(tmp_path):
    from gensuite.algorithms.vae_figures import combined_traversal, samples_per_epoch, save_grid

    g = torch.Generator().manual_seed(0)
    vae_png = save_grid(torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8, generator=g),
                        tmp_path / "vae.png", nrow=10)
    gan_png = save_grid(torch.zeros(20, 1, 28, 28, dtype=torch.uint8), tmp_path / "gan.png",
                        nrow=10)
    out = combined_traversal(vae_png, gan_png, tmp_path / "both.png")
    assert out.exists() and out.stat().st_size < 300_000
    assert samples_per_epoch({}, tmp_path / "none.png", 10, "t") is None
    # Large RGB grids are halved until they fit the size budget.
    big = torch.randint(0, 256, (100, 3, 64, 64), dtype=torch.uint8, generator=g)
    assert save_grid(big, tmp_path / "big.png", nrow=10).stat().st_size <= 300_000
