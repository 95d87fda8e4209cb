"""Suite parsing: the happy path, and every error is one line naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gensuite.config import PROFILES, list_suites, load_suite
from gensuite.errors import GensuiteError, SuiteFileError
from tests.conftest import MINIMAL_SUITE


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_minimal_suite_parses_into_frozen_dataclasses(suite_file):
    spec = load_suite(suite_file)
    assert spec.name == "mini" and [c.id for c in spec.cases] == ["c1", "c2"]
    assert spec.cases[0].reported.value == 98.8
    assert spec.cases[1].reported is None
    assert set(spec.profiles) == set(PROFILES)
    with pytest.raises(AttributeError):
        spec.name = "x"  # frozen


def test_param_resolution_order(suite_file):
    spec = load_suite(suite_file)
    params = spec.resolve_params(spec.case("c2"), "smoke")
    assert params["distance"] == "cosine" and params["train_way"] == 5


def test_every_shipped_suite_is_valid():
    names = list_suites()
    assert "protonet" in names
    for name in names:
        spec = load_suite(name)
        assert spec.cases and all(c.row for c in spec.cases)
        for case in spec.cases:
            if case.reported:
                assert case.reported.source.strip(), f"{name}/{case.id} lacks a citation"


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('metric = "accuracy"', 'metric = "accuracy"\ncolour = "blue"', r"suite\.colour: unknown key"),
        ('title = "Minimal suite for tests"', "", r"suite\.title: missing required key"),
        ('algorithm = "protonet"', 'algorithm = "nope"', r"suite\.algorithm: unknown plug-in 'nope'; known: .*protonet"),
        ('dataset = "omniglot-vinyals"', 'dataset = "nope"', r"suite\.dataset: unknown dataset 'nope'"),
        # the plug-in's Config.data_type against the builder's return type, before any training
        ('dataset = "omniglot-vinyals"', 'dataset = "mnist"', r"suite\.dataset: dataset 'mnist' gives ImageClassData; plug-in 'protonet' takes FewShotData"),
        ('table = "t1"\nrow = "5-way 1-shot"\n', 'table = "t1"\nrow = "5-way 1-shot"\ndataset = "lfw-faces"\n', r"cases\[0\]\.dataset: dataset 'lfw-faces' gives ImageClassData; plug-in 'protonet' takes FewShotData"),
        ("train_way = 5", 'train_wya = 5', r"defaults\.train_wya: unknown parameter of algorithm 'protonet'"),
        ('test_shot = 1 }\nreported', 'test_shot = 1, lr = "fast" }\nreported', r"cases\[0\]\.params\.lr: expected float, got str"),
        ('params = { distance = "cosine"', 'params = { distance = "manhattan"', r"cases\[1\] \(c2.*manhattan"),
        ("steps = 3,", "steps = 0,", r"profiles\.smoke\.schedule\.steps: must be at least 1"),
        ("steps = 3,", 'steps = "3",', r"profiles\.smoke\.schedule\.steps: expected int, got str"),
        ("steps = 3,", "steps = 3, patience = 2,", r"profiles\.smoke\.schedule\.patience: needs monitor"),
        ("steps = 3,", 'steps = 3, patience = 2, monitor = "val_loss", monitor_mode = "up",', r"schedule\.monitor_mode: must be 'min' or 'max'"),
        ("[profiles.paper]\nschedule = { steps = 5 }", "", r"profiles: every suite supports all profiles"),
        ('table = "t1"\nrow = "5-way 1-shot"\n', 'table = "t9"\nrow = "5-way 1-shot"\n', r"cases\[0\]\.table: no \[tables\.t9\]"),
        ('source = "Snell et al. (2017), Table 1" }', 'source = "" }', r"cases\[0\]\.reported\.source: a reported number needs its citation"),
        ('value = 98.8, ', "", r"cases\[0\]\.reported\.value: missing required key"),
        ('id = "c2"', 'id = "c1"', r"cases\[1\]\.id: duplicate case id 'c1'"),
        ('id = "c2"', 'id = "_c2"', r"cases\[1\]\.id: '_c2': use letters, digits"),
        ('id = "c2"', 'id = "a/b"', r"cases\[1\]\.id: 'a/b': use letters, digits"),
        ('case = "c1"', 'case = "c7"', r"search\.case: no case 'c7'"),
        ('type = "float"', 'type = "gaussian"', r"search\.params\.lr\.type: unknown search type"),
        ("low = 1e-4, high = 1e-2", "low = 1e-2, high = 1e-4", r"search\.params\.lr\.low: low"),
        ("[profiles.smoke]", "[profiles.tiny]\nschedule = { steps = 1 }\n[profiles.smoke]", r"profiles\.tiny: unknown profile"),
    ],
)
def test_errors_name_file_and_key(tmp_path, old, new, where):
    assert old in MINIMAL_SUITE, old
    path = _write(tmp_path, MINIMAL_SUITE.replace(old, new, 1))
    with pytest.raises(SuiteFileError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert re.search(where, message), message


def test_invalid_toml_is_one_line(tmp_path):
    path = _write(tmp_path, "[suite\nname=")
    with pytest.raises(SuiteFileError, match=r"not valid TOML") as info:
        load_suite(path)
    assert "\n" not in str(info.value)


def test_unknown_suite_name_lists_known_ones():
    with pytest.raises(GensuiteError, match=r"unknown suite 'nonesuch'; known: .*protonet"):
        load_suite("nonesuch")


def test_profile_dataset_options_sit_between_suite_and_case(tmp_path):
    text = MINIMAL_SUITE.replace(
        "[profiles.paper]\nschedule = { steps = 5 }",
        '[profiles.paper]\nschedule = { steps = 5 }\ndataset_options = { train_split = "trainval" }')
    spec = load_suite(_write(tmp_path, text))
    c1 = spec.case("c1")
    assert spec.dataset_for(c1, "paper") == ("omniglot-vinyals", {"train_split": "trainval"})
    assert spec.dataset_for(c1, "quick") == ("omniglot-vinyals", {"train_split": "train"})
    assert spec.dataset_for(c1) == ("omniglot-vinyals", {"train_split": "train"})
