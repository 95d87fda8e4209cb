"""SVHN cropped digits (Netzer et al. 2011): 32×32 RGB, 73 257 train / 26 032 test.

Course report D (D-3 DANN, D-4 ADDA: SVHN ↔ MNIST-M) and E-2 (WGAN with a one-sided penalty)
use it. Files: the "format 2" MATLAB files ``train_32x32.mat`` / ``test_32x32.mat`` (``X``
(32, 32, 3, N) uint8, ``y`` (N, 1) with digit 0 stored as 10), looked up in ``<root>/svhn/``,
``<root>/SVHN/`` and ``<root>/`` (where torchvision.datasets.SVHN puts them). Not available
offline: without them the builder raises MissingDataError; ``download=True`` fetches them with
torchvision. The ``extra`` split (531 131 images) is not used.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

NAME = "svhn"
COUNTS = {"train": 73_257, "test": 26_032}  # Netzer et al. (2011); the SVHN site
CLASSES = tuple(str(d) for d in range(10))
DIRS = ("svhn", "SVHN", ".")
HOW_TO_GET = (
    "put train_32x32.mat and test_32x32.mat (format 2, ufldl.stanford.edu/housenumbers) in "
    "<root>/svhn/; online, dataset option download=True fetches them with torchvision into the "
    "user cache dir; then pass --data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)


def download_svhn(root: Path) -> Path:
    """Fetch both .mat files with torchvision into ``root/svhn`` (online users only)."""
    from torchvision.datasets import SVHN  # imported here: only downloads need it

    for split in ("train", "test"):
        SVHN(str(root / "svhn"), split=split, download=True)
    return root / "svhn"


def _rels(split: str) -> tuple[str, ...]:
    return tuple(str(Path(d) / f"{split}_32x32.mat") for d in DIRS)


@functools.lru_cache(maxsize=4)
def _read_mat(path: str, key: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    # ``key`` (size, mtime) is only part of the cache key: a rewritten file is read again.
    from scipy.io import loadmat  # scipy.io import costs ~0.2 s: only when SVHN is read

    try:
        mat = loadmat(path)
        x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    except (OSError, ValueError, KeyError, NotImplementedError) as e:
        raise GensuiteError(f"dataset {NAME!r}: cannot read {path} as SVHN .mat ({e!r})") from None
    if x.dtype != np.uint8 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise GensuiteError(f"dataset {NAME!r}: {path} holds X {x.dtype} {x.shape}, y {y.shape}; "
                            "expected uint8 (32, 32, 3, N) and N labels")
    if not np.isin(y, np.arange(1, 11)).all():
        raise GensuiteError(f"dataset {NAME!r}: {path} has labels outside 1..10")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    return images, torch.from_numpy(np.where(y == 10, 0, y).astype(np.int64))  # 10 means "0"


def read_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 32, 32) images and int64 labels 0..9; cached in-process (read-only)."""
    st = os.stat(path)
    return _read_mat(str(path.resolve()), (st.st_size, st.st_mtime_ns, st.st_ino))


def build_svhn(root: DataRoot, *, download: bool = False) -> ImageClassData:
    """SVHN, the standard train / test split (see the module docstring)."""
    train_path = root.locate(NAME, *_rels("train"), how_to_get=HOW_TO_GET,
                             fetch=download_svhn if download else None)
    test_path = train_path.with_name("test_32x32.mat")
    if not test_path.exists():
        raise MissingDataError(f"dataset {NAME!r}: {test_path} is missing (train_32x32.mat is "
                               f"there); {' '.join(HOW_TO_GET.split())}")
    out = {}
    for split, path in (("train", train_path), ("test", test_path)):
        images, labels = read_split(path)
        if len(labels) != COUNTS[split]:
            raise GensuiteError(f"dataset {NAME!r}: {path} has {len(labels)} images, the SVHN "
                                f"{split} split has {COUNTS[split]}")
        out[f"{split}_images"], out[f"{split}_labels"] = images.clone(), labels.clone()
    description = (
        f"SVHN cropped digits ({COUNTS['train']} train / {COUNTS['test']} test), 32×32 RGB"
    )
    info = DatasetInfo(name=NAME, description=description, files=(train_path, test_path))
    return ImageClassData(info=info, classes=CLASSES, title="SVHN", **out)


def _probe(root: DataRoot) -> Path:
    """A cheap presence check for ``gensuite list``: locate the training file, read nothing."""
    return root.locate(NAME, *_rels("train"), how_to_get=HOW_TO_GET)


register_dataset(NAME, probe=_probe, evaluation=EvaluationClassifierSpec())(build_svhn)
