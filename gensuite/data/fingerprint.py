"""Content fingerprints of the data files a result was computed from."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


@functools.lru_cache(maxsize=65536)
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    # size/mtime/inode are only part of the cache key: a rewritten file gets hashed again.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, cached in-process per (path, size, mtime_ns, inode)."""
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def fingerprint(files: Iterable[Path | str]) -> str:
    """Hex sha256 over the sorted (file name, file sha256) pairs.

    Only base names enter, so the same files under another data root give the same fingerprint.
    """
    pairs = sorted((Path(f).name, sha256_file(f)) for f in files)
    h = hashlib.sha256()
    for name, digest in pairs:
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def dataset_fingerprint(info) -> str:
    """The fingerprint of a dataset's ``DatasetInfo``: of its files, or its content digest when
    it was read from none (synthetic data)."""
    if info.files or not info.digest:
        return fingerprint(info.files)
    return hashlib.sha256(f"content\0{info.digest}\n".encode()).hexdigest()
