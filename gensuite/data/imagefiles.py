"""Image files in a zip or a folder → uint8 (N, C, H, W) tensors, for the JPEG/PNG datasets.

Shared by the LFW, CelebA, MNIST-M and CIFAR-10 (JPEG) builders. A *container* is a zip file
(read in place, never extracted) or a folder; members are named by their posix path inside it,
so the same dataset gives the same names either way. Decoding uses PIL (whose JPEG decoder is
libjpeg-turbo: cached pixels are keyed on the PIL version), with an optional centre crop and an
antialiased resize. Decoded sets are cached in-process (keyed on the files' size and mtime, like
``mnist.read_idx``) or, for large sets, as ``.npy`` files in the user cache dir.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import platformdirs
import torch
from PIL import Image

from gensuite.errors import GensuiteError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def decoded_cache_dir() -> Path:
    """Where decoded arrays of large image sets are kept (the user cache dir)."""
    return platformdirs.user_cache_path("gensuite") / "decoded"


# --- containers -----------------------------------------------------------------------------


def member_names(container: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> tuple[str, ...]:
    """Sorted posix names of the files in a zip, or under a folder, ending in ``suffixes``."""
    suffixes = tuple(s.lower() for s in suffixes)
    if container.is_dir():
        names = (
            p.relative_to(container).as_posix()
            for p in container.rglob("*")
            if p.name.lower().endswith(suffixes) and p.is_file()
        )
    else:
        names = [n for n in _zip(container).namelist() if n.lower().endswith(suffixes)]
    return tuple(sorted(names))


@functools.lru_cache(maxsize=4)
def _open_zip(path: str, key: tuple) -> zipfile.ZipFile:
    # Kept open: reading the central directory of the 60 000-member CIFAR zip costs ~0.5 s, and
    # a build reads it several times. ``key`` (size, mtime) makes a rewritten zip open afresh.
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise GensuiteError(f"cannot read zip file {path}: {e}") from None


def _zip(path: Path) -> zipfile.ZipFile:
    """An open ZipFile for ``path``, shared in-process (read-only use, one thread)."""
    return _open_zip(str(path.resolve()), stamp(path, ()))


@contextlib.contextmanager
def reader(container: Path) -> Iterator[Callable[[str], bytes]]:
    """``read(name) -> bytes`` for the members of a zip or a folder."""
    if container.is_dir():
        yield lambda name: (container / name).read_bytes()
    else:
        yield _zip(container).read


def read_member(container: Path, name: str) -> bytes:
    """One member's bytes; a missing one is a GensuiteError naming it."""
    try:
        with reader(container) as read:
            return read(name)
    except (KeyError, FileNotFoundError):
        raise GensuiteError(f"{container} has no {name}") from None


def files_read(container: Path, names: Sequence[str]) -> tuple[Path, ...]:
    """The files that reading ``names`` touches: the zip itself, or each file of a folder."""
    if container.is_dir():
        return tuple(container / n for n in names)
    return (container,)


def stamp(container: Path, names: Sequence[str]) -> tuple:
    """(size, mtime_ns, inode) of the files read: part of a cache key, so rewrites are seen."""

    def one(path: Path) -> tuple[int, int, int]:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns, st.st_ino

    return tuple(one(f) for f in files_read(container, names))


# --- decoding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decode:
    """How to turn one file into pixels: PIL mode, centre crop (w, h), square output size."""

    mode: str = "RGB"  # "RGB" or "L" (ITU-R 601-2 luma, PIL's convert)
    crop: tuple[int, int] | None = None  # centre crop, as torchvision's CenterCrop
    size: int | None = None  # resize to size × size after the crop

    def key(self) -> str:
        crop = "x".join(map(str, self.crop)) if self.crop else "full"
        return f"{self.mode}-{crop}-{self.size or 'orig'}"


def decode(data: bytes, spec: Decode, name: str = "") -> np.ndarray:
    """One encoded image → uint8 (H, W, C)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert(spec.mode)
            if spec.crop is not None:
                w, h = spec.crop
                if im.width < w or im.height < h:
                    raise GensuiteError(f"image {name} is {im.width}×{im.height}, smaller than "
                                        f"the {w}×{h} crop")
                # torchvision's CenterCrop offsets: round((W - w) / 2), round((H - h) / 2).
                left, top = round((im.width - w) / 2), round((im.height - h) / 2)
                im = im.crop((left, top, left + w, top + h))
            if spec.size is not None and im.size != (spec.size, spec.size):
                # PIL widens the bilinear kernel by the reduction factor when shrinking, i.e. it
                # antialiases (what torchvision's Resize(antialias=True) does on tensors).
                im = im.resize((spec.size, spec.size), Image.Resampling.BILINEAR)
            arr = np.asarray(im)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise GensuiteError(f"cannot decode image {name}: {e}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def decode_all(container: Path, names: Sequence[str], spec: Decode) -> np.ndarray:
    """Decode members → uint8 (N, C, H, W); images of unequal shape are an error."""
    arrays = []
    with reader(container) as read:
        for name in names:
            arrays.append(decode(read(name), spec, f"{container}:{name}"))
            if arrays[-1].shape != arrays[0].shape:
                raise GensuiteError(
                    f"{container}:{name} decodes to {arrays[-1].shape}, but {names[0]} to "
                    f"{arrays[0].shape}; set a crop and size for this dataset"
                )
    if not arrays:
        return np.empty((0, 3 if spec.mode == "RGB" else 1, spec.size or 0, spec.size or 0),
                        np.uint8)
    return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))


@functools.lru_cache(maxsize=64)
def _load_cached(container: str, names: tuple[str, ...], spec: Decode, key: tuple) -> torch.Tensor:
    # ``key`` (the files' stamp) is only part of the cache key: rewritten files are decoded again.
    return torch.from_numpy(decode_all(Path(container), names, spec))


def load_images(container: Path, names: Sequence[str], spec: Decode) -> torch.Tensor:
    """Decoded members as uint8 (N, C, H, W), cached in-process: treat the result as read-only."""
    names = tuple(names)
    return _load_cached(str(container.resolve()), names, spec, stamp(container, names))


# --- disk cache of decoded arrays ------------------------------------------------------------


def content_key(container: Path, names: Sequence[str]) -> str:
    """16 hex digits naming what a decode depends on besides the Decode spec.

    A zip: its sha256 (the same zip anywhere hits the same entry). A folder: the names, sizes
    and mtimes of its files (hashing 200 000 CelebA JPEGs on every build would cost minutes).
    Both include the PIL version, whose bundled libjpeg decides the decoded pixels.
    """
    from gensuite.data.fingerprint import sha256_file

    h = hashlib.sha256(f"pil {PIL.__version__}\n".encode())
    if container.is_dir():
        for name, (size, mtime, _) in zip(names, stamp(container, names)):
            h.update(f"{name}\0{size}\0{mtime}\n".encode())
    else:
        h.update(sha256_file(container).encode())
    return h.hexdigest()[:16]


def disk_cached(
    folder: Path, build: Callable[[], dict[str, np.ndarray]], names: Sequence[str]
) -> dict[str, np.ndarray]:
    """``folder/<name>.npy`` for each of ``names`` if all exist, else ``build()`` and save them.

    Writes are atomic (a reader never sees half a file); an unwritable cache folder only means
    decoding again next time.
    """
    paths = {n: folder / f"{n}.npy" for n in names}
    if all(p.exists() for p in paths.values()):
        try:
            return {n: np.load(p, allow_pickle=False) for n, p in paths.items()}
        except (OSError, ValueError):
            pass  # a damaged entry: decode again and overwrite it
    arrays = build()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        for n, p in paths.items():
            tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, arrays[n], allow_pickle=False)
            os.replace(tmp, p)
    return arrays


# --- splits ---------------------------------------------------------------------------------


def every_kth(n: int, k: int) -> torch.Tensor:
    """Bool mask (n,): True at positions k-1, 2k-1, ... (a deterministic 1-in-k test split).

    Interleaved rather than "the last n/k": files are numbered in collection order (LFW by date,
    MNIST-M following MNIST's writer-ordered test set), so a tail would be a biased sample.
    """
    return torch.arange(n) % k == k - 1
