"""The one place that loads plug-ins: gensuite's built-ins, then installed third-party packages.

Built-ins are every module of ``gensuite.algorithms`` and ``gensuite.data`` (importing one
registers what it defines, so a new built-in plug-in is a new file and nothing else). Third-party
packages declare an entry point in the group ``gensuite.plugins`` (as pytest finds its plug-ins);
its value is a module to import, or a callable taking no argument, that registers algorithms and
datasets with ``gensuite.registry``::

    [project.entry-points."gensuite.plugins"]
    my-algo = "my_package.gensuite_plugin"

A package that fails to load is reported in one line naming it (``gensuite list`` shows it, and
bench logs it); whatever it registered before failing is removed, and the built-ins and every
other package still load. Front doors (the runner, ``validate_suite``, the CLI, the evaluation
classifiers) call ``load_plugins()``; it does its work once per process.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import types
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from gensuite.registry import ALGORITHMS, DATASETS, Registry, registering_from

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gensuite.plugins"
BUILTIN_PACKAGES = ("gensuite.algorithms", "gensuite.data")
BUILTIN_ORIGIN = "gensuite"


@dataclass
class PluginLoad:
    """What ``load_plugins`` found: packages loaded (entry point → origin) and broken ones."""

    loaded: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # entry point → one-line cause


_state: PluginLoad | None = None


def load_plugins() -> PluginLoad:
    """Load the built-ins and every ``gensuite.plugins`` entry point, once per process."""
    global _state
    if _state is None:
        _state = PluginLoad()
        _load_builtins()
        load_entry_points(_state)
    return _state


def _load_builtins() -> None:
    with registering_from(BUILTIN_ORIGIN):
        for package_name in BUILTIN_PACKAGES:
            package = importlib.import_module(package_name)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                importlib.import_module(f"{package_name}.{info.name}")


def load_entry_points(state: PluginLoad, group: str = ENTRY_POINT_GROUP) -> PluginLoad:
    """Load the entry points of ``group`` not yet in ``state`` (each once); never raises."""
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        if ep.name in state.loaded or ep.name in state.broken:
            continue
        dist = getattr(ep, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else ep.value
        try:
            with registering_from(origin):
                target = ep.load()
                if callable(target) and not isinstance(target, types.ModuleType):
                    target()
        except Exception as exc:  # a broken package must not stop the others
            first = (str(exc).strip().splitlines() or [""])[0]
            cause = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
            state.broken[ep.name] = f"{origin} ({ep.value}): {cause}"
            for registry in (ALGORITHMS, DATASETS):
                registry.remove_origin(origin)
            log.warning("plug-in %r from %s failed to load: %s", ep.name, origin, cause)
        else:
            state.loaded[ep.name] = origin
    return state


def algorithms() -> Registry:
    """The algorithm registry, with every plug-in loaded."""
    load_plugins()
    return ALGORITHMS


def datasets() -> Registry:
    """The dataset registry, with every plug-in loaded."""
    load_plugins()
    return DATASETS
