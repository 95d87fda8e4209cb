"""GAN family plug-in: losses against independent references, networks, the training step,
resume, divergence and figures.

All data here is synthetic (named so): a blocky template per class under uniform noise, 28×28
grey or 32×32 colour, so every test runs in seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import torchvision
from torch import nn

from gensuite.algorithms import gan as gan_module
from gensuite.algorithms.gan import GAN, GANConfig
from gensuite.api import DatasetInfo, RunContext, Schedule
from gensuite.data.containers import ImageClassData
from gensuite.errors import DivergedError
from gensuite.evaluators.classifier import train_classifier
from gensuite.models.gan import losses
from gensuite.models.gan.nets import (
    BACKBONES,
    Generator,
    apply_spectral_norm,
    build_discriminator,
    clip_weights,
    init_weights,
)
from gensuite.registry import get_algorithm
from gensuite.train.loop import run_loop

TINY = dict(batch_size=8, d_width=8, g_width=8, z_dim=16, eval_samples=40, test_samples=60,
            class_samples=20, hist_samples=60, kid_subsets=5)


def synthetic_data(n: int = 96, channels: int = 1, size: int = 28, classes: int = 10,
                   seed: int = 0) -> ImageClassData:
    """Synthetic labelled images: a blocky random template per class plus uniform noise."""
    g = torch.Generator().manual_seed(seed)
    tmpl = (torch.rand(classes, channels, 7, 7, generator=g) > 0.5).float()
    tmpl = F.interpolate(tmpl, size=(size, size))
    y = torch.arange(n) % classes
    x = 0.7 * tmpl[y] + 0.3 * torch.rand(n, channels, size, size, generator=g)
    x = (255 * x).round().to(torch.uint8)
    info = DatasetInfo(name="synthetic", description="templates + noise (tests)", files=())
    k = n // 4
    return ImageClassData(info=info, train_images=x[k:], train_labels=y[k:], test_images=x[:k],
                          test_labels=y[:k], classes=tuple(str(i) for i in range(classes)))


@pytest.fixture(scope="module")
def data() -> ImageClassData:
    return synthetic_data()


@pytest.fixture(scope="module")
def classifier(data):
    """A small evaluation classifier of the synthetic classes (no cache, nothing written)."""
    return train_classifier("synthetic", data=data, epochs=2, seed=0)


def make(data, steps: int = 4, seed: int = 0, classifier=None, **overrides) -> GAN:
    config = GANConfig(**{**TINY, **overrides})
    algo = GAN(config, data, RunContext(seed=seed, schedule=Schedule(steps=steps)))
    if classifier is not None:  # the test's classifier instead of the cached MNIST one
        algo.use_classifier(classifier)
    return algo


# --- losses against independent references ------------------------------------------------


class Linear(nn.Module):
    """f(x) = w·x + b: its input gradient is w everywhere, so ‖∇f‖ = ‖w‖ in closed form."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * self.w).sum(1) + 0.5


@pytest.mark.parametrize("norm", [2.0, 0.5, 1.0])
def test_gradient_penalty_on_a_linear_critic(norm):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(12, generator=g)
    critic = Linear(w * norm / w.norm())
    real, fake = torch.randn(5, 3, 2, 2, generator=g), torch.randn(5, 3, 2, 2, generator=g)
    two = losses.gradient_penalty(critic, real, fake, mode="two-sided")
    one = losses.gradient_penalty(critic, real, fake, mode="one-sided")
    assert two.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    assert one.item() == pytest.approx(max(0.0, norm - 1) ** 2, abs=1e-5)
    if norm == 0.5:  # one-sided: a gradient norm below 1 is not penalised
        assert one.item() == pytest.approx(0.0, abs=1e-6) and two.item() > 0.2
    # The penalty trains the critic: d/dw (‖w‖ − 1)² = 2(‖w‖ − 1) w/‖w‖.
    two.backward()
    expected = 2 * (norm - 1) * critic.w.detach() / norm
    torch.testing.assert_close(critic.w.grad, expected, atol=1e-4, rtol=1e-4)


def test_gradient_penalty_rejects_an_unknown_mode():
    x = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match="one-sided"):
        losses.gradient_penalty(Linear(torch.ones(4)), x, x, mode="sideways")


def test_bce_losses_match_the_formulas():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(7, generator=g), torch.randn(7, generator=g)
    rt, ft = torch.full((7,), 0.9), torch.full((7,), 0.05)
    p_r, p_f = torch.sigmoid(real), torch.sigmoid(fake)
    manual_d = (-(rt * p_r.log() + (1 - rt) * (1 - p_r).log()).mean()
                - (ft * p_f.log() + (1 - ft) * (1 - p_f).log()).mean())
    torch.testing.assert_close(losses.d_loss_bce(real, fake, rt, ft), manual_d)
    torch.testing.assert_close(losses.d_loss_bce(real, fake),
                               -(p_r.log().mean() + (1 - p_f).log().mean()))
    # Non-saturating: −E log D(G(z)) (Goodfellow et al. 2014, Sec. 3), not E log(1 − D(G(z))).
    torch.testing.assert_close(losses.g_loss_nonsaturating(fake), -p_f.log().mean())


def test_wgan_losses_and_aux_loss():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert losses.d_loss_wgan(real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert losses.g_loss_wgan(fake).item() == pytest.approx(0.5)
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    manual = -(logits.log_softmax(1)[[0, 1], y]).mean()
    torch.testing.assert_close(losses.aux_class_loss(logits, y), manual)


def test_fuzzy_targets_stay_within_epsilon():
    g = torch.Generator().manual_seed(0)
    real = losses.fuzzy_targets(1000, 0.1, real=True, generator=g)
    fake = losses.fuzzy_targets(1000, 0.1, real=False, generator=g)
    assert real.min() >= 0.9 and real.max() <= 1.0 and real.std() > 0.02
    assert fake.min() >= 0.0 and fake.max() <= 0.1
    assert torch.equal(losses.fuzzy_targets(3, 0.0, real=True, generator=g), torch.ones(3))


def test_spectral_norm_makes_every_layer_norm_one():
    torch.manual_seed(0)
    d = build_discriminator("dcgan", 1, 28, layers=3, width=8, norm="none")
    init_weights(d, "normal")
    wrapped = apply_spectral_norm(d, n_power_iterations=30)
    assert wrapped == 4  # three convs and the head
    x = torch.randn(4, 1, 28, 28)
    for _ in range(3):  # power iterations run on each training-mode forward pass
        d(x)
    d.eval()
    for m in d.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=1e-3)
            raw = m.parametrizations.weight.original.detach().flatten(1)
            assert torch.linalg.matrix_norm(raw, ord=2).item() != pytest.approx(1.0, abs=1e-2)


def test_weight_clipping_bounds():
    d = build_discriminator("dcgan", 1, 28, layers=3, width=8)
    init_weights(d, "xavier")
    assert max(p.abs().max().item() for p in d.parameters()) > 0.05
    clip_weights(d, 0.01)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01


def test_init_schemes():
    torch.manual_seed(0)
    g = Generator(16, 1, 28, width=32)
    init_weights(g, "normal")
    w = g.net[0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    bn = g.net[1]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and bn.bias.abs().max() == 0
    init_weights(g, "xavier")
    bound = math.sqrt(6 / (w.shape[0] * w[0, 0].numel() + w.shape[1] * w[0, 0].numel()))
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.9 * bound
    with pytest.raises(ValueError, match="init"):
        init_weights(g, "he")


# --- networks --------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32), (3, 64)])
def test_discriminator_shapes(backbone, channels, size):
    x = torch.randn(2, channels, size, size)
    d = build_discriminator(backbone, channels, size, width=8)
    out, aux = d(x)
    assert out.shape == (2,) and aux is None
    # conditional input planes and the ACGAN head together
    d = build_discriminator(backbone, channels, size, width=8, cond_classes=7, aux_classes=7,
                            dropout=0.2)
    out, aux = d(x, torch.tensor([0, 6]))
    assert out.shape == (2,) and aux.shape == (2, 7)


def test_torchvision_backbones_keep_their_architecture():
    vgg = build_discriminator("vgg16", 1, 28).backbone
    convs = [m for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 and convs[0].in_channels == 1 and convs[-1].out_channels == 512
    pools = [m for m in vgg.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 4  # 28 px: the fifth pool would leave no pixel
    assert len([m for m in build_discriminator("vgg16", 3, 32).modules()
                if isinstance(m, nn.MaxPool2d)]) == 5
    res = build_discriminator("resnet18", 3, 32).backbone
    ref = torchvision.models.resnet18(weights=None)
    ours = {k: v.shape for k, v in res.state_dict().items()}
    theirs = {k: v.shape for k, v in ref.state_dict().items() if not k.startswith("fc.")}
    theirs["conv1.weight"] = torch.Size([64, 3, 7, 7])
    assert ours == theirs


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32), (3, 64)])
@pytest.mark.parametrize("layers", [3, 4])
def test_generator_shapes_and_range(channels, size, layers):
    g = Generator(16, channels, size, layers=layers, width=8)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == layers  # report C-2: "3 vs 4 transposed-conv layers"
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1


def test_dcgan_discriminator_layer_count():
    for layers in (3, 4):
        d = build_discriminator("dcgan", 1, 28, layers=layers, width=8, dropout=0.4)
        convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
        drops = [m for m in d.modules() if isinstance(m, nn.Dropout)]
        assert len(convs) == layers and len(drops) == layers  # dropout after every LeakyReLU


def test_conditional_generator_uses_the_label():
    torch.manual_seed(0)
    g = Generator(16, 1, 28, width=8, num_classes=10).eval()
    z = torch.randn(4, 16)
    y = torch.tensor([4, 4, 9, 0])
    out = g(z, y)
    # The label enters as a one-hot appended to z (Mirza & Osindero 2014).
    manual = g.net(torch.cat([z, F.one_hot(y, 10).float()], 1).view(4, -1, 1, 1))
    torch.testing.assert_close(out, manual)
    assert not torch.allclose(g(z, torch.full((4,), 4)), g(z, torch.full((4,), 9)))
    with pytest.raises(ValueError, match="class labels"):
        g(z)


def test_conditional_discriminator_sees_label_planes():
    torch.manual_seed(0)
    d = build_discriminator("dcgan", 1, 28, width=8, cond_classes=10).eval()
    x = torch.randn(2, 1, 28, 28)
    a, _ = d(x, torch.tensor([4, 4]))
    b, _ = d(x, torch.tensor([9, 9]))
    assert not torch.allclose(a, b)
    assert d.backbone[0].in_channels == 11


# --- the plug-in ------------------------------------------------------------------------------


def test_registered_and_config_validation():
    assert get_algorithm("gan") is GAN
    with pytest.raises(ValueError, match="backbone must be one of"):
        GANConfig(backbone="alexnet")
    with pytest.raises(ValueError, match="label_noise applies to the bce loss"):
        GANConfig(loss="wgan", label_noise=0.1)
    with pytest.raises(ValueError, match="n_critic must be a positive"):
        GANConfig(n_critic=0)


def test_batch_larger_than_the_data_names_both(data):
    with pytest.raises(ValueError, match="batch_size 8 exceeds the 4 training images of synthetic"):
        make(data, train_limit=4)


def test_conditioning_needs_labels():
    one = synthetic_data(classes=1)
    with pytest.raises(Exception, match="needs a labelled dataset with several classes"):
        make(one, conditioning="concat")


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_counts_discriminator_updates(data, n_critic):
    algo = make(data, loss="wgan", optimizer="rmsprop", clip=0.01, n_critic=n_critic, lr=5e-4)
    for step in range(2):
        algo.train_step(step)
    d_steps = {int(s["step"]) for s in algo.opt_d.state.values()}
    g_steps = {int(s["step"]) for s in algo.opt_g.state.values()}
    assert d_steps == {2 * n_critic} and g_steps == {2}
    # An epoch counts real images: n_critic batches per iteration.
    assert algo.steps_per_epoch == len(algo._train_x) // (8 * n_critic)
    # Weight clipping holds after every critic update.
    assert max(p.abs().max().item() for p in algo.D.parameters()) <= 0.01 + 1e-7


@pytest.mark.parametrize("overrides", [
    dict(),
    dict(conditioning="concat", label_noise=0.1, dropout=0.3),
    dict(conditioning="acgan"),
    dict(loss="wgan", gp_weight=10.0, gp_mode="one-sided", d_norm="layer", n_critic=2),
    dict(loss="wgan", spectral_norm=True, clip=0.01, optimizer="rmsprop", d_norm="none"),
    dict(spectral_norm=True, noise="uniform", init="xavier", g_layers=3, d_layers=4),
])
def test_train_step_variants(data, overrides):
    algo = make(data, **overrides)
    metrics = algo.train_step(0)
    assert {"loss_d", "loss_g"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    if overrides.get("gp_weight"):
        assert metrics["gp"] >= 0
    if overrides.get("loss") == "wgan":
        assert "critic_real" in metrics
    else:
        assert 0 <= metrics["d_real"] <= 1
    assert algo.D.aux is not None if overrides.get("conditioning") == "acgan" else algo.D.aux is None


def test_resume_gives_identical_numbers(data):
    kw = dict(dropout=0.3, label_noise=0.1, conditioning="concat")
    straight = make(data, steps=6, **kw)
    ref = [straight.train_step(s) for s in range(6)]

    first = make(data, steps=6, **kw)
    got = [first.train_step(s) for s in range(3)]
    state = first.state_dict()
    torch.manual_seed(1234)  # a different global RNG state: the checkpoint must restore it
    second = make(data, steps=6, seed=0, **kw)
    second.load_state_dict(state)
    got += [second.train_step(s) for s in range(3, 6)]
    assert got == ref
    for a, b in zip(straight.G.state_dict().values(), second.G.state_dict().values()):
        assert torch.equal(a, b)
    assert list(second.loss_g_hist) == list(straight.loss_g_hist)


def test_epochs_and_fixed_noise_captures(data):
    algo = make(data, steps=18, epoch_images=16)  # 2 iterations per epoch → 9 epochs
    assert algo.steps_per_epoch == 2 and algo.epochs == 9
    assert algo.capture_epochs == [1, 4, 9]  # report A-Q1a: epoch 1, n/2 and n
    for s in range(18):
        algo.train_step(s)
    assert sorted(algo.grids) == [1, 4, 9]
    assert algo.grids[1].shape == (10, 1, 28, 28) and algo.grids[1].dtype == torch.uint8
    assert not torch.equal(algo.grids[1], algo.grids[9])


def test_divergence_raises_through_the_loop(data, monkeypatch):
    algo = make(data, steps=5)
    # Injected NaN in the discriminator loss from the third call on.
    calls = {"n": 0}
    real_loss = losses.d_loss_bce

    def nan_after_two(*args, **kwargs):
        calls["n"] += 1
        out = real_loss(*args, **kwargs)
        return out * float("nan") if calls["n"] > 2 else out

    monkeypatch.setattr(gan_module.losses, "d_loss_bce", nan_after_two)
    with pytest.raises(DivergedError, match="step 2") as info:
        run_loop(algo, Schedule(steps=5), train_key="x")
    assert info.value.step == 2


def test_validate_test_and_artifacts(data, classifier, tmp_path):
    algo = make(data, steps=4, classifier=classifier, conditioning="concat", target_class=3,
                contrast_class=5, epoch_images=16)
    result = run_loop(algo, Schedule(steps=4, eval_every=2), train_key="x")
    assert [p["step"] for p in result.val_curve] == [2, 4]
    assert {"fid", "is", "class_acc"} <= set(result.val_curve[0])
    evaluation = algo.test(result.curves)
    est = evaluation.metrics
    assert {"fid", "is", "kid", "kid_std", "fid_drop", "class_acc", "class_share_min"} <= set(est)
    assert est["fid"].mean > 0 and 1 <= est["is"].mean <= 10
    assert est["class_acc"].unit == "%" and est["class_acc"].n == 20
    fids = [v["fid"] for v in result.val_curve]
    assert est["fid_drop"].mean == pytest.approx(fids[0] - fids[-1])
    files = algo.write_artifacts(tmp_path, evaluation, result.curves)
    names = {f.name for f in files}
    assert {"fixed_noise_epochs.png", "losses.png", "fidelity_per_epoch.png",
            "latent_interpolation.png", "latent_perturbation.png",
            "interpolation_data_vs_latent.png", "class_histogram.png", "requested_class.png",
            "condition_flip_pairs.png", "evaluation.json"} == names
    for f in files:
        assert f.exists() and 0 < f.stat().st_size < 300_000
    info = json.loads((tmp_path / "evaluation.json").read_text())
    assert [e["epoch"] for e in info["evaluations"]] == [1.0, 2.0]  # the loop's curve, by epoch
    assert sum(info["class_histogram"].values()) == 60
    assert info["captured_epochs"] == [1, 2]
    assert info["class_acc_target"]["class"] == "3"
    # the class-balanced summary is the mean of the per-class accuracies (equal samples each)
    per_class = info["class_acc_per_class"]
    assert len(per_class) == algo.num_classes
    assert est["class_acc_mean"].mean == pytest.approx(100 * np.mean(list(per_class.values())))
    assert est["class_acc_mean"].n == 20 * algo.num_classes


def test_unconditional_test_has_no_class_accuracy(data, classifier, tmp_path):
    algo = make(data, steps=2, classifier=classifier)
    loop = run_loop(algo, Schedule(steps=2), train_key="x")
    evaluation = algo.test(loop.curves)
    est = evaluation.metrics
    assert "class_acc" not in est and "class_acc_mean" not in est
    assert "fid_drop" not in est  # one evaluation only
    names = {f.name for f in algo.write_artifacts(tmp_path, evaluation, loop.curves)}
    assert "requested_class.png" not in names and "class_histogram.png" in names
    assert "samples.png" in names


def test_colour_data_and_resize(classifier):
    colour = synthetic_data(n=48, channels=3, size=40, classes=4)
    algo = make(colour, image_size=32, d_layers=4)
    assert algo._train_x.shape[1:] == (3, 32, 32)
    algo.train_step(0)
    assert algo.generate(algo.fixed_z).shape == (10, 3, 32, 32)


def test_eval_only_fields_do_not_change_training():
    from gensuite.api import eval_only_fields

    eval_fields = eval_only_fields(GANConfig)
    assert {"target_class", "test_samples", "class_samples", "hist_samples"} <= eval_fields
    assert not {"eval_samples", "classifier", "batch_size"} & eval_fields
    assert dataclasses.replace(GANConfig(), target_class=4) != GANConfig()
