"""The pix2pix maps builder (gensuite.data.pix2pix_maps): the pair split puts A on the left,
the direction swaps the halves, bad files give one line naming them, originals are checked
against the published hashes. Tiny JPEGs made here are synthetic test data, named so."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gensuite.data.pix2pix_maps import build_pix2pix_maps, split_pair, verify_originals
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError


def _jpeg(w: int, h: int, left=(255, 0, 0), right=(0, 0, 255)) -> bytes:
    """A synthetic pair image: the left half one colour, the right half another."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2], arr[:, w // 2:] = left, right
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_the_left_half_is_a():
    a, b = split_pair(_jpeg(64, 32), "pair.jpg", None)
    assert a.shape == b.shape == (32, 32, 3)
    assert a[..., 0].mean() > 200 and a[..., 2].mean() < 50  # red: A, the left half
    assert b[..., 2].mean() > 200 and b[..., 0].mean() < 50  # blue: B, the right half
    a16, _ = split_pair(_jpeg(64, 32), "pair.jpg", 16)  # each half resized on its own
    assert a16.shape == (16, 16, 3)


def test_a_wrongly_sized_pair_names_the_file():
    with pytest.raises(GensuiteError, match=r"odd\.jpg is 100×64; a pair image is two square"):
        split_pair(_jpeg(100, 64), "odd.jpg", None)


def test_a_corrupt_pair_names_the_file():
    with pytest.raises(GensuiteError, match=r"cannot decode broken\.jpg"):
        split_pair(b"\xff\xd8 not a jpeg", "broken.jpg", None)


def test_a_container_with_other_counts_is_not_the_maps_data(tmp_path: Path):
    folder = tmp_path / "pix2pix-maps"
    folder.mkdir()
    with zipfile.ZipFile(folder / "maps_128px.zip", "w") as z:
        for split, n in (("train", 3), ("val", 2)):
            for i in range(1, n + 1):
                z.writestr(f"maps/{split}/{i}.jpg", _jpeg(256, 128))
    with pytest.raises(GensuiteError, match="has 3 train pairs, the authors' maps 1096"):
        build_pix2pix_maps(DataRoot(tmp_path), source="copy-128")


def test_originals_are_checked_against_the_published_hashes(tmp_path: Path):
    maps = tmp_path / "maps" / "train"
    maps.mkdir(parents=True)
    good, bad = _jpeg(64, 32), _jpeg(64, 32, left=(0, 255, 0))
    (maps / "1.jpg").write_bytes(good)
    (maps / "2.jpg").write_bytes(bad)
    sums = tmp_path / "SHA256SUMS.originals"
    sums.write_text(f"{hashlib.sha256(good).hexdigest()}  maps/train/1.jpg\n"
                    f"{hashlib.sha256(good).hexdigest()}  maps/train/2.jpg\n")
    names = {"train": ["train/1.jpg", "train/2.jpg"]}
    with pytest.raises(GensuiteError, match=r"train/2\.jpg has sha256 .* damaged"):
        verify_originals(tmp_path / "maps", sums, names)
    verify_originals(tmp_path / "maps", sums, {"train": ["train/1.jpg"]})  # a match passes


def test_the_real_maps_copy(data_root):
    d = build_pix2pix_maps(DataRoot(data_root))
    assert d.train_inputs.shape == (1096, 3, 128, 128) and d.test_targets.shape == (1098, 3, 128, 128)
    assert (d.input_name, d.target_name) == ("aerial photo", "map")
    assert "128×128" in d.info.description and "not comparable" in d.info.description
    # maps are mostly light grey, aerial photos dark: A (left) is the photo
    assert d.train_targets.float().mean() > 180 > 100 > d.train_inputs.float().mean()
    swapped = build_pix2pix_maps(DataRoot(data_root), direction="BtoA")
    assert swapped.input_name == "map"
    assert np.array_equal(swapped.train_inputs.numpy(), d.train_targets.numpy())


def test_the_offline_copy_has_no_256_px(data_root):
    with pytest.raises(GensuiteError, match="size 256 needs the original maps"):
        build_pix2pix_maps(DataRoot(data_root), size=256, source="copy-128")
