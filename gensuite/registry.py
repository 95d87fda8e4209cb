"""Name → builder registries for algorithm plug-ins and datasets.

Modelled on torchvision's ``register_model``: a decorator puts the object in a dict, a duplicate
name raises, and an unknown name lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from gensuite.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection; ``kind`` ("algorithm", "dataset") appears in error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        _load_builtins()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        _load_builtins()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        _load_builtins()
        return name in self._items


ALGORITHMS: Registry[Any] = Registry("algorithm")
DATASETS: Registry[Any] = Registry("dataset")

register_algorithm = ALGORITHMS.register
register_dataset = DATASETS.register
get_algorithm = ALGORITHMS.get
get_dataset = DATASETS.get


_loaded = False


def _load_builtins() -> None:
    """Import the built-in plug-ins once; explicit imports register them (no entry-point magic)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import gensuite.algorithms  # noqa: F401
    import gensuite.data  # noqa: F401
