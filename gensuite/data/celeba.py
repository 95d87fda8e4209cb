"""CelebA aligned faces with one binary attribute as the label (Liu, Luo, Wang & Tang 2015).

Course report D trains a DCGAN on 64×64 faces (D-1) and an ACGAN conditioned on "Smiling"
(D-2). Images: ``img_align_celeba`` (178×218), centre crop 178×178 then an antialiased resize to
``size`` (32 or 64): the DCGAN convention (Radford et al. 2016; the PyTorch DCGAN example's
Resize(64) + CenterCrop(64) keeps the same square). Labels: ``attribute`` (default "Smiling")
from ``list_attr_celeba``; classes ("not Smiling", "Smiling").

Layout: torchvision's ``<root>/celeba/`` (``list_attr_celeba.txt``, ``img_align_celeba/`` or
``img_align_celeba.zip``, ``list_eval_partition.txt``; ``download=True`` fetches it with
torchvision). The attribute file may also be ``list_attr_celeba.zip``, with or without the first
line (the image count). Split: with ``list_eval_partition.txt``, its train (0) and test (2)
partitions (validation, 1, is left out); without it, images in name order, every 4th is a test
image. Only the images present are used: offline there are 32 (24 train / 8 test), enough for
smoke runs only, and the description says so. Large sets are decoded once into the user cache.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path, PurePosixPath

import pandas as pd
import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.imagefiles import (
    Decode,
    content_key,
    decode_all,
    decoded_cache_dir,
    disk_cached,
    every_kth,
    files_read,
    load_images,
    member_names,
    read_member,
)
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

NAME = "celeba"
N_IMAGES = 202_599  # the full aligned set
CROP = (178, 178)
TEST_EVERY = 4  # without a partition file
DISK_CACHE_MIN = 5_000  # decode sets at least this large once into the user cache dir
ATTR_RELS = ("celeba/list_attr_celeba.txt", "celeba/list_attr_celeba.zip")
IMAGE_RELS = ("img_align_celeba", "img_align_celeba.zip")  # beside the attribute file
HOW_TO_GET = (
    "put list_attr_celeba.txt (or .zip), list_eval_partition.txt and img_align_celeba/ (the "
    "aligned JPEGs, or img_align_celeba.zip) from the CelebA site "
    "(mmlab.ie.cuhk.edu.hk/projects/CelebA.html) in <root>/celeba/; online, dataset option "
    "download=True fetches them with torchvision into the user cache dir; then pass "
    "--data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)


def download_celeba(root: Path) -> Path:
    """Fetch CelebA with torchvision into ``root/celeba`` (online users only; Google Drive)."""
    from torchvision.datasets import CelebA  # imported here: only downloads need it

    CelebA(str(root), split="all", target_type="attr", download=True)
    return root / "celeba"


@functools.lru_cache(maxsize=4)
def _read_attributes(path: str, key: tuple) -> tuple[tuple[str, ...], pd.DataFrame]:
    # ``key`` (size, mtime) is only part of the cache key: a rewritten file is parsed again.
    p = Path(path)
    if p.suffix == ".zip":
        txt = member_names(p, (".txt",))
        if not txt:
            raise GensuiteError(f"dataset {NAME!r}: {p} holds no list_attr_celeba.txt")
        raw = read_member(p, txt[0])
    else:
        raw = p.read_bytes()
    text = raw.decode()
    lines = text.split("\n", 2)
    skip = 0
    if lines[0].strip().isdigit():  # the original's first line is the image count
        skip, lines = 1, lines[1:]
    header = tuple(lines[0].split())
    # pandas' C parser: 0.4 s for all 202 599 rows, 4× faster than splitting lines in Python.
    table = pd.read_csv(io.StringIO(text), sep=r"\s+", skiprows=skip + 1, header=None,
                        index_col=0, dtype={0: str})
    if table.shape[1] != len(header) or not table.isin((-1, 1)).all().all():
        raise GensuiteError(
            f"dataset {NAME!r}: {p} is not a CelebA attribute list ({len(header)} names, "
            f"{table.shape[1]} value columns, values must be -1 or 1)"
        )
    if skip and int(text.split("\n", 1)[0]) != len(table):
        raise GensuiteError(f"dataset {NAME!r}: {p} announces {text.split()[0]} rows, has "
                            f"{len(table)}")
    return header, table


def read_attributes(path: Path) -> tuple[tuple[str, ...], pd.DataFrame]:
    """(attribute names, table indexed by image file name with ±1 values); cached in-process."""
    st = os.stat(path)
    return _read_attributes(str(path.resolve()), (st.st_size, st.st_mtime_ns, st.st_ino))


def locate(root: DataRoot, *, download: bool = False) -> tuple[Path, Path]:
    """(attribute file, image folder or zip beside it)."""
    attr = root.locate(NAME, *ATTR_RELS, how_to_get=HOW_TO_GET,
                       fetch=download_celeba if download else None)
    for rel in IMAGE_RELS:
        if (attr.parent / rel).exists():
            return attr.resolve(), (attr.parent / rel).resolve()
    raise MissingDataError(
        f"dataset {NAME!r}: found {attr} but no img_align_celeba/ or img_align_celeba.zip "
        f"beside it; {' '.join(HOW_TO_GET.split())}"
    )


def _split(folder: Path, files: list[str]) -> tuple[list[str], list[str], Path | None]:
    """(train files, test files, the partition file if one decided it)."""
    partition = folder / "list_eval_partition.txt"
    if not partition.exists():
        test = every_kth(len(files), TEST_EVERY).tolist()
        return ([f for f, t in zip(files, test) if not t], [f for f, t in zip(files, test) if t],
                None)
    part = dict(line.split() for line in partition.read_text().splitlines() if line.strip())
    return ([f for f in files if part.get(f) == "0"], [f for f in files if part.get(f) == "2"],
            partition)


def _decode(container: Path, members: list[str], spec: Decode) -> torch.Tensor:
    if len(members) < DISK_CACHE_MIN:
        return load_images(container, members, spec)
    key = f"celeba-{content_key(container, members)}-{spec.key()}"
    arrays = disk_cached(decoded_cache_dir() / key,
                         lambda: {"images": decode_all(container, members, spec)}, ["images"])
    return torch.from_numpy(arrays["images"])


def build_celeba(
    root: DataRoot, *, attribute: str = "Smiling", size: int = 64, download: bool = False
) -> ImageClassData:
    """CelebA aligned faces labelled by one binary attribute (see the module docstring)."""
    if size not in (32, 64):
        raise GensuiteError(f"dataset {NAME!r}: size must be 32 or 64, not {size!r}")
    attr_path, container = locate(root, download=download)
    header, table = read_attributes(attr_path)
    if attribute not in header:
        raise GensuiteError(f"dataset {NAME!r}: unknown attribute {attribute!r}; known: "
                            f"{', '.join(header)}")
    member_of = {PurePosixPath(m).name: m for m in member_names(container, (".jpg",))}
    if not member_of:
        raise MissingDataError(f"dataset {NAME!r}: no JPEG images in {container}; "
                               f"{' '.join(HOW_TO_GET.split())}")
    unknown = sorted(set(member_of) - set(table.index))
    if unknown:
        raise GensuiteError(f"dataset {NAME!r}: {len(unknown)} images in {container} have no row "
                            f"in {attr_path} (e.g. {unknown[0]})")
    train_files, test_files, partition = _split(attr_path.parent, sorted(member_of))
    if not train_files or not test_files:
        raise GensuiteError(f"dataset {NAME!r}: the {len(member_of)} images in {container} give "
                            f"{len(train_files)} train / {len(test_files)} test images")
    column = table[header.index(attribute) + 1]  # pandas numbers the value columns from 1
    spec = Decode(mode="RGB", crop=CROP, size=size)
    out = {}
    for split, names in (("train", train_files), ("test", test_files)):
        images = _decode(container, [member_of[n] for n in names], spec)
        out[f"{split}_images"] = images.clone()  # never hand out the cached tensor itself
        out[f"{split}_labels"] = torch.from_numpy(column.loc[names].to_numpy() == 1).long()
    n = len(member_of)
    how = ("list_eval_partition.txt train / test" if partition
           else "every 4th image in name order held out")
    subset = (f"; offline subset of the {n} images present (of {N_IMAGES:,}), for smoke runs "
              "only" if n < N_IMAGES else "")
    description = (
        f"CelebA aligned, label {attribute} ({len(train_files)} train / {len(test_files)} test, "
        f"{how}), 178×178 centre crop resized to {size}×{size} RGB{subset}"
    )
    used = [member_of[f] for f in train_files + test_files]
    files = (attr_path, *((partition,) if partition else ()), *files_read(container, used))
    return ImageClassData(
        info=DatasetInfo(name=NAME, description=description, files=files),
        classes=(f"not {attribute}", attribute),
        title="CelebA" if n >= N_IMAGES else f"CelebA {n}-image subset",
        **out,
    )


def _probe(root: DataRoot) -> Path:
    """A cheap presence check for ``gensuite list``: the attribute file and images beside it."""
    return locate(root)[1]


# Generated faces are judged by a classifier of the builder's default attribute (Smiling, report
# D-2's) at the model's image size.
register_dataset(NAME, probe=_probe, evaluation=EvaluationClassifierSpec(size_option="size"))(
    build_celeba)
