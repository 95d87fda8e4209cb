"""The public names of ``gensuite.metrics`` are the documented functions and classes, also after
their submodule has been imported (a submodule named like a function would shadow it)."""

import importlib
import pkgutil
import types

import pytest

import gensuite.metrics as metrics


@pytest.mark.parametrize("name", metrics.__all__)
def test_public_name_is_the_object_after_its_submodule_is_imported(name):
    module = importlib.import_module(f"gensuite.metrics.{metrics._MODULE_OF[name]}")
    got = getattr(metrics, name)
    assert not isinstance(got, types.ModuleType), f"gensuite.metrics.{name} is a module"
    assert got is getattr(module, name)
    namespace: dict = {}
    exec(f"from gensuite.metrics import {name} as value", namespace)
    assert namespace["value"] is got


def test_no_submodule_is_named_like_an_export():
    submodules = {m.name for m in pkgutil.iter_modules(metrics.__path__)}
    for name in submodules:  # importing all of them first, as a long-running process would
        importlib.import_module(f"gensuite.metrics.{name}")
    assert not submodules & set(metrics.__all__)
    assert callable(metrics.ssim) and callable(metrics.perplexity)
