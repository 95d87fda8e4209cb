"""SimSiam (issue 15): the stop-gradient, the loss at collapse, the collapse indicator, the kNN
monitor against a brute-force computation, and the batched augmentations against
torchvision.transforms.v2 (operation by operation) and their seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF  # noqa: N812

from gensuite.algorithms import simsiam_augment as aug
from gensuite.algorithms.simsiam import SimSiam, SimSiamConfig, simsiam_loss
from gensuite.api import RunContext, Schedule
from gensuite.data.containers import ImageClassData
from gensuite.models.simsiam import CifarResNet, output_std, parameter_count


def _data(n_train: int = 32, n_test: int = 16) -> ImageClassData:
    """SYNTHETIC 32-px RGB images, 10 classes: not real data."""
    return ImageClassData.synthetic(0, n_train=n_train, n_test=n_test, shape=(3, 32, 32),
                                    classes=10)


def _algo(steps: int = 4, **kw) -> SimSiam:
    config = SimSiamConfig(**{**SimSiam.tiny_config, **kw})
    return SimSiam(config, _data(), RunContext(seed=0, schedule=Schedule(steps=steps)))


# ---------------------------------------------------------------- loss and stop-gradient


def test_stop_gradient_sends_no_gradient_through_the_target_branch():
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(6, 5, generator=g, requires_grad=True) for _ in range(4))
    simsiam_loss(p1, p2, z1, z2, stop_gradient=True).backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0
    q1, q2, y1, y2 = (t.detach().clone().requires_grad_() for t in (p1, p2, z1, z2))
    simsiam_loss(q1, q2, y1, y2, stop_gradient=False).backward()
    assert y1.grad.abs().sum() > 0 and y2.grad.abs().sum() > 0


def test_in_the_network_the_projector_learns_only_through_the_predictor_branch():
    # With stop-gradient and an identity predictor the loss still has a gradient (through p),
    # and it equals the gradient of the p-side alone: the z-side contributes nothing.
    algo = _algo(predictor="identity")
    x = torch.randn(8, 3, 32, 32)
    z1, z2 = algo.projector(algo.backbone(x)), algo.projector(algo.backbone(x.flip(-1)))
    w = algo.projector[0].weight
    g_sg = torch.autograd.grad(simsiam_loss(z1, z2, z1, z2, True), w, retain_graph=True)[0]
    g_p = torch.autograd.grad(0.5 * -torch.cosine_similarity(z1, z2.detach()).mean()
                              + 0.5 * -torch.cosine_similarity(z2, z1.detach()).mean(), w,
                              retain_graph=True)[0]
    g_all = torch.autograd.grad(simsiam_loss(z1, z2, z1, z2, False), w)[0]
    torch.testing.assert_close(g_sg, g_p)
    assert not torch.allclose(g_sg, g_all)


def test_identical_views_at_a_collapsed_constant_output_give_minus_one():
    z = torch.full((8, 16), 0.7)
    assert simsiam_loss(z, z, z, z, stop_gradient=True).item() == pytest.approx(-1.0)
    assert simsiam_loss(z, z, z, z, stop_gradient=False).item() == pytest.approx(-1.0)


def test_collapse_indicator_is_one_over_sqrt_d_for_gaussian_outputs_and_zero_collapsed():
    g = torch.Generator().manual_seed(0)
    for d in (16, 256):
        z = torch.randn(20_000, d, generator=g)
        assert output_std(z) == pytest.approx(1 / math.sqrt(d), rel=0.02)
    assert output_std(torch.ones(100, 64) * 3.0) == pytest.approx(0.0, abs=1e-7)


# ---------------------------------------------------------------- networks and schedule


def test_the_cifar_resnet18_is_torchvisions_with_a_small_stem():
    net = CifarResNet("resnet18")
    # torchvision's resnet18 without fc (11 176 512) with the 7×7 stem (9 408) replaced by 3×3
    # (1 728): 11 168 832
    assert parameter_count(net) == 11_168_832
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
    small = CifarResNet("resnet10-w16-s2")
    assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 128)


def test_cosine_rate_and_the_fixed_predictor_rate():
    algo = _algo(steps=10, batch_size=8, base_lr=0.03)
    lr = 0.03 * 8 / 256
    assert algo.lr_at(0) == pytest.approx(lr) and algo.lr_at(10) == pytest.approx(0.0)
    assert algo.lr_at(5) == pytest.approx(lr / 2)
    algo.train_step(5)
    rates = [g["lr"] for g in algo.opt.param_groups]
    assert rates == [pytest.approx(lr / 2), pytest.approx(lr)]  # backbone+projector, predictor


# ---------------------------------------------------------------- kNN monitor


def test_the_knn_monitor_matches_a_brute_force_computation():
    algo = _algo(steps=2, knn_k=5)
    for s in range(2):
        algo.train_step(s)
    correct, _, _ = algo._knn(0)
    bank, _ = algo.embed(algo.train_images)
    test, _ = algo.embed(algo.data.test_images)
    b = bank.double().numpy()
    t = test.double().numpy()
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    labels = algo.data.train_labels.numpy()
    expected = []
    for q, y in zip(t, algo.data.test_labels.numpy()):
        sim = b @ q
        top = np.argsort(-sim, kind="stable")[:5]
        votes = np.zeros(10)
        np.add.at(votes, labels[top], np.exp(sim[top] / 0.1))
        expected.append(float(np.argmax(votes) == y))
    assert correct.tolist() == expected


# ---------------------------------------------------------------- augmentations


@pytest.mark.parametrize("mine, theirs, lo, hi", [
    (aug.brightness, TF.adjust_brightness, 0.6, 1.4),
    (aug.contrast, TF.adjust_contrast, 0.6, 1.4),
    (aug.saturation, TF.adjust_saturation, 0.6, 1.4),
    (aug.hue, TF.adjust_hue, -0.1, 0.1),
])
def test_batched_jitter_operations_equal_torchvisions(mine, theirs, lo, hi):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 3, 32, 32, generator=g)
    f = torch.rand(32, generator=g) * (hi - lo) + lo
    expected = torch.stack([theirs(x[i], float(f[i])) for i in range(32)])
    torch.testing.assert_close(mine(x, f), expected, atol=2e-6, rtol=0)


def test_batched_crops_and_grayscale_equal_torchvisions():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(64, 3, 32, 32, generator=g)
    boxes = aug.crop_boxes(64, 32, g)
    expected = torch.stack([TF.resized_crop(x[i], *[int(v) for v in boxes[i]], [32, 32],
                                            antialias=True) for i in range(64)])
    torch.testing.assert_close(aug.resized_crops(x, boxes, 32), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(aug.grayscale(x), TF.rgb_to_grayscale(x), atol=1e-6, rtol=0)


def test_crop_boxes_follow_random_resized_crops_distribution():
    # areas and aspect ratios of 4 000 boxes against torchvision's own get_params
    g = torch.Generator().manual_seed(3)
    boxes = aug.crop_boxes(4000, 32, g).double()
    torch.manual_seed(3)
    img = torch.zeros(3, 32, 32)
    ref = torch.tensor([v2.RandomResizedCrop.get_params(img, list(aug.SCALE), list(aug.RATIO))
                        for _ in range(4000)]).double()
    for mine, theirs in ((boxes[:, 2] * boxes[:, 3], ref[:, 2] * ref[:, 3]),
                         (boxes[:, 3] / boxes[:, 2], ref[:, 3] / ref[:, 2]),
                         (boxes[:, 0], ref[:, 0])):
        assert stats.ks_2samp(mine.numpy(), theirs.numpy()).pvalue > 1e-3
    assert (boxes[:, 0] + boxes[:, 2] <= 32).all() and (boxes[:, 1] + boxes[:, 3] <= 32).all()


@pytest.mark.parametrize("views", [aug.batched_views, aug.torchvision_views])
def test_views_are_seeded(views):
    images = _data().train_images[:8]
    a = views(images, torch.Generator().manual_seed(5))
    b = views(images, torch.Generator().manual_seed(5))
    c = views(images, torch.Generator().manual_seed(6))
    assert a.shape == (8, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    state = torch.get_rng_state()
    views(images, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)  # the global stream is untouched


def test_batched_and_torchvision_views_have_the_same_statistics():
    # the same distribution: per-image mean and grayscale share over 2 000 views each
    images = (torch.rand(2000, 3, 32, 32, generator=torch.Generator().manual_seed(7)) * 255
              ).to(torch.uint8)
    a = aug.batched_views(images, torch.Generator().manual_seed(8))
    b = aug.torchvision_views(images, torch.Generator().manual_seed(8))

    def gray_share(x):
        return float(((x[:, 0] * aug.CIFAR_STD[0] + aug.CIFAR_MEAN[0]
                       - x[:, 1] * aug.CIFAR_STD[1] - aug.CIFAR_MEAN[1]).abs()
                      .amax(dim=(1, 2)) < 1e-4).double().mean())

    assert abs(gray_share(a) - gray_share(b)) < 0.04  # 0.2 expected, binomial sd 0.009
    assert stats.ks_2samp(a.mean(dim=(1, 2, 3)).numpy(),
                          b.mean(dim=(1, 2, 3)).numpy()).pvalue > 1e-3
