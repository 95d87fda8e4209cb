"""MNIST-M (Ganin & Lempitsky 2015): MNIST digits blended over BSDS500 patches, 32×32 RGB.

Course report D (D-3 DANN, D-4 ADDA) adapts between SVHN and MNIST-M. The original layout is
``mnist_m/mnist_m_{train,test}/NNNNNNNN.png`` with ``mnist_m_{train,test}_labels.txt`` ("name
label" lines); the offline copy packs each half as ``mnist_m/mnist_m_{test,train}_png.zip`` with
the same names inside. With both halves present the builder returns the original 59 001 / 9 001
split. With only the test half, it splits those 9 001 images deterministically: in file order,
every 10th (index 9, 19, ...) is a test image (8 101 train / 900 test), and the description says
so. ``stands_in_for`` marks the
data as a stand-in for another dataset (e.g. "SVHN" while SVHN is absent): the report then calls
the verdict against that dataset's numbers "not comparable". Decoding 9 001 PNGs takes ~1.5 s.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.imagefiles import Decode, every_kth, files_read, load_images, read_member
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

NAME = "mnist-m"
COUNTS = {"train": 59_001, "test": 9_001}  # Ganin & Lempitsky's release
TEST_EVERY = 10  # test-half-only split
CLASSES = tuple(str(d) for d in range(10))
# The original archive's address and md5, as used by pytorch-adapt (KevinMusgrave/pytorch-adapt,
# datasets/mnistm.py); it unpacks to mnist_m/.
URL = "https://cornell.box.com/shared/static/jado7quprg6hzzdubvwzh9umr75damwi"
MD5 = "859df31c91afe82e80e5012ba928f279"
HOW_TO_GET = (
    "unpack mnist_m.tar.gz (Ganin & Lempitsky's release) into <root>/ so that "
    "<root>/mnist_m/mnist_m_test/ and mnist_m_test_labels.txt exist (or put mnist_m_test_png.zip "
    "in <root>/mnist_m/); online, dataset option download=True fetches it into the user cache "
    "dir; then pass --data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)


def download_mnist_m(root: Path) -> Path:
    """Fetch and unpack the original archive into ``root/mnist_m`` (online users only)."""
    from torchvision.datasets.utils import download_and_extract_archive  # only downloads

    download_and_extract_archive(URL, str(root), filename="mnist_m.tar.gz", md5=MD5)
    return root / "mnist_m"


def _containers(folder: Path, split: str) -> Path | None:
    """The zip or folder holding ``mnist_m_<split>/`` + its labels file, if present."""
    zipped = folder / f"mnist_m_{split}_png.zip"
    if zipped.exists():
        return zipped
    if (folder / f"mnist_m_{split}_labels.txt").exists() and (folder / f"mnist_m_{split}").is_dir():
        return folder
    return None


def locate(root: DataRoot, *, download: bool = False) -> Path:
    """The ``mnist_m`` folder that holds at least the test half."""
    rels = ("mnist_m/mnist_m_test_png.zip", "mnist_m/mnist_m_test_labels.txt")
    return root.locate(NAME, *rels, how_to_get=HOW_TO_GET,
                       fetch=download_mnist_m if download else None).parent.resolve()


def read_split(container: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, tuple[Path, ...]]:
    """(uint8 (N, 3, 32, 32) images, int64 labels, files read) of one half, in labels-file order."""
    labels_name = f"mnist_m_{split}_labels.txt"
    rows = [line.split() for line in read_member(container, labels_name).decode().splitlines()]
    rows = [r for r in rows if r]
    if len(rows) != COUNTS[split] or any(len(r) != 2 or r[1] not in CLASSES for r in rows):
        raise GensuiteError(
            f"dataset {NAME!r}: {container}:{labels_name} is not MNIST-M's {split} label list "
            f"({COUNTS[split]} lines 'name digit', found {len(rows)})"
        )
    names = [f"mnist_m_{split}/{name}" for name, _ in rows]
    images = load_images(container, names, Decode(mode="RGB"))
    if images.shape[1:] != (3, 32, 32):
        raise GensuiteError(f"dataset {NAME!r}: {container} images are {tuple(images.shape[1:])}, "
                            "not 3×32×32")
    labels = torch.tensor([int(d) for _, d in rows])
    files = files_read(container, names)
    if container.is_dir():
        files = (container / labels_name, *files)
    return images, labels, files


def build_mnist_m(
    root: DataRoot, *, stands_in_for: str | None = None, download: bool = False
) -> ImageClassData:
    """MNIST-M, the original split when both halves are present, else the test half split 9:1."""
    folder = locate(root, download=download)
    test_src, train_src = _containers(folder, "test"), _containers(folder, "train")
    if test_src is None:
        raise MissingDataError(f"dataset {NAME!r}: {folder} lacks the test half; "
                               f"{' '.join(HOW_TO_GET.split())}")
    images, labels, files = read_split(test_src, "test")
    if train_src is not None:
        train_x, train_y, train_files = read_split(train_src, "train")
        out = {"train_images": train_x.clone(), "train_labels": train_y,
               "test_images": images.clone(), "test_labels": labels}
        files = (*train_files, *files)
        how = "the original train / test split"
    else:
        test = every_kth(len(labels), TEST_EVERY)
        out = {"train_images": images[~test], "train_labels": labels[~test],
               "test_images": images[test], "test_labels": labels[test]}
        how = (f"test split only ({len(labels)} images), split deterministically: every "
               f"{TEST_EVERY}th image held out")
    description = (
        f"MNIST-M ({len(out['train_labels'])} train / {len(out['test_labels'])} test, {how}), "
        f"32×32 RGB" + (f"; stands in for {stands_in_for}" if stands_in_for else "")
    )
    info = DatasetInfo(name=NAME, description=description, files=tuple(dict.fromkeys(files)),
                       stands_in_for=stands_in_for)
    return ImageClassData(info=info, classes=CLASSES, title="MNIST-M", **out)


def _probe(root: DataRoot) -> Path:
    """A cheap presence check for ``gensuite list``: locate the test half, decode nothing."""
    return root.locate(NAME, "mnist_m/mnist_m_test_png.zip", "mnist_m/mnist_m_test_labels.txt",
                       how_to_get=HOW_TO_GET)


register_dataset(NAME, probe=_probe, evaluation=EvaluationClassifierSpec())(build_mnist_m)
