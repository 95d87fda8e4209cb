"""Registries: decorator registration, duplicates raise, unknown names list the known ones."""

import pytest

from gensuite.errors import RegistryError
from gensuite.registry import ALGORITHMS, DATASETS, Registry


def test_register_and_get():
    reg = Registry("widget")

    @reg.register("a")
    class A: ...

    assert reg.get("a") is A and "a" in reg and reg.names() == ["a"]


def test_duplicate_name_raises():
    reg = Registry("widget")
    reg.register("a")(object)
    with pytest.raises(RegistryError, match="widget 'a' is already registered"):
        reg.register("a")(int)


def test_unknown_name_lists_known():
    reg = Registry("widget")
    reg.register("b")(object)
    reg.register("a")(object)
    with pytest.raises(RegistryError) as info:
        reg.get("c")
    assert str(info.value) == "unknown widget 'c'; known: a, b"


def test_builtins_are_registered():
    assert "protonet" in ALGORITHMS.names()
    assert {"omniglot-vinyals", "omniglot-lake"} <= set(DATASETS.names())
    for name in ALGORITHMS.names():
        cls = ALGORITHMS.get(name)
        assert cls.__doc__, f"plug-in {name} needs a docstring naming what it reproduces"
        for method in ("train_step", "validate", "test", "state_dict", "load_state_dict"):
            assert callable(getattr(cls, method)), (name, method)
