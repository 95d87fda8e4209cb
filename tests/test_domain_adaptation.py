"""DANN and ADDA (issue 14): the gradient reversal layer, the schedules, target labels never read
by adaptation, ADDA's frozen source encoder, and the SVHN rows when SVHN is absent."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

from gensuite.algorithms.adda import Adda, AddaConfig
from gensuite.algorithms.dann import Dann, DannConfig
from gensuite.api import RunContext, Schedule
from gensuite.config import load_suite
from gensuite.data.containers import DomainPairData, ImageClassData
from gensuite.data.digit_domains import build_digit_domains
from gensuite.data.root import DataRoot
from gensuite.errors import MissingDataError
from gensuite.models.domain_adaptation import DannFeatures, LeNetEncoder, reverse_gradient
from gensuite.records import iter_records
from gensuite.runner import BenchOptions, run_suite


def _pair(seed: int = 0, n: int = 48) -> DomainPairData:
    """SYNTHETIC digits-shaped domains (3×28×28, 10 classes): not real data."""
    src = ImageClassData.synthetic(seed, n_train=n, n_test=24, shape=(3, 28, 28), classes=10)
    tgt = ImageClassData.synthetic(seed + 1, n_train=n, n_test=24, shape=(3, 28, 28), classes=10)
    return DomainPairData(info=src.info, source=src, target=tgt)


def _poisoned(data: DomainPairData) -> DomainPairData:
    """The same pair with the target's training labels replaced by other labels."""
    t = data.target
    bad = (t.train_labels + 1 + torch.arange(len(t.train_labels)) % 7) % 10
    assert (bad != t.train_labels).all()
    return dataclasses.replace(data, target=dataclasses.replace(t, train_labels=bad))


def _trained(cls, config, data: DomainPairData, steps: int, schedule: int | None = None):
    torch.manual_seed(0)
    algo = cls(config, data, RunContext(seed=0, schedule=Schedule(steps=schedule or steps)))
    for s in range(steps):
        algo.train_step(s)
    return algo


def _equal_states(a: dict, b: dict) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_states(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal_states(x, y) for x, y in zip(a, b))
    return a == b


# ---------------------------------------------------------------- gradient reversal


def test_gradient_reversal_is_identity_forward_and_minus_lambda_backward():
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 7, dtype=torch.float64)
    y = reverse_gradient(x, 0.37)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.37 * w)


def test_gradient_reversal_passes_autograd_check_where_it_is_a_true_gradient():
    # With λ = −1 the backward (−λ·grad = grad) is the identity's true Jacobian: gradcheck
    # compares it with finite differences; with λ = 1 the same check must fail (a reversal).
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: reverse_gradient(t, -1.0), (x,))
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(lambda t: reverse_gradient(t, 1.0), (x,))


def test_the_domain_loss_pushes_the_features_against_the_domain_classifier():
    # One DANN step with λ = 1: the features' gradient from the domain loss is the negative of
    # what it would be without the reversal (the label loss switched off).
    data = _pair()
    algo = Dann(DannConfig(batch_size=8, gamma=0.0, lambda_max=1.0, val_images=0), data,
                RunContext(seed=0, schedule=Schedule(steps=1)))
    x = torch.randn(4, 3, 28, 28)
    feats = algo.features(x)
    g_rev = torch.autograd.grad(algo.domain_head(reverse_gradient(feats, 1.0)).sum(),
                                algo.features.net[0].weight, retain_graph=True)[0]
    g_plain = torch.autograd.grad(algo.domain_head(feats).sum(), algo.features.net[0].weight)[0]
    torch.testing.assert_close(g_rev, -g_plain)


# ---------------------------------------------------------------- schedules and shapes


def test_lambda_and_learning_rate_follow_the_papers_formulas():
    algo = Dann(DannConfig(batch_size=8, val_images=0), _pair(),
                RunContext(seed=0, schedule=Schedule(steps=200)))
    for step in (0, 1, 50, 100, 199, 200):
        p = step / 200
        assert algo.lambda_at(step) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
        assert algo.lr_at(step) == pytest.approx(0.01 / (1 + 10 * p) ** 0.75)
    assert algo.lambda_at(0) == 0.0
    adam = Dann(DannConfig(optimizer="adam", lr=1e-4, batch_size=8), _pair(),
                RunContext(seed=0, schedule=Schedule(steps=200)))
    assert adam.lr_at(150) == 1e-4 and isinstance(adam.opt, torch.optim.Adam)


@pytest.mark.parametrize("size, width", [(28, 48 * 4 * 4), (32, 48 * 5 * 5)])
def test_dann_features_have_the_papers_width(size, width):
    net = DannFeatures(size)
    assert net.width == width
    assert net(torch.zeros(2, 3, size, size)).shape == (2, width)
    assert LeNetEncoder(size)(torch.zeros(2, 3, size, size)).shape == (2, 500)


# ---------------------------------------------------------------- target labels


@pytest.mark.parametrize("cls, config", [
    (Dann, DannConfig(mode="dann", batch_size=8, val_images=0)),
    (Dann, DannConfig(mode="source-only", batch_size=8, val_images=0)),
    (Adda, AddaConfig(mode="adda", pretrain_steps=3, batch_size=8, val_images=0)),
])
def test_adaptation_never_reads_target_training_labels(cls, config):
    data = _pair()
    clean = _trained(cls, config, data, 8)
    poisoned = _trained(cls, config, _poisoned(data), 8)
    assert _equal_states(clean.state_dict(), poisoned.state_dict())


@pytest.mark.parametrize("cls, config", [
    (Dann, DannConfig(mode="target-only", batch_size=8, val_images=0)),
    (Adda, AddaConfig(mode="target-only", batch_size=8, val_images=0)),
])
def test_the_target_only_rows_do_read_them(cls, config):
    # the poisoning above would show: the upper-bound rows train on the target's labels
    data = _pair()
    clean = _trained(cls, config, data, 4)
    poisoned = _trained(cls, config, _poisoned(data), 4)
    assert not _equal_states(clean.state_dict(), poisoned.state_dict())


# ---------------------------------------------------------------- ADDA's two stages


def test_adda_source_encoder_is_frozen_during_the_adversarial_stage():
    config = AddaConfig(mode="adda", pretrain_steps=3, batch_size=8, val_images=0)
    algo = Adda(config, _pair(), RunContext(seed=0, schedule=Schedule(steps=10)))
    for s in range(3):
        algo.train_step(s)
    before = {k: v.clone() for k, v in algo.source_encoder.state_dict().items()}
    classifier = {k: v.clone() for k, v in algo.classifier.state_dict().items()}
    target_before = {k: v.clone() for k, v in algo.target_encoder.state_dict().items()}
    for s in range(3, 10):
        out = algo.train_step(s)
    assert {"loss_domain", "loss_target_encoder", "domain_acc"} <= set(out)
    assert _equal_states(algo.source_encoder.state_dict(), before)
    assert _equal_states(algo.classifier.state_dict(), classifier)
    # the target encoder started as the source encoder and moved
    assert not _equal_states(algo.target_encoder.state_dict(), before)
    assert not _equal_states(algo.target_encoder.state_dict(), target_before)


def test_adda_stage_one_is_the_source_only_row_of_the_same_seed():
    data = _pair()
    adda = _trained(Adda, AddaConfig(mode="adda", pretrain_steps=4, batch_size=8,
                                     val_images=0), data, 4, schedule=8)
    src = _trained(Adda, AddaConfig(mode="source-only", pretrain_steps=4, batch_size=8,
                                    val_images=0), data, 4)
    assert _equal_states(adda.source_encoder.state_dict(), src.source_encoder.state_dict())
    assert _equal_states(adda.classifier.state_dict(), src.classifier.state_dict())


def test_adda_refuses_a_schedule_without_adversarial_steps():
    with pytest.raises(ValueError, match="leaves no adversarial step"):
        Adda(AddaConfig(pretrain_steps=5), _pair(), RunContext(seed=0,
                                                               schedule=Schedule(steps=5)))


# ---------------------------------------------------------------- data


def test_digit_domains_builds_the_papers_pair(data_root):
    d = build_digit_domains(DataRoot(data_root))
    assert d.source.display_name == "MNIST" and d.target.display_name == "MNIST-M"
    assert d.source.train_images.shape == (60_000, 3, 28, 28)
    assert d.target.train_images.shape == (59_001, 3, 28, 28)  # the original split
    assert d.target.test_images.shape == (9_001, 3, 28, 28)
    # MNIST's grey repeated: the three channels are equal
    x = d.source.train_images[:50]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert "original train / test split" in d.info.description
    at32 = build_digit_domains(DataRoot(data_root), source="mnist-m", target="mnist", size=32)
    assert at32.source.train_images.shape == (59_001, 3, 32, 32)
    assert (at32.target.train_images[:, :, :2] == 0).all()  # MNIST padded by 2 px
    assert torch.equal(at32.target.train_images[:5, :, 2:-2, 2:-2],
                       d.source.train_images[:5])


@pytest.mark.parametrize("options, match", [
    ({"source": "usps"}, "source must be one of"),
    ({"source": "mnist", "target": "mnist"}, "nothing to adapt"),
    ({"size": 64}, "size must be one of"),
])
def test_digit_domains_rejects_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        build_digit_domains(DataRoot(), **options)


def test_missing_svhn_is_the_data_root_error(empty_roots):
    with pytest.raises(MissingDataError, match="dataset 'svhn' not found: looked for") as e:
        build_digit_domains(DataRoot(empty_roots), source="svhn", target="mnist")
    assert "\n" not in str(e.value) and e.value.dataset == "svhn"


def test_svhn_rows_are_not_run_in_the_whole_suite_and_an_error_when_named(
        tmp_path, data_root, empty_roots):  # data_root first: empty_roots moves the env
    # a data root with MNIST and MNIST-M only, whatever else this machine holds
    for name in ("mnist", "mnist_m"):
        (empty_roots / name).symlink_to(data_root / name)
    spec = load_suite("adda-digits")
    results = tmp_path / "results"
    named = BenchOptions(profile="smoke", results_dir=results, device="cpu",
                         cases=("t2-adda-s2m",), tracking_uri="none", data_root=empty_roots)
    with pytest.raises(MissingDataError, match="'svhn' not found"):
        run_suite(spec, named, echo=lambda _: None)
    assert not list(iter_records(results))
    whole = dataclasses.replace(named, cases=())
    outcomes = run_suite(dataclasses.replace(spec, cases=tuple(
        c for c in spec.cases if c.id in ("t2-adda-s2m", "src-m2mm"))), whole,
        echo=lambda _: None)
    assert [o.status for o in outcomes] == ["finished", "not run"]
    rec = next(r for r in iter_records(results) if r["status"] == "not run")
    assert rec["error"].startswith("svhn not in the data root: dataset 'svhn' not found")
    assert rec["case"]["column"] == "SVHN → MNIST" and not rec["metrics"]
    assert rec["config"]["mode"] == "adda" and rec["dataset"]["options"]["source"] == "svhn"
    # the report: the original's layout (rows × columns) above the per-case table
    from gensuite.report.render import render_reports

    md = render_reports(results, tmp_path / "reports", ["adda-digits"], ("smoke",))[0]
    text = md.read_text()
    assert "|  | SVHN → MNIST |" in text
    assert "| ADDA | not run (svhn not in the data root); reported 76.0% [1] |" in text
    assert "| ADDA, SVHN → MNIST | 76.0% [1] | not run |" in text
    assert "| Source only, MNIST → MNIST-M | no published reference |" in text


def test_a_column_outside_its_tables_columns_is_a_suite_file_error(tmp_path):
    from gensuite.config import SUITES_DIR
    from gensuite.errors import SuiteFileError

    text = (SUITES_DIR / "adda-digits.toml").read_text()
    for bad, match in ((text.replace('column = "MNIST-M → MNIST"', 'column = "MNIST → USPS"', 1),
                        "'MNIST → USPS': table 'here' has columns"),
                       (text.replace('column = "SVHN → MNIST"\n', 'column = "SVHN → MNIST"\n'
                                     'row_extra = 1\n', 1), "row_extra"),
                       (text.replace('columns = ["SVHN → MNIST"]', '', 1),
                        "table 'tzeng-table-2' declares no columns")):
        path = tmp_path / "adda-digits.toml"
        path.write_text(bad)
        with pytest.raises(SuiteFileError, match=match):
            load_suite(path)
