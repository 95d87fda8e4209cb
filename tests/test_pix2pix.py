"""The pix2pix plug-in (gensuite.algorithms.pix2pix) and its networks: sizes, receptive fields,
seeded jitter, the authors' checkpoint format, resume, and the pretrained row without weights.
Synthetic pairs (PairedImageData.synthetic) are test data, not results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from gensuite.algorithms.pix2pix import Pix2Pix, Pix2PixConfig
from gensuite.api import Curves, RunContext, Schedule
from gensuite.data.containers import PairedImageData
from gensuite.errors import CaseNotRunnable, GensuiteError
from gensuite.metrics.similarity import ssim_estimate
from gensuite.models.pix2pix import (
    PatchDiscriminator,
    UnetGenerator,
    load_authors_generator,
    num_downs_for,
    receptive_field,
)


@pytest.mark.parametrize("size", [128, 256])
def test_the_unet_keeps_the_input_size(size):
    g = UnetGenerator(num_downs=num_downs_for(size), ngf=2)
    assert g.num_downs == {128: 7, 256: 8}[size]
    assert g(torch.randn(1, 3, size, size)).shape == (1, 3, size, size)


def test_patchgan_receptive_fields():
    assert receptive_field(3) == 70 and receptive_field(2) == 34  # the paper's 70×70 PatchGAN
    for layers, field in ((3, 70), (2, 34)):
        # the input pixels one central logit depends on: a field × field window
        x = torch.randn(1, 6, 128, 128, requires_grad=True)
        # batch norm in eval mode is per-channel affine: it couples no pixels
        out = PatchDiscriminator(6, 2, layers, norm="batch").eval()(x)
        out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
        rows, cols = x.grad[0].abs().sum(0).nonzero(as_tuple=True)
        assert (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1) == (field,
                                                                                      field)


def _algo(seed=0, data=None, steps=4, **kw) -> Pix2Pix:
    data = data or PairedImageData.synthetic(0, n_train=6, n_test=3, size=32)
    return Pix2Pix(Pix2PixConfig(**{**Pix2Pix.tiny_config, **kw}), data,
                   RunContext(seed=seed, schedule=Schedule(steps=steps)))


def test_jitter_is_seeded_and_moves_input_and_target_together():
    d = PairedImageData.synthetic(0, n_train=6, n_test=3, size=32)
    same = PairedImageData(info=d.info, train_inputs=d.train_inputs, train_targets=d.train_inputs,
                           test_inputs=d.test_inputs, test_targets=d.test_inputs)
    a, b, c = _algo(1, same), _algo(1, same), _algo(2, same)
    ba, bb, bc = [[x._batch() for _ in range(5)] for x in (a, b, c)]
    assert all(torch.equal(x[0], y[0]) for x, y in zip(ba, bb))  # same seed: same crops
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(ba, bc))  # another seed: others
    assert all(torch.equal(x, y) for x, y in ba)  # identical halves stay identical: one crop
    assert a.load == round(32 * 1.12) and ba[0][0].shape == (1, 3, 32, 32)


def test_the_authors_checkpoint_format_loads(tmp_path: Path):
    for norm, depth in (("batch", 6), ("instance", 5)):
        g = UnetGenerator(num_downs=depth, ngf=3, norm=norm).eval()
        path = tmp_path / f"latest_net_G_{norm}.pth"
        # DataParallel's prefix, as the authors' multi-GPU training saves it
        torch.save({f"module.{k}": v for k, v in g.state_dict().items()}, path)
        h = load_authors_generator(path).eval()
        x = torch.randn(1, 3, 2**depth, 2**depth)
        assert h.num_downs == depth and torch.equal(g(x), h(x))
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(GensuiteError, match="not a pix2pix U-Net state dict"):
        load_authors_generator(tmp_path / "other.pth")


def test_resume_is_exact():
    a = _algo(steps=6)
    for s in range(2):
        a.train_step(s)
    b = _algo(steps=6)
    b.load_state_dict(a.state_dict())
    assert [a.train_step(s) for s in (2, 3)] == [b.train_step(s) for s in (2, 3)]


@pytest.mark.parametrize("kw, keys", [
    ({}, {"loss_d", "loss_g_gan", "loss_g", "l1"}),
    ({"adversarial": False}, {"loss_g", "l1"}),  # L1 alone: no D at all
    ({"l1_weight": 0.0, "gan_loss": "lsgan"}, {"loss_d", "loss_g_gan", "loss_g", "l1"}),
])
def test_the_loss_variants_train_and_score(kw, keys):
    a = _algo(**kw)
    out = a.train_step(0)
    assert set(out) == keys and all(np.isfinite(v) for v in out.values())
    if "l1_weight" in kw:  # cGAN alone: G's loss is its GAN term only
        assert out["loss_g"] == pytest.approx(out["loss_g_gan"])
    assert set(a.validate()) == {"val_ssim", "val_psnr", "val_l1"}
    r = a.test(Curves())
    assert {"ssim", "psnr", "l1"} <= set(r.metrics) and r.metrics["ssim"].n == 3


def test_evaluation_does_not_disturb_training_randomness():
    a, b = _algo(), _algo()
    a.train_step(0), b.train_step(0)
    a.validate()  # its own dropout seed, inside a forked RNG
    assert a.train_step(1) == b.train_step(1)


def test_the_pretrained_row_without_weights_is_not_run(tmp_path: Path):
    with pytest.raises(CaseNotRunnable, match=r"^no pretrained weights: .*latest_net_G\.pth"):
        Pix2Pix(Pix2PixConfig(**Pix2Pix.tiny_config, pretrained="sat2map"),
                PairedImageData.synthetic(0, size=32),
                RunContext(seed=0, data_root=tmp_path))


def test_ssim_against_skimage_on_a_real_map(data_root):
    from gensuite.data.pix2pix_maps import build_pix2pix_maps
    from gensuite.data.root import DataRoot

    maps = build_pix2pix_maps(DataRoot(data_root)).test_targets[:3].float() / 255
    same = ssim_estimate(maps, maps, data_range=1.0, layout="NCHW", wang2004=True)
    assert same.mean == pytest.approx(1.0)
    grey = torch.full_like(maps, 0.5)
    got = ssim_estimate(maps, grey, data_range=1.0, layout="NCHW", wang2004=True).mean
    ref = np.mean([structural_similarity(
        m.permute(1, 2, 0).double().numpy(), g.permute(1, 2, 0).double().numpy(),
        data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False) for m, g in zip(maps, grey)])
    assert got == pytest.approx(ref, rel=1e-12) and got < 0.9


def test_a_case_that_cannot_run_is_recorded_and_reported_as_not_run(tmp_path: Path, data_root):
    """The pretrained row offline: a "not run" record with the reason, the other cases go on,
    and the report's verdict says why, without listing it among failed runs."""
    from click.testing import CliRunner

    from gensuite.cli import main
    from gensuite.records import iter_records

    results, reports = tmp_path / "results", tmp_path / "reports"
    res = CliRunner().invoke(main, [
        "bench", "--suite", "pix2pix-maps", "--profile", "smoke", "--case", "a-q3-pretrained",
        "--case", "abl-l1", "--results-dir", str(results), "--data-root", str(tmp_path),
        "--no-progress"])
    assert res.exit_code == 0, res.output
    status = {r["case"]["id"]: r for r in iter_records(results)}
    assert status["a-q3-pretrained"]["status"] == "not run"
    assert status["a-q3-pretrained"]["error"].startswith("no pretrained weights: ")
    assert status["abl-l1"]["status"] == "finished"
    res = CliRunner().invoke(main, ["report", "--suite", "pix2pix-maps", "--results-dir",
                                    str(results), "--reports-dir", str(reports),
                                    "--profile", "smoke"])
    assert res.exit_code == 0, res.output
    md = (reports / "pix2pix-maps.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| the authors' pretrained"))
    assert line.endswith("| not run (no pretrained weights) |") and "| not run |" in line
    assert "## Failed runs" not in md
