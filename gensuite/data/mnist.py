"""MNIST and Fashion-MNIST from their IDX files: uint8 (N, 1, 28, 28) images, int64 labels.

Both datasets ship as the same four IDX files, gzipped or not:
``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``. They are looked up under the data root
in ``mnist/`` (``fashion-mnist/``; Debian's ``dataset-fashion-mnist`` installs it in
/usr/share/datasets) and in torchvision's layout ``MNIST/raw/`` (``FashionMNIST/raw/``).
The per-class label counts are checked against the published ones, so a truncated or
different file is refused instead of silently changing results. Decoded files are cached
in-process: building MNIST takes about 0.3 s and Fashion-MNIST 1 s on 2 CPU cores (mostly
gunzip), a cached rebuild 0.05 s.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

IDX_UBYTE = 0x08  # the only IDX element type these datasets use
_GZIP_MAGIC = b"\x1f\x8b"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class IdxDataset:
    """What differs between MNIST and Fashion-MNIST: where they live, classes, published counts."""

    name: str
    title: str
    dirs: tuple[str, ...]  # relative to a data root; the first one is gensuite's own layout
    torchvision_class: str
    classes: tuple[str, ...]
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    how_to_get: str


_WHERE = (
    "online, dataset option download=True fetches them with torchvision into the user cache "
    "dir; then pass --data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)

MNIST = IdxDataset(
    name="mnist",
    title="MNIST",
    dirs=("mnist", "MNIST/raw"),
    torchvision_class="MNIST",
    classes=tuple(str(d) for d in range(10)),
    # The published per-class counts (LeCun, Cortes & Burges); shared/data/MANIFEST.md lists them.
    train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    how_to_get=(
        "put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (the MNIST page, mirrored at "
        "ossci-datasets.s3.amazonaws.com/mnist/) in <root>/mnist/ (torchvision's <root>/MNIST/raw/ "
        f"also works); {_WHERE}"
    ),
)

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    dirs=("fashion-mnist", "FashionMNIST/raw"),
    torchvision_class="FashionMNIST",
    # Class names and the balanced 6000/1000 split: Xiao, Rasul & Vollgraf (2017), arXiv:1708.07747.
    classes=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    train_counts=(6000,) * 10,
    test_counts=(1000,) * 10,
    how_to_get=(
        "`apt-get install dataset-fashion-mnist` puts the four files in "
        "/usr/share/datasets/fashion-mnist/; or put train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz "
        "(github.com/zalandoresearch/fashion-mnist, data/fashion/) in <root>/fashion-mnist/ "
        f"(torchvision's <root>/FashionMNIST/raw/ also works); {_WHERE}"
    ),
)


def _parse_idx(raw: bytes, path: Path, ndim: int) -> np.ndarray:
    """Check the IDX header (magic 0 0 0x08 ndim, big-endian int32 dims) and return the array."""

    def corrupt(why: str) -> GensuiteError:
        return GensuiteError(f"corrupt IDX file {path}: {why}")

    if len(raw) < 4 or raw[:2] != b"\0\0":
        found = raw[:4].hex() or "(empty)"
        raise corrupt(f"bad magic number {found}, expected 0000{IDX_UBYTE:02x}..")
    if raw[2] != IDX_UBYTE:
        raise corrupt(f"element type 0x{raw[2]:02x}, expected 0x{IDX_UBYTE:02x} (unsigned byte)")
    if raw[3] != ndim:
        raise corrupt(f"{raw[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise corrupt(f"header truncated ({len(raw)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(dims)):
        raise corrupt(f"{len(raw) - header} data bytes for dimensions {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=16)
def _read_idx_cached(path: str, size: int, mtime_ns: int, ndim: int) -> torch.Tensor:
    # size/mtime are only part of the key: a rewritten file is decoded again.
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:  # by content, not by name: torchvision keeps both forms
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise GensuiteError(f"corrupt IDX file {path}: bad gzip data ({e})") from None
    return torch.from_numpy(_parse_idx(raw, Path(path), ndim).copy())


def read_idx(path: Path | str, ndim: int) -> torch.Tensor:
    """An unsigned-byte IDX file (gzipped or raw) with ``ndim`` dimensions → a uint8 tensor.

    A malformed file raises GensuiteError with a one-line cause. The result is shared by an
    in-process cache: treat it as read-only.
    """
    st = os.stat(path)
    return _read_idx_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, ndim)


def _probe_rels(spec: IdxDataset) -> tuple[str, ...]:
    first = FILES["train_images"]
    return tuple(f"{d}/{first}{ext}" for d in spec.dirs for ext in (".gz", ""))


def find_files(root: DataRoot, spec: IdxDataset, *, download: bool = False) -> dict[str, Path]:
    """The four IDX files, all from the directory where the training images were found."""
    anchor = root.locate(spec.name, *_probe_rels(spec), how_to_get=spec.how_to_get,
                         fetch=(lambda dest: download_idx(spec, dest)) if download else None)
    folder = anchor.parent
    files = {}
    for key, stem in FILES.items():
        found = [folder / (stem + ext) for ext in (".gz", "") if (folder / (stem + ext)).exists()]
        if not found:
            raise MissingDataError(
                f"dataset {spec.name!r}: {folder}/{stem}.gz is missing (the other files are "
                f"there); {' '.join(spec.how_to_get.split())}"
            )
        files[key] = found[0]
    return files


def download_idx(spec: IdxDataset, root: Path) -> Path:
    """Fetch the four files with torchvision into ``root/<Class>/raw`` (online users only)."""
    import torchvision.datasets  # imported here: only downloads need it

    cls = getattr(torchvision.datasets, spec.torchvision_class)
    for train in (True, False):
        cls(str(root), train=train, download=True)
    return root / spec.torchvision_class / "raw"


def _check_split(spec: IdxDataset, split: str, images, labels, path: Path, counts) -> None:
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise GensuiteError(
            f"dataset {spec.name!r}: {split} images {tuple(images.shape)} do not match "
            f"{len(labels)} labels of 28×28 images"
        )
    found = torch.bincount(labels.long(), minlength=len(counts)).tolist()
    if found != list(counts):
        raise GensuiteError(
            f"dataset {spec.name!r}: {path} has per-class counts {found}, not the published "
            f"{list(counts)}; it is not the standard {spec.title} {split} split"
        )


def build(root: DataRoot, spec: IdxDataset, *, download: bool = False) -> ImageClassData:
    """Load and check one of the IDX datasets (see the module docstring)."""
    files = find_files(root, spec, download=download)
    out = {}
    for split, counts in (("train", spec.train_counts), ("test", spec.test_counts)):
        images = read_idx(files[f"{split}_images"], 3)
        labels = read_idx(files[f"{split}_labels"], 1)
        _check_split(spec, split, images, labels, files[f"{split}_labels"], counts)
        # Copies: callers may modify what they get without corrupting the in-process cache.
        out[f"{split}_images"] = images.unsqueeze(1).clone()
        out[f"{split}_labels"] = labels.long()
    description = (
        f"{spec.title} ({len(out['train_labels'])} train / {len(out['test_labels'])} test, "
        f"28×28 grey, {len(spec.classes)} classes)"
    )
    info = DatasetInfo(name=spec.name, description=description, files=tuple(files.values()))
    return ImageClassData(info=info, classes=spec.classes, title=spec.title, **out)


def build_mnist(root: DataRoot, *, download: bool = False) -> ImageClassData:
    """MNIST, the standard 60 000 / 10 000 split."""
    return build(root, MNIST, download=download)


def build_fashion_mnist(root: DataRoot, *, download: bool = False) -> ImageClassData:
    """Fashion-MNIST (Xiao et al. 2017), the standard 60 000 / 10 000 split."""
    return build(root, FASHION_MNIST, download=download)


def _probe(spec: IdxDataset):
    """A cheap presence check for ``gensuite list``: locate the training images, decode nothing."""

    def probe(root: DataRoot) -> Path:
        return root.locate(spec.name, *_probe_rels(spec), how_to_get=spec.how_to_get)

    return probe


# Each judged by a classifier trained on its own training split (2 epochs: 99.1-99.2% on MNIST).
probe_mnist = _probe(MNIST)
register_dataset("mnist", probe=probe_mnist, evaluation=EvaluationClassifierSpec())(build_mnist)
register_dataset("fashion-mnist", probe=_probe(FASHION_MNIST),
                 evaluation=EvaluationClassifierSpec())(build_fashion_mnist)
