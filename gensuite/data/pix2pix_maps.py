"""pix2pix "maps" (Isola et al. 2017): aerial photo ↔ Google map pairs, the data of report A-Q3.

Layout (the authors' own): ``maps/{train,val}/N.jpg``, one side-by-side pair per file, A (aerial
photo) on the left half and B (map) on the right; 1 096 train and 1 098 val pairs, numbered from
1. pix2pix tests on ``val``, so ``val`` is the test split here.

Sources, first found: the original full-size JPEGs (600×600 halves) unpacked from the authors'
``maps.tar.gz`` into ``<root>/maps/`` or ``<root>/pix2pix-maps/maps/`` (read at their own
resolution, resized to ``size``; checked against ``SHA256SUMS.originals`` when that file is in
``<root>/pix2pix-maps/``), else the offline copy ``pix2pix-maps/maps_128px.zip`` whose halves were
downscaled to 128×128 (its description says so: SSIM/L1 on it are not comparable with numbers
computed at 256 px). Online users can set ``download=True`` for the authors' archive.

``direction`` "AtoB" (aerial → map, report A-Q3) or "BtoA" (map → aerial) decides which half is
the input. Decoding is cached on disk (2 194 full-size JPEGs take ~30 s to decode).
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from gensuite.api import DatasetInfo
from gensuite.data.containers import PairedImageData
from gensuite.data.imagefiles import (
    content_key,
    decoded_cache_dir,
    disk_cached,
    files_read,
    member_names,
    reader,
)
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

NAME = "pix2pix-maps"
COUNTS = {"train": 1096, "val": 1098}  # the authors' release
DIRECTIONS = ("AtoB", "BtoA")
HALF_NAMES = ("aerial photo", "map")  # A, B
COPY_SIZE = 128  # the offline copy's halves
ORIGINAL_RELS = ("maps", "pix2pix-maps/maps", "datasets/maps")
COPY_REL = "pix2pix-maps/maps_128px.zip"
SUMS_REL = "pix2pix-maps/SHA256SUMS.originals"
URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/maps.tar.gz"
HOW_TO_GET = (
    "unpack the authors' maps.tar.gz (" + URL + ") into <root>/ so that <root>/maps/train/1.jpg "
    "exists, or put maps_128px.zip (the offline 128-px copy) in <root>/pix2pix-maps/; online, "
    "dataset option download=True fetches the archive into the user cache dir; then pass "
    "--data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)


def download_maps(root: Path) -> Path:
    """Fetch and unpack the authors' archive into ``root/maps`` (online users only)."""
    from torchvision.datasets.utils import download_and_extract_archive  # only downloads

    download_and_extract_archive(URL, str(root), filename="maps.tar.gz")
    return root / "maps"


def _numbered(container: Path, split: str) -> list[str]:
    """``split/N.jpg`` members in numeric order (1, 2, …, 10, not 1, 10, 2)."""
    names = [n for n in member_names(container, (".jpg",))
             if PurePosixPath(n).parent.name == split]
    try:
        return sorted(names, key=lambda n: int(PurePosixPath(n).stem))
    except ValueError:
        raise GensuiteError(f"dataset {NAME!r}: {container} has a {split} image not named "
                            "N.jpg; it is not the pix2pix maps layout") from None


def split_pair(data: bytes, name: str, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """One side-by-side pair → (A, B) uint8 (H, W, 3): A is the left half. Each half is resized
    on its own to ``size`` (bicubic, as pix2pix loads images) when it is not that size."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w != 2 * h:
                raise GensuiteError(f"dataset {NAME!r}: {name} is {w}×{h}; a pair image is "
                                    "two square halves side by side (width = 2 × height)")
            halves = [im.crop((0, 0, h, h)), im.crop((h, 0, w, h))]
            if size is not None and h != size:
                halves = [x.resize((size, size), Image.Resampling.BICUBIC) for x in halves]
            a, b = (np.asarray(x) for x in halves)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise GensuiteError(f"dataset {NAME!r}: cannot decode {name}: {e}") from None
    return a, b


def _decode_split(container: Path, names: list[str], size: int | None) -> dict[str, np.ndarray]:
    a_list, b_list = [], []
    with reader(container) as read:
        for n in names:
            a, b = split_pair(read(n), f"{container}:{n}", size)
            if a_list and a.shape != a_list[0].shape:
                raise GensuiteError(f"dataset {NAME!r}: {container}:{n} has {a.shape[1]}-px "
                                    f"halves, {names[0]} {a_list[0].shape[1]}-px ones")
            a_list.append(a)
            b_list.append(b)
    return {k: np.ascontiguousarray(np.stack(v).transpose(0, 3, 1, 2))
            for k, v in (("a", a_list), ("b", b_list))}


def verify_originals(folder: Path, sums: Path, names: dict[str, list[str]]) -> None:
    """Each original against the published sha256 list; a differing file is named."""
    from gensuite.data.fingerprint import sha256_file

    expected = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.strip().partition("  ")
        if rel:
            expected[PurePosixPath(rel).as_posix()] = digest
    for members in names.values():
        for member in members:
            key = f"maps/{member}"
            got = sha256_file(folder / member)
            if key in expected and got != expected[key]:
                raise GensuiteError(
                    f"dataset {NAME!r}: {folder / member} has sha256 {got[:16]}…, the authors' "
                    f"file {expected[key][:16]}…; it is damaged or not the pix2pix maps file")


def build_pix2pix_maps(
    root: DataRoot,
    *,
    direction: str = "AtoB",
    size: int = 0,
    source: str = "auto",
    download: bool = False,
) -> PairedImageData:
    """The maps pairs; ``size`` 0 keeps the source's resolution (128 for the offline copy, 256
    for the originals, as pix2pix trains at); ``source`` auto | original | copy-128."""
    if direction not in DIRECTIONS:
        raise GensuiteError(f"dataset {NAME!r}: direction must be AtoB or BtoA, not {direction!r}")
    if source not in ("auto", "original", "copy-128"):
        raise GensuiteError(f"dataset {NAME!r}: source must be auto, original or copy-128")
    container, original = None, False
    if source in ("auto", "original"):
        try:
            container = root.locate(NAME, *ORIGINAL_RELS, how_to_get=HOW_TO_GET,
                                    fetch=download_maps if download else None).resolve()
            original = True
        except MissingDataError:
            if source == "original":
                raise
    if container is None:
        container = root.locate(NAME, COPY_REL, how_to_get=HOW_TO_GET).resolve()
    names = {split: _numbered(container, split) for split in COUNTS}
    for split, n in COUNTS.items():
        if len(names[split]) != n:
            raise GensuiteError(f"dataset {NAME!r}: {container} has {len(names[split])} {split} "
                                f"pairs, the authors' maps {n}; it is not the maps dataset")
    if original:
        try:
            sums = root.locate(NAME, SUMS_REL, how_to_get="").resolve()
        except MissingDataError:
            sums = None
        if sums is not None and container.is_dir():
            verify_originals(container, sums, names)
    size = size or (256 if original else COPY_SIZE)
    if not original and size != COPY_SIZE:
        raise GensuiteError(f"dataset {NAME!r}: the offline copy has 128-px halves; size {size} "
                            "needs the original maps (see the how-to in the error of source "
                            "'original')")
    arrays = {}
    key = content_key(container, names["train"] + names["val"])  # one hash of the zip, not two
    for split in COUNTS:
        arrays[split] = disk_cached(
            decoded_cache_dir() / NAME / f"{key}-{split}-{size}",
            lambda s=split: _decode_split(container, names[s], size), ("a", "b"))
    a_first = direction == "AtoB"
    inputs, targets = ("a", "b") if a_first else ("b", "a")
    in_name, out_name = HALF_NAMES if a_first else HALF_NAMES[::-1]
    where = ("the original JPEGs" + (f", resized to {size}×{size}" if size != 600 else "")
             if original else f"the offline copy downscaled to {COPY_SIZE}×{COPY_SIZE} halves "
             "(not comparable with numbers at 256 px)")
    description = (f"pix2pix maps ({COUNTS['train']} train / {COUNTS['val']} val pairs), "
                   f"{in_name} → {out_name}, {size}×{size} RGB halves from {where}")
    files = files_read(container, names["train"] + names["val"])
    t = {split: {k: torch.from_numpy(v) for k, v in arrays[split].items()} for split in COUNTS}
    return PairedImageData(
        info=DatasetInfo(name=NAME, description=description, files=files),
        train_inputs=t["train"][inputs], train_targets=t["train"][targets],
        test_inputs=t["val"][inputs], test_targets=t["val"][targets],
        input_name=in_name, target_name=out_name,
    )


def _probe(root: DataRoot) -> Path:
    """A cheap presence check for ``gensuite list``: locate the originals or the copy."""
    return root.locate(NAME, *ORIGINAL_RELS, COPY_REL, how_to_get=HOW_TO_GET)


register_dataset(NAME, probe=_probe)(build_pix2pix_maps)
