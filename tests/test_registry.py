"""Registries: decorator registration, duplicates raise, unknown names list the known ones,
every entry knows its origin, and a plug-in class that breaks the contract is refused."""

import dataclasses
from typing import ClassVar

import pytest

from gensuite.api import AlgorithmBase, check_algorithm
from gensuite.errors import RegistryError
from gensuite.plugins import algorithms, datasets
from gensuite.registry import Registry, registering_from


def test_register_and_get():
    reg = Registry("widget")

    @reg.register("a")
    class A: ...

    assert reg.get("a") is A and "a" in reg and reg.names() == ["a"]
    assert reg.entry("a").origin == "tests"  # outside a plug-in package: the module's package


def test_duplicate_name_raises_and_names_the_first():
    reg = Registry("widget")
    with registering_from("pkg-one 1.0"):
        reg.register("a")(object)
    with pytest.raises(RegistryError, match=r"widget 'a' is already registered \(by pkg-one"):
        reg.register("a")(int)


def test_unknown_name_lists_known():
    reg = Registry("widget")
    reg.register("b")(object)
    reg.register("a")(object)
    with pytest.raises(RegistryError) as info:
        reg.get("c")
    assert str(info.value) == "unknown widget 'c'; known: a, b"


def test_empty_registry_says_how_to_load():
    with pytest.raises(RegistryError, match=r"known: \(none: gensuite.plugins.load_plugins"):
        Registry("widget").get("x")


def test_metadata_and_origin_travel_with_the_entry():
    reg = Registry("dataset")
    with registering_from("my-data 0.2"):
        reg.register("d", probe=len)(print)
    entry = reg.entry("d")
    assert entry.obj is print and entry.meta["probe"] is len and entry.origin == "my-data 0.2"
    assert reg.remove_origin("my-data 0.2") == ["d"] and "d" not in reg


def test_builtins_are_registered_with_their_origin():
    assert "protonet" in algorithms().names()
    assert {"omniglot-vinyals", "omniglot-lake", "mnist", "lfw-faces"} <= set(datasets().names())
    for name in algorithms().names():
        entry = algorithms().entry(name)
        assert entry.origin == "gensuite"
        assert entry.obj.__doc__, f"plug-in {name} needs a docstring naming what it reproduces"


def test_image_datasets_declare_their_evaluation_classifier():
    lfw = datasets().entry("lfw-faces").meta["evaluation"]
    assert dict(lfw.options) == {"person": "all"} and lfw.size_option == "size"
    assert lfw.epochs == 20
    assert datasets().entry("mnist-binarized").meta["evaluation"].dataset == "mnist"
    assert datasets().entry("omniglot-vinyals").meta["evaluation"] is None


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Cfg:
    data_type: ClassVar[type] = list


class _Complete(AlgorithmBase):
    Config = _Cfg

    def __init__(self, config, data, ctx): ...
    def train_step(self, step): return {}
    def test(self, curves): ...
    def state_dict(self): return {}
    def load_state_dict(self, state): ...


def test_contract_accepts_a_complete_plugin():
    check_algorithm("ok", _Complete)  # optional parts come from AlgorithmBase


@pytest.mark.parametrize("broken, message", [
    (type("NoConfig", (_Complete,), {"Config": None}), "Config must be a frozen dataclass"),
    (type("Mutable", (_Complete,), {"Config": dataclasses.make_dataclass("C", [])}),
     "Config must be a frozen dataclass"),
    (type("NoType", (_Complete,), {"Config": dataclasses.dataclass(frozen=True)(
        type("C", (), {}))}), "Config.data_type must name the data container"),
    (type("NoTest", (), {"Config": _Cfg, "train_step": _Complete.train_step}),
     "missing validate, test, write_artifacts, state_dict, load_state_dict"),
])
def test_contract_refuses_a_broken_plugin_in_one_line(broken, message):
    reg = Registry("algorithm", check=check_algorithm)
    with pytest.raises(RegistryError, match=message) as info:
        reg.register("bad")(broken)
    assert "\n" not in str(info.value) and "'bad'" in str(info.value)
    assert "bad" not in reg
