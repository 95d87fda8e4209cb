"""LFW faces and CelebA: real data from the data root, checked against independent sources.

Independent sources: LFW's own lfw-names.txt and MANIFEST.md for counts, PIL directly for the
pre-processing, list_attr_celeba_first32.txt (a separate file) for CelebA labels.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensuite.data import imagefiles
from gensuite.data.celeba import build_celeba
from gensuite.data.fingerprint import fingerprint
from gensuite.data.lfw import build_lfw_faces
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.evaluators import classifier as evaluators
from gensuite.models.classifier import TrainSettings
from gensuite.registry import DATASETS, get_dataset


def probe(name: str):
    """The presence check a dataset's registration declares."""
    return DATASETS.entry(name).meta["probe"]


DATA = Path(os.environ["GENSUITE_DATA_ROOT"])  # conftest.py: ../shared/data unless set
LFW_ZIP = DATA / "lfw" / "lfw_deepfunneled_min70faces.zip"
CELEBA = DATA / "celeba"



def reference(path_or_bytes, crop_box, size, mode="RGB") -> torch.Tensor:
    """The documented pre-processing done directly with PIL: crop box, bilinear resize."""
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as im:
        im = im.convert(mode).crop(crop_box).resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(im)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def lfw_names_counts() -> dict[str, int]:
    """Per-person counts from LFW's own lfw-names.txt (not from the zip)."""
    rows = (line.split() for line in (DATA / "lfw" / "lfw-names.txt").read_text().splitlines())
    return {name: int(n) for name, n in rows}


def manifest_lfw_counts() -> dict[str, int]:
    text = (DATA / "MANIFEST.md").read_text()
    section = text[text.index("### lfw/") :]
    section = section[: section.index("###", 5)]
    return {name: int(n) for name, n in re.findall(r"([A-Z][a-z]+_[A-Za-z_]+) (\d+)", section)}


# --- LFW ------------------------------------------------------------------------------------


def test_lfw_registered_with_probe():
    assert get_dataset("lfw-faces") is build_lfw_faces
    assert probe("lfw-faces")(DataRoot(DATA)).name == LFW_ZIP.name


def test_lfw_counts_match_lfw_names_and_manifest():
    published = lfw_names_counts()
    manifest = manifest_lfw_counts()
    assert len(manifest) == 7 and sum(manifest.values()) == 1288
    assert {p: published[p] for p in manifest} == manifest  # MANIFEST agrees with LFW itself
    assert sorted(p for p, n in published.items() if n >= 70) == sorted(manifest)
    with zipfile.ZipFile(LFW_ZIP) as zf:
        in_zip = [n for n in zf.namelist() if n.endswith(".jpg")]
    assert len(in_zip) == 1288

    data = build_lfw_faces(DataRoot(DATA), person="all")
    assert data.classes == tuple(sorted(manifest))
    counts = torch.bincount(data.train_labels, minlength=7) + torch.bincount(data.test_labels)
    assert dict(zip(data.classes, counts.tolist())) == manifest
    # every 10th image per person is held out
    assert torch.bincount(data.test_labels).tolist() == [manifest[p] // 10 for p in data.classes]
    assert data.num_classes == 7 and data.title == "LFW 7-person"


def test_lfw_bush_shapes_range_and_preprocessing():
    data = build_lfw_faces(DataRoot(DATA))  # defaults: George_W_Bush, 64 px, RGB
    assert data.train_images.shape == (477, 3, 64, 64) and data.test_images.shape == (53, 3, 64, 64)
    assert data.train_images.dtype == torch.uint8 and data.train_labels.dtype == torch.int64
    assert data.classes == ("George_W_Bush",) and not data.train_labels.any()
    assert data.train_images.min() < 10 and data.train_images.max() > 245  # photos, full range
    assert data.info.files == (LFW_ZIP.resolve(),)
    assert "477 train / 53 test" in data.info.description
    # Sorted files George_W_Bush_0001..; index 9 (_0010) is the first test image and index 0
    # (_0001) the first training image: the central 128×128 (61..189) resized to 64.
    with zipfile.ZipFile(LFW_ZIP) as zf:
        first_test = zf.read("images_deepfunneled/George_W_Bush/George_W_Bush_0010.jpg")
        first_train = zf.read("images_deepfunneled/George_W_Bush/George_W_Bush_0001.jpg")
    box = (61, 61, 189, 189)
    assert torch.equal(data.test_images[0], reference(first_test, box, 64))
    assert torch.equal(data.train_images[0], reference(first_train, box, 64))

    grey = build_lfw_faces(DataRoot(DATA), size=32, channels=1)
    assert grey.train_images.shape == (477, 1, 32, 32)
    assert torch.equal(grey.test_images[0], reference(first_test, box, 32, mode="L"))


def test_lfw_split_deterministic_and_cache_safe():
    every = build_lfw_faces(DataRoot(DATA), person="all")
    imagefiles._load_cached.cache_clear()  # decode again from the zip
    bush = build_lfw_faces(DataRoot(DATA))
    # the same Bush faces in the same split, whichever way (and however often) they are decoded
    k = every.classes.index("George_W_Bush")
    assert torch.equal(every.train_images[every.train_labels == k], bush.train_images)
    assert torch.equal(every.test_images[every.test_labels == k], bush.test_images)
    bush.train_images.zero_()  # a caller scribbling on its copy must not reach the cache
    assert build_lfw_faces(DataRoot(DATA)).train_images.float().mean() > 50


def test_lfw_fingerprint_follows_the_files(tmp_path):
    copy = tmp_path / "lfw" / LFW_ZIP.name
    copy.parent.mkdir()
    shutil.copyfile(LFW_ZIP, copy)
    same = build_lfw_faces(DataRoot(tmp_path), size=32)
    assert same.info.files == (copy.resolve(),)
    before = fingerprint(same.info.files)
    assert before == fingerprint([LFW_ZIP])
    # Rewrite the zip with one Bush face changed (flipped left-right): new fingerprint, new pixels.
    target = "images_deepfunneled/George_W_Bush/George_W_Bush_0001.jpg"
    with zipfile.ZipFile(LFW_ZIP) as src, zipfile.ZipFile(copy, "w") as dst:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename == target:
                out = io.BytesIO()
                Image.open(io.BytesIO(blob)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
                    out, "JPEG", quality=95)
                blob = out.getvalue()
            dst.writestr(info, blob)
    changed = build_lfw_faces(DataRoot(tmp_path), size=32)
    assert fingerprint(changed.info.files) != before
    assert not torch.equal(changed.train_images[0], same.train_images[0])
    assert torch.equal(changed.train_images[1:], same.train_images[1:])


def test_lfw_missing_and_bad_options(empty_roots, tmp_path):
    with pytest.raises(MissingDataError) as info:
        build_lfw_faces(DataRoot(empty_roots))
    msg = str(info.value)
    assert "\n" not in msg and "'lfw-faces' not found" in msg
    assert "lfw/lfw_deepfunneled_min70faces.zip" in msg and str(empty_roots) in msg
    assert "download=True" in msg
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(MissingDataError):
        probe("lfw-faces")(DataRoot(empty_roots))

    with pytest.raises(GensuiteError, match=r"no images of person 'Nobody'.*George_W_Bush"):
        build_lfw_faces(DataRoot(DATA), person="Nobody")
    with pytest.raises(GensuiteError, match="size must be 32 or 64"):
        build_lfw_faces(DataRoot(DATA), size=128)
    with pytest.raises(GensuiteError, match="channels must be 1 or 3"):
        build_lfw_faces(DataRoot(DATA), channels=2)


def test_lfw_refuses_wrong_counts_synthetic(empty_roots):
    """A synthetic zip with 3 'George_W_Bush' images is not LFW (LFW has 530)."""
    z = empty_roots / "lfw" / "lfw_deepfunneled_min70faces.zip"
    z.parent.mkdir()
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(3):
            out = io.BytesIO()
            Image.new("RGB", (250, 250), (i, i, i)).save(out, "JPEG")
            zf.writestr(f"images_deepfunneled/George_W_Bush/George_W_Bush_{i:04d}.jpg",
                        out.getvalue())
    with pytest.raises(GensuiteError, match="3 images of George_W_Bush, LFW has 530"):
        build_lfw_faces(DataRoot(empty_roots))


def test_lfw_face_classifier_through_load_or_train(tmp_path):
    """dataset_options reach the builder and the cache key (a short, smoke-sized training)."""
    opts = {"person": "all", "size": 32}
    clf = evaluators.load_or_train("lfw-faces", "cnn", 0, cache_dir=tmp_path, data_root=DATA,
                               dataset_options=opts, epochs=1, train_limit=256)
    assert clf.num_classes == 7 and clf.classes[3] == "George_W_Bush"
    assert clf.in_channels == 3 and clf.image_size == (32, 32)
    assert clf.meta["dataset_options"] == opts and clf.label == "LFW 7-person classifier"
    assert clf.meta["test_n"] == 126
    again = evaluators.load_or_train("lfw-faces", "cnn", 0, cache_dir=tmp_path, data_root=DATA,
                                 dataset_options=dict(opts), epochs=1, train_limit=256)
    assert again.sha256 == clf.sha256 and again.path == clf.path  # loaded, not retrained
    s = TrainSettings()
    assert evaluators.cache_path(tmp_path, "x", s, "fp") == evaluators.cache_path(tmp_path, "x", s, "fp", {})
    assert evaluators.cache_path(tmp_path, "x", s, "fp") != evaluators.cache_path(tmp_path, "x", s, "fp",
                                                                          opts)


# --- CelebA ---------------------------------------------------------------------------------


def first32_rows() -> tuple[list[str], dict[str, list[int]]]:
    """list_attr_celeba_first32.txt: a count line, the header, 32 rows (separate from the zip)."""
    lines = (CELEBA / "list_attr_celeba_first32.txt").read_text().splitlines()
    assert lines[0].strip() == "32"
    header = lines[1].split()
    return header, {r.split()[0]: [int(v) for v in r.split()[1:]] for r in lines[2:] if r.strip()}


def test_celeba_offline_subset_labels_and_pixels():
    assert get_dataset("celeba") is build_celeba
    assert probe("celeba")(DataRoot(DATA)).name == "img_align_celeba"
    data = build_celeba(DataRoot(DATA))
    assert data.train_images.shape == (24, 3, 64, 64) and data.test_images.shape == (8, 3, 64, 64)
    assert data.train_images.dtype == torch.uint8 and data.test_labels.dtype == torch.int64
    assert data.classes == ("not Smiling", "Smiling")
    assert "32 images present" in data.info.description and "smoke" in data.info.description
    header, rows = first32_rows()
    names = sorted(rows)
    test_names = names[3::4]  # every 4th in name order
    train_names = [n for n in names if n not in test_names]
    for attribute in ("Smiling", "Male"):
        d = data if attribute == "Smiling" else build_celeba(DataRoot(DATA), attribute="Male",
                                                             size=32)
        j = header.index(attribute)
        assert d.train_labels.tolist() == [int(rows[n][j] == 1) for n in train_names]
        assert d.test_labels.tolist() == [int(rows[n][j] == 1) for n in test_names]
    assert int(data.train_labels.sum() + data.test_labels.sum()) == 16  # MANIFEST: 16 Smiling
    # 178×218 → central 178×178 (rows 20..198) → 64×64
    assert torch.equal(data.train_images[0], reference(CELEBA / "img_align_celeba" / "000001.jpg",
                                                       (0, 20, 178, 198), 64))
    assert torch.equal(data.test_images[0], reference(CELEBA / "img_align_celeba" / "000004.jpg",
                                                      (0, 20, 178, 198), 64))
    assert data.info.files[0].name == "list_attr_celeba.zip" and len(data.info.files) == 33


def test_celeba_torchvision_layout_with_partition(empty_roots):
    """torchvision's layout: list_attr_celeba.txt with its count line + list_eval_partition.txt.

    The images are 8 real ones; the partition file assigning them is made up for the test.
    """
    folder = empty_roots / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    header, rows = first32_rows()
    names = sorted(rows)[:8]
    for n in names:
        shutil.copyfile(CELEBA / "img_align_celeba" / n, folder / "img_align_celeba" / n)
    attr_lines = ["202599", " ".join(header)]  # the count of the full file: only 8 rows follow
    attr_lines += [f"{n} " + " ".join(f"{v:2d}" for v in rows[n]) for n in names]
    (folder / "list_attr_celeba.txt").write_text("\n".join(attr_lines[1:]) + "\n")
    parts = [0, 0, 1, 2, 0, 2, 1, 0]
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{n} {p}\n" for n, p in zip(names, parts)))
    data = build_celeba(DataRoot(empty_roots), attribute="Male", size=32)
    j = header.index("Male")
    train = [n for n, p in zip(names, parts) if p == 0]
    test = [n for n, p in zip(names, parts) if p == 2]
    assert data.train_labels.tolist() == [int(rows[n][j] == 1) for n in train]
    assert data.test_labels.tolist() == [int(rows[n][j] == 1) for n in test]
    assert "list_eval_partition.txt" in data.info.description
    assert any(f.name == "list_eval_partition.txt" for f in data.info.files)

    # A count line that disagrees with the rows is refused.
    (folder / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    with pytest.raises(GensuiteError, match="announces 202599 rows, has 8"):
        build_celeba(DataRoot(empty_roots))


def test_celeba_fingerprint_and_labels_follow_the_attribute_file(tmp_path):
    folder = tmp_path / "celeba"
    shutil.copytree(CELEBA / "img_align_celeba", folder / "img_align_celeba")
    header, rows = first32_rows()
    text = "\n".join([" ".join(header)] + [
        f"{n} " + " ".join(map(str, rows[n])) for n in sorted(rows)]) + "\n"
    (folder / "list_attr_celeba.txt").write_text(text)
    before = build_celeba(DataRoot(tmp_path), size=32)
    fp_before = fingerprint(before.info.files)
    j = header.index("Smiling") + 1
    row = text.splitlines()[1].split()  # 000001.jpg
    row[j] = "1" if row[j] == "-1" else "-1"
    lines = text.splitlines()
    lines[1] = " ".join(row)
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    after = build_celeba(DataRoot(tmp_path), size=32)
    assert fingerprint(after.info.files) != fp_before
    assert after.train_labels[0] == 1 - before.train_labels[0]
    assert torch.equal(after.train_labels[1:], before.train_labels[1:])


def test_celeba_missing_and_bad_options(empty_roots):
    with pytest.raises(MissingDataError) as info:
        build_celeba(DataRoot(empty_roots))
    msg = str(info.value)
    assert "\n" not in msg and "'celeba' not found" in msg and str(empty_roots) in msg
    assert "celeba/list_attr_celeba.txt" in msg and "download=True" in msg
    (empty_roots / "celeba").mkdir()
    shutil.copyfile(CELEBA / "list_attr_celeba.zip", empty_roots / "celeba" / "list_attr_celeba.zip")
    with pytest.raises(MissingDataError, match="no img_align_celeba/ or img_align_celeba.zip"):
        build_celeba(DataRoot(empty_roots))
    with pytest.raises(GensuiteError, match="unknown attribute 'Smile'.*Smiling"):
        build_celeba(DataRoot(DATA), attribute="Smile")
    with pytest.raises(GensuiteError, match="size must be 32 or 64"):
        build_celeba(DataRoot(DATA), size=48)
