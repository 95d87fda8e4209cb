"""MNIST / Fashion-MNIST: the IDX reader, the layouts, and the real data against the manifest."""

from __future__ import annotations

import gzip
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gensuite.data import mnist
from gensuite.data.containers import ImageClassData
from gensuite.data.mnist import FASHION_MNIST, MNIST, build_fashion_mnist, build_mnist, read_idx
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import DATASETS, get_dataset


def probe(name: str):
    """The presence check a dataset's registration declares."""
    return DATASETS.entry(name).meta["probe"]


DATA = Path(os.environ["GENSUITE_DATA_ROOT"])  # conftest.py: ../shared/data unless set


def idx_bytes(array: np.ndarray, *, magic: bytes | None = None) -> bytes:
    """An unsigned-byte IDX file: 0 0 0x08 ndim, big-endian int32 dims, the data."""
    header = magic or bytes([0, 0, 0x08, array.ndim])
    return header + struct.pack(f">{array.ndim}i", *array.shape) + array.astype(np.uint8).tobytes()


def write_set(folder: Path, counts_train, counts_test, *, gz: bool = True, size: int = 28) -> None:
    """A synthetic IDX dataset with the given per-class counts (pixel = label, for checking)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, counts in (("train", counts_train), ("t10k", counts_test)):
        labels = np.repeat(np.arange(len(counts)), counts).astype(np.uint8)
        images = np.broadcast_to(labels[:, None, None], (len(labels), size, size))
        for kind, arr, nd in (("images", images, 3), ("labels", labels, 1)):
            blob = idx_bytes(np.ascontiguousarray(arr))
            name = f"{split}-{kind}-idx{nd}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(blob, mtime=0))
            else:
                (folder / name).write_bytes(blob)


@pytest.fixture(scope="module")
def real_mnist() -> ImageClassData:
    return build_mnist(DataRoot(DATA))


def test_registered_with_probes():
    assert get_dataset("mnist") is build_mnist
    assert get_dataset("fashion-mnist") is build_fashion_mnist
    assert probe("mnist")(DataRoot(DATA)).name == "train-images-idx3-ubyte.gz"
    assert callable(probe("fashion-mnist"))


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_synthetic(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    blob = idx_bytes(images)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    out = read_idx(path, 3)
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 4)
    assert torch.equal(out, torch.from_numpy(images))
    labels = tmp_path / "y-idx1-ubyte.gz"  # the name says .gz; the content decides
    labels.write_bytes(idx_bytes(np.array([3, 1, 4], dtype=np.uint8)))
    assert read_idx(labels, 1).tolist() == [3, 1, 4]


@pytest.mark.parametrize(
    ("blob", "ndim", "message"),
    [
        (b"\x08\x03\x00\x00" + b"\0" * 40, 3, "bad magic number"),
        (b"", 3, "bad magic number"),
        (b"\0\0\x0d\x03" + b"\0" * 40, 3, "element type 0x0d"),
        (idx_bytes(np.zeros((2, 2, 2))), 1, "3 dimensions, expected 1"),
        (idx_bytes(np.zeros((2, 2, 2)))[:-1], 3, "7 data bytes for dimensions (2, 2, 2)"),
        (b"\0\0\x08\x03\0\0", 3, "header truncated"),
        (b"\x1f\x8b\x08\x00garbage", 3, "bad gzip data"),
        (gzip.compress(idx_bytes(np.zeros((9, 9, 9))))[:-20], 3, "bad gzip data"),
    ],
)
def test_read_idx_corrupt_is_one_line(tmp_path, blob, ndim, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(blob)
    with pytest.raises(GensuiteError, match=re.escape(message)) as info:
        read_idx(path, ndim)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def published_counts(dataset: str) -> tuple[list[int], list[int]]:
    """The per-class counts as MANIFEST.md states them ("train a/b/...; test c/d/...")."""
    text = (DATA / "MANIFEST.md").read_text()
    section = text[text.index(f"### {dataset}/") :]
    m = re.search(r"train ([\d/]+); test ([\d/]+)", section)
    return [int(c) for c in m.group(1).split("/")], [int(c) for c in m.group(2).split("/")]


def test_real_mnist_matches_manifest(real_mnist):
    d = real_mnist
    assert d.train_images.shape == (60000, 1, 28, 28) and d.test_images.shape == (10000, 1, 28, 28)
    assert d.train_images.dtype == torch.uint8 and d.train_labels.dtype == torch.int64
    train, test = published_counts("mnist")
    assert torch.bincount(d.train_labels).tolist() == train == list(MNIST.train_counts)
    assert torch.bincount(d.test_labels).tolist() == test == list(MNIST.test_counts)
    assert d.classes == tuple("0123456789") and d.title == "MNIST"
    assert d.train_images.max() == 255 and d.train_images.min() == 0
    assert abs(d.train_images.float().mean().item() / 255 - 0.1307) < 1e-3  # the usual mean
    assert sorted(p.name for p in d.info.files) == sorted(f + ".gz" for f in mnist.FILES.values())
    assert "60000 train / 10000 test" in d.info.description


def test_cached_and_copies_handed_out(real_mnist):
    again = build_mnist(DataRoot(DATA))
    assert torch.equal(again.test_images, real_mnist.test_images)
    again.test_images.zero_()  # a caller scribbling on its copy must not reach the cache
    assert build_mnist(DataRoot(DATA)).test_images.float().mean() > 30


def test_torchvision_layout(empty_roots, real_mnist):
    raw = empty_roots / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist.FILES.values():  # torchvision keeps the .gz and the extracted files
        (raw / f"{name}.gz").symlink_to(DATA / "mnist" / f"{name}.gz")
    d = build_mnist(DataRoot(empty_roots))
    assert torch.equal(d.train_images, real_mnist.train_images)
    assert torch.equal(d.test_labels, real_mnist.test_labels)


def test_fashion_layouts_and_counts(empty_roots):
    write_set(empty_roots / "FashionMNIST" / "raw", [6000] * 10, [1000] * 10, gz=False)
    d = build_fashion_mnist(DataRoot(empty_roots))
    assert d.train_images.shape == (60000, 1, 28, 28) and d.classes[9] == "Ankle boot"
    assert d.train_images[-1].unique().tolist() == [9]  # labels and images stay aligned
    assert d.title == "Fashion-MNIST"


def test_wrong_counts_refused(empty_roots):
    write_set(empty_roots / "mnist", [10] * 10, [5] * 10)
    with pytest.raises(GensuiteError, match=r"per-class counts \[10, 10.*not the published") as info:
        build_mnist(DataRoot(empty_roots))
    assert "\n" not in str(info.value)


def test_missing_dataset_and_missing_file(empty_roots):
    with pytest.raises(MissingDataError) as info:
        build_mnist(DataRoot(empty_roots))
    msg = str(info.value)
    assert "\n" not in msg and "mnist/train-images-idx3-ubyte.gz" in msg
    assert "MNIST/raw" in msg and "download=True" in msg
    with pytest.raises(MissingDataError, match="apt-get install dataset-fashion-mnist"):
        build_fashion_mnist(DataRoot(empty_roots))
    write_set(empty_roots / "mnist", MNIST.train_counts, MNIST.test_counts)
    (empty_roots / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingDataError, match="t10k-labels-idx1-ubyte.gz is missing"):
        build_mnist(DataRoot(empty_roots))


def test_download_only_when_asked(empty_roots, monkeypatch):
    calls = []

    def fake_download(spec, root):  # stands in for torchvision's download into the cache dir
        calls.append((spec.name, root))
        write_set(root / "FashionMNIST" / "raw", spec.train_counts, spec.test_counts)

    monkeypatch.setattr(mnist, "download_idx", fake_download)
    with pytest.raises(MissingDataError):
        build_fashion_mnist(DataRoot(empty_roots))
    assert calls == []
    d = build_fashion_mnist(DataRoot(empty_roots), download=True)
    assert calls == [("fashion-mnist", empty_roots.parent / "cache")]
    assert len(d.test_labels) == 10000
    assert all("cache/FashionMNIST/raw" in str(p) for p in d.info.files)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="apt-get install dataset-fashion-mnist",
)
def test_real_fashion_mnist():
    d = build_fashion_mnist(DataRoot())
    assert torch.bincount(d.train_labels).tolist() == list(FASHION_MNIST.train_counts)
    assert torch.bincount(d.test_labels).tolist() == list(FASHION_MNIST.test_counts)
    assert abs(d.train_images.float().mean().item() / 255 - 0.2860) < 1e-3  # the usual mean
