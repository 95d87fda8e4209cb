"""Where datasets are looked for, in a fixed, documented order.

Candidate roots, first match wins:

1. the explicit root (CLI ``--data-root``);
2. the environment variable ``GENSUITE_DATA_ROOT``;
3. the user cache dir ``platformdirs.user_cache_path("gensuite") / "data"`` (where downloads go);
4. system dataset folders (``/usr/share/datasets``, filled by Debian ``dataset-*`` packages);
5. last fallback: ``shared/data`` beside the project checkout, if it exists (the offline copy
   described in its MANIFEST.md).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import platformdirs

import gensuite
from gensuite.errors import MissingDataError

# What reading a truncated or damaged archive raises (zip, npz, gzip).
_DAMAGED = (zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile)


class DamagedDataError(MissingDataError):
    """A dataset file is there but cannot be read (truncated download, damaged copy)."""


@contextlib.contextmanager
def readable(path: Path, dataset: str, how_to_get: str,
             expected: tuple[str, int] | None = None) -> Iterator[None]:
    """Turn a damaged file's read error into one line: which file, what it is, what was
    expected (sha256 and size, where the builder knows them) and how to get it again."""
    try:
        yield
    except _DAMAGED as exc:
        from gensuite.data.fingerprint import sha256_file

        size = path.stat().st_size
        want = ""
        if expected is not None:
            want = f"; expected {expected[1]} bytes, sha256 {expected[0][:16]}…"
        raise DamagedDataError(
            f"dataset {dataset!r}: {path} is damaged or truncated ({type(exc).__name__}: {exc}"
            f"; it has {size} bytes, sha256 {sha256_file(path)[:16]}…{want}); delete it and "
            f"get it again: {' '.join(how_to_get.split())}") from None

ENV_VAR = "GENSUITE_DATA_ROOT"
SYSTEM_ROOTS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


def download_root() -> Path:
    """The user cache dir: online downloads go here, and it is searched third."""
    return platformdirs.user_cache_path("gensuite") / "data"


def shared_data_dir() -> Path | None:
    """``shared/data`` beside the checkout (``<checkout>/../shared/data``), if it exists."""
    path = Path(gensuite.__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


class DataRoot:
    """The ordered candidate roots; ``locate`` finds a dataset's files under them."""

    def __init__(self, explicit: Path | str | None = None) -> None:
        roots: list[Path] = []
        if explicit is not None:
            roots.append(Path(explicit).expanduser())
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            roots.append(Path(env).expanduser())
        roots.append(download_root())
        roots.extend(SYSTEM_ROOTS)
        shared = shared_data_dir()
        if shared is not None:
            roots.append(shared)
        # Snapshot at construction so one run searches one fixed list, which it can record.
        self._candidates = list(dict.fromkeys(roots))

    @property
    def candidates(self) -> list[Path]:
        """The roots in search order, without duplicates."""
        return list(self._candidates)

    def locate(self, dataset: str, *relpaths: str, how_to_get: str,
               fetch: Callable[[Path], object] | None = None) -> Path:
        """The first ``root / relpath`` that exists (roots outer loop, relpaths inner).

        On a miss, ``fetch`` (a builder's download function, given only when the user asked to
        download) fills the user cache root and the search runs once more. Raises
        MissingDataError with a one-line message naming what was looked for and where.
        """
        try:
            return self._locate(dataset, relpaths, how_to_get)
        except MissingDataError:
            if fetch is None:
                raise
            fetch(download_root())
            return self._locate(dataset, relpaths, how_to_get)

    def _locate(self, dataset: str, relpaths: tuple[str, ...], how_to_get: str) -> Path:
        for root in self._candidates:
            for rel in relpaths:
                path = root / rel
                if path.exists():
                    return path
        wanted = ", ".join(relpaths)
        roots = ", ".join(str(r) for r in self._candidates)
        hint = " ".join(how_to_get.split())  # keep the message on one line
        raise MissingDataError(
            f"dataset {dataset!r} not found: looked for {wanted} under {roots}; {hint}",
            dataset=dataset,
        )

    def __repr__(self) -> str:
        return f"DataRoot({[str(r) for r in self._candidates]})"
