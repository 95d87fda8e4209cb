"""Binarized MNIST for VAE density estimation (report E-1; Burda et al. 2016), 50k / 10k / 10k.

Two variants; which one was used is in ``DatasetInfo.description`` and so in every record, since
they give different numbers:

- ``fixed``: the binarization of Larochelle & Murray (2011), read from
  ``binarized_mnist_{train,valid,test}.amat`` (one image per line, 784 values 0/1; 50 000 /
  10 000 / 10 000) under ``<root>/binarized_mnist/`` or ``<root>/BinarizedMNIST/``. These files
  carry no labels: labels are -1.
- ``stochastic``: MNIST (the ``mnist`` builder) binarized once here, pixel ~ Bernoulli(intensity /
  255), drawn with ``torch.rand`` from a ``torch.Generator`` seeded with ``binarization_seed``
  (10 000 images per call, training images first, then test). The first 50 000 training images
  are the training split, the last 10 000 the validation split (the sizes and, as far as we know,
  the split of the fixed set), the 10 000 test images the test split. The description carries a
  sha256 of the binarized pixels, so a different draw (another seed, another torch RNG) shows.

``binarization = "auto"`` (default) uses the fixed files when they are in the data root, else the
stochastic variant; ``../shared/data`` has no fixed files (its MANIFEST says so). Larochelle &
Murray's set is itself one stochastic draw, so the two variants differ by the draw, not in kind.

Images are uint8 (N, 1, 28, 28) with values 0 and 255 (black/white on ImageClassData's 0..255
scale; divide by 255 for the {0, 1} values a Bernoulli likelihood scores). A build takes about
1 s on 2 CPU cores (reading MNIST, then binarizing); draws are cached in-process by (seed, files).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.mnist import MNIST, build, probe_mnist
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

VARIANTS = ("auto", "fixed", "stochastic")
TRAIN, VAL, TEST = 50_000, 10_000, 10_000
_CHUNK = 10_000  # images per torch.rand call: part of the definition of the stochastic draw
_AMAT = {split: f"binarized_mnist_{split}.amat" for split in ("train", "valid", "test")}
_AMAT_DIRS = ("binarized_mnist", "BinarizedMNIST")
_HOW_TO_GET_FIXED = (
    "put binarized_mnist_train.amat, binarized_mnist_valid.amat and binarized_mnist_test.amat "
    "(Larochelle & Murray 2011; e.g. from the IWAE code's download_mnist.py) in "
    "<root>/binarized_mnist/, or use binarization='stochastic'"
)


@dataclass(frozen=True, kw_only=True)
class SplitImageData(ImageClassData):
    """An ImageClassData with a held-out validation split (binarized MNIST's 50k/10k/10k)."""

    val_images: torch.Tensor
    val_labels: torch.Tensor


def binarize(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 grey images → uint8 {0, 255}: pixel = 255 with probability intensity / 255."""
    out = torch.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        grey = images[start : start + _CHUNK]
        u = torch.rand(grey.shape, generator=generator)
        # u ∈ [0, 1): intensity 255 is always on, 0 always off.
        out[start : start + _CHUNK] = (u < grey.to(torch.float32) / 255.0).to(torch.uint8) * 255
    return out


def pixel_digest(*splits: torch.Tensor) -> str:
    """sha256 of the splits' pixels (as 0/1 bytes, in order): names one binarization exactly."""
    h = hashlib.sha256()
    for images in splits:
        h.update((images > 0).to(torch.uint8).numpy().tobytes())
    return h.hexdigest()


_DRAWS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # (files, seed) → (train, test)
_DRAWS_KEPT = 4


def _stochastic(grey: ImageClassData, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The binarized (train, test) images of ``grey`` for ``seed``, cached in-process."""
    # size/mtime are part of the key: a rewritten file is binarized again.
    key = (tuple((str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in grey.info.files),
           seed)
    if key not in _DRAWS:
        g = torch.Generator().manual_seed(seed)
        train = binarize(grey.train_images, g)  # training images first, then test: the order
        test = binarize(grey.test_images, g)  # is part of the definition of the draw
        while len(_DRAWS) >= _DRAWS_KEPT:
            _DRAWS.pop(next(iter(_DRAWS)))
        _DRAWS[key] = (train, test)
    return _DRAWS[key]


def _build_stochastic(root: DataRoot, seed: int, download: bool) -> SplitImageData:
    grey = build(root, MNIST, download=download)  # checks the files and the class counts
    train, test = _stochastic(grey, seed)
    digest = pixel_digest(train, test)[:16]
    description = (
        f"binarized MNIST, stochastically binarized once (pixel ~ Bernoulli(intensity/255)), "
        f"binarization seed {seed}, torch {torch.__version__.split('+')[0]}; split 50 000 train "
        f"(MNIST train 0-49 999) / 10 000 validation (MNIST train 50 000-59 999) / 10 000 test; "
        f"not Larochelle & Murray's fixed binarization; pixel sha256 {digest}"
    )
    info = DatasetInfo(name="mnist-binarized", description=description, files=grey.info.files)
    # Clones: callers may modify what they get without corrupting the in-process cache.
    return SplitImageData(
        info=info, classes=grey.classes, title="binarized MNIST",
        train_images=train[:TRAIN].clone(), train_labels=grey.train_labels[:TRAIN].clone(),
        val_images=train[TRAIN:].clone(), val_labels=grey.train_labels[TRAIN:].clone(),
        test_images=test.clone(), test_labels=grey.test_labels.clone(),
    )


def _find_amat(root: DataRoot) -> dict[str, Path] | None:
    probes = tuple(f"{d}/{_AMAT['train']}" for d in _AMAT_DIRS)
    try:
        anchor = root.locate("mnist-binarized", *probes, how_to_get=_HOW_TO_GET_FIXED)
    except MissingDataError:
        return None
    files = {split: anchor.parent / name for split, name in _AMAT.items()}
    missing = [p.name for p in files.values() if not p.exists()]
    if missing:
        raise MissingDataError(
            f"dataset 'mnist-binarized': {anchor.parent} has {_AMAT['train']} but not "
            f"{', '.join(missing)}; {_HOW_TO_GET_FIXED}"
        )
    return files


@functools.lru_cache(maxsize=3)
def _read_amat_cached(path: str, size: int, mtime_ns: int) -> torch.Tensor:
    # size/mtime are only part of the key: a rewritten file is read again.
    values = np.loadtxt(path, dtype=np.uint8, ndmin=2)
    if values.shape[1] != 784 or not np.isin(values, (0, 1)).all():
        raise GensuiteError(
            f"corrupt binarized MNIST file {path}: expected rows of 784 values 0/1, "
            f"got shape {values.shape}"
        )
    return torch.from_numpy(values).reshape(-1, 1, 28, 28) * 255


def read_amat(path: Path) -> torch.Tensor:
    """One ``.amat`` file → uint8 (N, 1, 28, 28) in {0, 255} (cached in-process; read-only)."""
    st = os.stat(path)
    return _read_amat_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _build_fixed(files: dict[str, Path]) -> SplitImageData:
    splits = {}
    for split, n in (("train", TRAIN), ("valid", VAL), ("test", TEST)):
        images = read_amat(files[split])
        if len(images) != n:
            raise GensuiteError(
                f"dataset 'mnist-binarized': {files[split]} has {len(images)} images, not the "
                f"standard {n}"
            )
        splits[split] = images.clone()
    digest = pixel_digest(splits["train"], splits["valid"], splits["test"])[:16]
    description = (
        "binarized MNIST, fixed binarization of Larochelle & Murray (2011) "
        f"(binarized_mnist_*.amat); split 50 000 / 10 000 / 10 000; no labels (-1); "
        f"pixel sha256 {digest}"
    )
    info = DatasetInfo(name="mnist-binarized", description=description,
                       files=tuple(files[s] for s in ("train", "valid", "test")))
    unknown = {s: torch.full((len(v),), -1, dtype=torch.long) for s, v in splits.items()}
    return SplitImageData(
        info=info, classes=MNIST.classes, title="binarized MNIST (fixed)",
        train_images=splits["train"], train_labels=unknown["train"],
        val_images=splits["valid"], val_labels=unknown["valid"],
        test_images=splits["test"], test_labels=unknown["test"],
    )


def build_binarized_mnist(
    root: DataRoot, *, binarization: str = "auto", binarization_seed: int = 0,
    download: bool = False,
) -> SplitImageData:
    """Binarized MNIST, 50 000 / 10 000 / 10 000 (see the module docstring for the variants)."""
    if binarization not in VARIANTS:
        raise GensuiteError(
            f"dataset 'mnist-binarized': binarization must be one of {', '.join(VARIANTS)}; "
            f"got {binarization!r}"
        )
    files = _find_amat(root) if binarization in ("auto", "fixed") else None
    if binarization == "fixed" and files is None:
        raise MissingDataError(
            f"dataset 'mnist-binarized' (fixed binarization) not found: looked for "
            f"{'/ or '.join(_AMAT_DIRS)}/{_AMAT['train']} under "
            f"{', '.join(str(r) for r in root.candidates)}; {_HOW_TO_GET_FIXED}"
        )
    if files is not None:
        return _build_fixed(files)
    return _build_stochastic(root, binarization_seed, download)


def _probe(root: DataRoot) -> Path:
    """Presence check for ``gensuite list``: the fixed files, else MNIST's training images."""
    files = _find_amat(root)
    return files["train"] if files is not None else probe_mnist(root)


# Generated binarized digits are judged by the MNIST classifier (binarized MNIST has no labels).
register_dataset("mnist-binarized", probe=_probe,
                 evaluation=EvaluationClassifierSpec(dataset="mnist"))(build_binarized_mnist)
