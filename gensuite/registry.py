"""Name → entry registries for algorithm plug-ins and datasets.

Modelled on torchvision's ``register_model``: a decorator puts the object in a dict, a duplicate
name raises, and an unknown name lists the known ones. Like torchvision's ``_api.py`` this module
imports nothing that registers into it: ``gensuite.plugins`` loads the built-ins and third-party
packages (entry-point group ``gensuite.plugins``) from one place above it.

Each entry keeps where it came from (``origin``: "gensuite" for the built-ins, the distribution
for an installed plug-in) and its registration metadata: a dataset's ``probe`` (cheap presence
check) and ``evaluation`` (which evaluation classifier judges images of it, and how it is
trained), in the manner of torchvision's ``Weights.meta``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from gensuite.api import check_algorithm
from gensuite.errors import RegistryError

T = TypeVar("T")

_origin_stack: list[str] = []  # set by gensuite.plugins while it imports a plug-in package


@contextlib.contextmanager
def registering_from(origin: str) -> Iterator[None]:
    """Entries registered inside this block are attributed to ``origin`` (a distribution)."""
    _origin_stack.append(origin)
    try:
        yield
    finally:
        _origin_stack.pop()


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object, where it came from, and what its registration declared."""

    name: str
    obj: T
    origin: str
    meta: Mapping[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A named collection; ``kind`` ("algorithm", "dataset") appears in error messages.

    ``check`` validates an object at registration (a one-line RegistryError when it breaks the
    contract), so a plug-in that cannot work is refused when it is imported, not mid-run.
    """

    def __init__(self, kind: str, check: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self._check = check
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} {name!r} is already registered "
                                    f"(by {self._entries[name].origin})")
            if self._check is not None:
                self._check(name, obj)
            origin = _origin_stack[-1] if _origin_stack else _module_origin(obj)
            self._entries[name] = Entry(name, obj, origin, MappingProxyType(dict(meta)))
            return obj

        return decorator

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            if not known:  # nothing loaded yet: say how, instead of "known: (none)"
                known = "(none: gensuite.plugins.load_plugins() loads the built-ins)"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def remove_origin(self, origin: str) -> list[str]:
        """Drop every entry from ``origin`` (a plug-in package that failed half-way)."""
        gone = [n for n, e in self._entries.items() if e.origin == origin]
        for n in gone:
            del self._entries[n]
        return gone


def _module_origin(obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    return module.split(".")[0] or "unknown"


def _check_dataset(name: str, builder: Any) -> None:
    if not callable(builder):
        raise RegistryError(f"dataset {name!r}: a builder must be callable (root, **options)")


ALGORITHMS: Registry[Any] = Registry("algorithm", check=check_algorithm)
DATASETS: Registry[Any] = Registry("dataset", check=_check_dataset)


def register_algorithm(name: str) -> Callable[[T], T]:
    """Register an algorithm plug-in class (see ``gensuite.api.Algorithm``)."""
    return ALGORITHMS.register(name)


def register_dataset(
    name: str, *, probe: Callable[[Any], Any] | None = None, evaluation: Any = None,
) -> Callable[[T], T]:
    """Register a dataset builder ``build(root: DataRoot, **options) -> container``.

    ``probe(root) -> Path``: a cheap presence check for ``gensuite list`` (raises
    MissingDataError); ``evaluation``: a ``gensuite.api.EvaluationClassifierSpec`` naming the
    classifier that judges generated images of this dataset (None: none).
    """
    return DATASETS.register(name, probe=probe, evaluation=evaluation)


get_algorithm = ALGORITHMS.get
get_dataset = DATASETS.get
