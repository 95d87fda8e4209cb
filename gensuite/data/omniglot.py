"""Omniglot (Lake et al. 2015) for few-shot learning: 28×28 float32, strokes = 1, background = 0.

Every source is decoded to 105×105 stroke masks and resized by the one function ``to_28``, so
the npz arrays, torchvision's PNG tree and Lake's zips give identical tensors:

- ``omniglot/images_{background,evaluation}.npz`` (bool, True = white background, as in the
  PNGs) with ``omniglot/alphabets.tsv`` mapping character IDs to ``Alphabet/characterNN``;
- torchvision's layout ``omniglot-py/images_{background,evaluation}/<Alphabet>/<character>/*.png``;
- Lake's zips ``omniglot/images_background{,_small1,_small2}.zip`` and ``all_runs.zip``.

Characters are ordered by their original ID whatever the source. Decoded sets are cached
in-process (``lru_cache``; treat the cached tensors as read-only). Decode times measured on 2
CPU cores (ranges: a shared, busy machine): images_background.npz 1.0-1.5 s and
images_evaluation.npz 0.5-0.9 s (about half of it zip inflation in ``np.load``), then 0.6 s to
assemble the Vinyals split with rotations; the same 19 280 background images as torchvision PNGs
3.4 s; a small1 zip 0.5 s; the 20 runs 0.2 s.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import zipfile
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gensuite.api import DatasetInfo
from gensuite.data.containers import FewShotData, FixedEpisode
from gensuite.data.root import DataRoot, readable
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

SIZE = 28
_CHUNK = 1024  # images per interpolate call (fastest of 256..4096 on 2 cores)

# sha256 and size of the files as published (Lake's repository; the npz arrays of
# bitsandscraps/omniglot): quoted when a copy turns out damaged.
KNOWN_FILES = {
    "images_background.npz": (
        "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199", 3_340_794),
    "images_evaluation.npz": (
        "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276", 2_415_269),
    "images_background_small1.zip": (
        "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4", 1_319_022),
    "images_background_small2.zip": (
        "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f", 1_580_917),
    "all_runs.zip": ("437c1eeab0af8484112e1b4cc0f3d541ec727f7c47b9b202da738af9dfd6c325", 352_787),
}
HOW_TO_GET = (
    "the official files are in the Omniglot repository github.com/brendenlake/omniglot "
    "(python/images_background.zip, images_evaluation.zip, images_background_small1.zip, "
    "images_background_small2.zip, one-shot-classification/all_runs.zip: put them under "
    "<root>/omniglot/); online, torchvision.datasets.Omniglot(root, download=True) fetches the "
    "full sets (dataset option download=True does this into the user cache dir); the Vinyals "
    "split files are data/omniglot/splits/vinyals/*.txt of github.com/jakesnell/"
    "prototypical-networks (put them in <root>/omniglot/splits_vinyals/); then pass "
    "--data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)


@dataclass(frozen=True)
class CharSet:
    """Characters of one source: keys ``Alphabet/characterNN``, images (chars, drawers, 28, 28)."""

    keys: tuple[str, ...]
    images: torch.Tensor  # float32 in [0, 1], strokes = 1; shared by the cache: do not modify
    files: tuple[Path, ...]


def to_28(strokes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., H, W) stroke masks (True = ink) → (..., 28, 28) float32 in [0, 1].

    torch bilinear interpolation with antialias=True (Pillow's triangle filter widened by the
    scale factor): it is batched (0.8 s for the 19 280 background images, ~2.5 s as a PIL loop)
    and its weights are non-negative, so values stay in [0, 1] (Lanczos/bicubic overshoot).
    PIL would also need a mode conversion first: on mode "1" images ``Image.resize`` silently
    uses NEAREST whatever filter is asked (Snell et al.'s loader is therefore un-antialiased).
    """
    x = torch.as_tensor(strokes)
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    flat = x.reshape(-1, 1, h, w)
    if flat.dtype == torch.bool:
        flat = flat.view(torch.uint8)  # uint8 -> float converts faster than bool -> float
    out = torch.empty(flat.shape[0], 1, SIZE, SIZE)
    # One reused float buffer: a fresh 100+ MB allocation per chunk costs more in page faults
    # than the interpolation itself.
    buf = torch.empty(min(_CHUNK, flat.shape[0]), 1, h, w)
    for start in range(0, flat.shape[0], _CHUNK):
        src = flat[start : start + _CHUNK]
        chunk = buf[: len(src)].copy_(src)
        out[start : start + _CHUNK] = F.interpolate(
            chunk, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False
        )
    return out.clamp_(0.0, 1.0).reshape(*lead, SIZE, SIZE)


def _decode_png(data: bytes) -> np.ndarray:
    """A PNG (mode "1": white background, black strokes) → bool mask, True = ink."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L")) < 128


def _char_id(filename: str) -> int:
    # Lake's file names are <character ID>_<drawer>.png; order characters as the npz does.
    m = re.match(r"(\d+)_\d+\.png$", filename)
    return int(m.group(1)) if m else 1 << 30


@functools.lru_cache(maxsize=8)
def load_png_set(container: Path) -> CharSet:
    """Characters from a ``.../<Alphabet>/<character>/*.png`` tree in a directory or a zip."""
    with contextlib.ExitStack() as stack:
        if container.is_dir():
            paths = sorted(container.rglob("*.png"))
            entries = [(p.relative_to(container).parts, p.read_bytes) for p in paths]
            files = tuple(paths)
        else:
            with _readable(container):
                zf = stack.enter_context(zipfile.ZipFile(container))
            names = sorted(n for n in zf.namelist() if n.endswith(".png"))
            entries = [(PurePosixPath(n).parts, functools.partial(zf.read, n)) for n in names]
            files = (container,)
        groups: dict[str, list] = {}
        for parts, read in entries:
            if len(parts) >= 3:
                groups.setdefault(f"{parts[-3]}/{parts[-2]}", []).append((parts[-1], read))
        if not groups:
            raise MissingDataError(f"no <Alphabet>/<character>/*.png images in {container}")
        drawers = {len(v) for v in groups.values()}
        if len(drawers) != 1:
            raise GensuiteError(f"{container}: characters have unequal image counts {drawers}")
        keys = sorted(groups, key=lambda k: (_char_id(min(n for n, _ in groups[k])), k))
        masks = [
            np.stack([_decode_png(read()) for _, read in sorted(groups[k], key=itemgetter(0))])
            for k in keys
        ]
    return CharSet(tuple(keys), to_28(np.stack(masks)), files)


@functools.lru_cache(maxsize=4)
def load_npz_set(npz: Path, alphabets_tsv: Path, which: str) -> CharSet:
    """One set from the npz arrays; ``which`` is "background" or "evaluation"."""
    rows = [line.split("\t") for line in alphabets_tsv.read_text().splitlines()[1:] if line]
    ids, keys = [], []
    for first, last, set_name, alphabet, _ in rows:
        if set_name == which:
            for cid in range(int(first), int(last) + 1):
                ids.append(cid)
                keys.append(f"{alphabet}/character{cid - int(first) + 1:02d}")
    with _readable(npz), np.load(npz) as z:
        images = z["images"]
    # Index = character ID - first ID of the set (1 or 965): the IDs must be contiguous.
    if sorted(ids) != list(range(min(ids), min(ids) + len(images))):
        raise GensuiteError(f"{alphabets_tsv} does not match the {len(images)} characters of {npz}")
    order = np.argsort(ids)
    # npz True = white background (identical to the PNGs): ink is the complement.
    return CharSet(tuple(keys[i] for i in order), to_28(~images), (npz, alphabets_tsv))


def _readable(path: Path):
    return readable(path, "omniglot", HOW_TO_GET, KNOWN_FILES.get(path.name))


def download_omniglot(root: Path) -> Path:
    """Fetch both full sets with torchvision into ``root/omniglot-py`` (online users only)."""
    from torchvision.datasets import Omniglot  # imported here: only downloads need it

    for background in (True, False):
        Omniglot(str(root), background=background, download=True)
    return root / "omniglot-py"


def load_set(root: DataRoot, which: str, *, dataset: str, download: bool = False) -> CharSet:
    """The full background or evaluation set from the first source found (npz first)."""
    rels = (
        f"omniglot/images_{which}.npz",
        f"omniglot-py/images_{which}",
        f"omniglot/images_{which}.zip",
    )
    path = root.locate(dataset, *rels, how_to_get=HOW_TO_GET,
                       fetch=download_omniglot if download else None)
    path = path.resolve()  # one cache entry per file, whichever root found it
    if path.suffix != ".npz":
        return load_png_set(path)
    tsv = path.with_name("alphabets.tsv")
    if not tsv.exists():
        raise MissingDataError(f"dataset {dataset!r}: {path} needs alphabets.tsv beside it")
    return load_npz_set(path, tsv, which)


def _read_run(zf: zipfile.ZipFile, run: str) -> FixedEpisode:
    """One run: support = training/classNN.png in order, queries = the test items it lists."""
    lines = zf.read(f"{run}/class_labels.txt").decode().splitlines()
    class_of = dict(line.split() for line in lines if line.strip())  # test item -> class image
    classes = sorted(n for n in zf.namelist() if re.fullmatch(rf"{run}/training/[^/]+\.png", n))
    items = sorted(class_of)
    label = {name: i for i, name in enumerate(classes)}
    support = to_28(np.stack([_decode_png(zf.read(n)) for n in classes]))
    query = to_28(np.stack([_decode_png(zf.read(n)) for n in items]))
    return FixedEpisode(
        support=support.unsqueeze(1),
        support_labels=torch.arange(len(classes)),
        query=query.unsqueeze(1),
        query_labels=torch.tensor([label[class_of[n]] for n in items]),
    )


@functools.lru_cache(maxsize=2)
def load_lake_runs(zip_path: Path) -> tuple[FixedEpisode, ...]:
    """Lake's within-alphabet 20-way 1-shot runs (run01..run20 of all_runs.zip)."""
    with _readable(zip_path), zipfile.ZipFile(zip_path) as zf:
        labels = [n for n in zf.namelist() if re.fullmatch(r"run\d+/class_labels\.txt", n)]
        return tuple(_read_run(zf, n.split("/")[0]) for n in sorted(labels))


def read_split(path: Path) -> list[tuple[str, int]]:
    """Vinyals split lines ``Alphabet/characterNN/rotDDD`` → (character key, quarter turns)."""
    out = []
    for line in path.read_text().split():
        alphabet, char, rot = line.split("/")
        degrees = int(rot.removeprefix("rot"))
        if degrees % 90:
            raise GensuiteError(f"{path}: rotation {rot} is not a multiple of 90 degrees")
        out.append((f"{alphabet}/{char}", degrees // 90 % 4))
    return out


def rotate(images: torch.Tensor, quarter_turns: int) -> torch.Tensor:
    """Rotate (..., H, W) images counter-clockwise as displayed (like PIL's Image.rotate).

    Rotated copies are only new class labels, so the direction is immaterial; on a square
    image with a symmetric filter, rotating after the resize equals rotating before it.
    """
    return torch.rot90(images, quarter_turns, dims=(-2, -1))


def _split_classes(images: torch.Tensor, index: dict[str, int], path: Path) -> torch.Tensor:
    """The classes listed in one split file → (classes, drawers, 1, 28, 28)."""
    entries = read_split(path)
    try:
        idx = torch.tensor([index[key] for key, _ in entries])
    except KeyError as e:
        raise GensuiteError(f"{path}: character {e.args[0]} is not in the Omniglot sets") from None
    turns = torch.tensor([k for _, k in entries])
    out = torch.empty(len(entries), images.shape[1], 1, SIZE, SIZE)
    for k in range(4):
        sel = (turns == k).nonzero().squeeze(1)
        # index_select/index_copy_: several times faster than fancy indexing on 4-D/5-D tensors.
        chars = rotate(images.index_select(0, idx[sel]), k)
        out.index_copy_(0, sel, chars.unsqueeze(2))
    return out


def build_vinyals(
    root: DataRoot, *, train_split: str = "trainval", download: bool = False
) -> FewShotData:
    """Vinyals et al.'s class split as used by Snell et al.: every class is a character × rotation.

    ``train_split="trainval"`` (default; Snell et al.'s final numbers) trains on 4800 classes,
    ``"train"`` on 4112. ``val`` is always the 688 val.txt classes so pruning can work; with
    trainval they are inside training, so validation accuracy is optimistic there. ``test`` is
    the 1692 test.txt classes.
    """
    name = "omniglot-vinyals"
    if train_split not in ("train", "trainval"):
        raise GensuiteError(
            f"dataset {name!r}: train_split must be 'train' or 'trainval', not {train_split!r}"
        )
    split_dir = root.locate(
        name,
        "omniglot/splits_vinyals/test.txt",
        "omniglot/splits/vinyals/test.txt",
        how_to_get=HOW_TO_GET,
    ).parent
    split_files = [split_dir / f"{s}.txt" for s in (train_split, "val", "test")]
    for f in split_files:
        if not f.exists():
            raise MissingDataError(f"dataset {name!r}: {f} is missing; {HOW_TO_GET}")
    sets = [
        load_set(root, w, dataset=name, download=download) for w in ("background", "evaluation")
    ]
    images = torch.cat([s.images for s in sets])
    index = {key: i for i, key in enumerate(k for s in sets for k in s.keys)}
    train, val, test = (_split_classes(images, index, f) for f in split_files)
    files = tuple(dict.fromkeys([*split_files, *sets[0].files, *sets[1].files]))
    description = (
        f"Omniglot, Vinyals split ({train_split} {len(train)} classes incl. rotations / "
        f"val {len(val)} / test {len(test)}), 28×28"
    )
    info = DatasetInfo(name=name, description=description, files=files)
    return FewShotData(info=info, train=train, val=val, test=test)


def build_lake(
    root: DataRoot, *, background: str = "full", rotations: bool = True, download: bool = False
) -> FewShotData:
    """Lake's one-shot task: train on a background set, test on the 20 within-alphabet runs.

    ``background``: "full" (964 characters) or Lake's minimal "small1" / "small2" (note: both
    contain Greek and Latin, byte-identical). ``rotations`` adds the 90/180/270° copies of every
    character as extra classes (character-major: a character's 4 rotations are consecutive).
    """
    name = "omniglot-lake"
    if background == "full":
        chars = load_set(root, "background", dataset=name, download=download)
    elif background in ("small1", "small2"):
        rel = f"omniglot/images_background_{background}"
        chars = load_png_set(root.locate(name, rel + ".zip", rel, how_to_get=HOW_TO_GET).resolve())
    else:
        choices = "'full', 'small1' or 'small2'"
        raise GensuiteError(f"dataset {name!r}: background must be {choices}, not {background!r}")
    runs_zip = root.locate(name, "omniglot/all_runs.zip", how_to_get=HOW_TO_GET).resolve()
    episodes = load_lake_runs(runs_zip)
    if rotations:
        train = torch.stack([rotate(chars.images, k) for k in range(4)], dim=1)
        train = train.reshape(-1, *chars.images.shape[1:])
    else:
        train = chars.images.clone()  # never hand out the cached tensor itself
    description = (
        f"Omniglot, Lake background {background} ({len(chars.keys)} characters"
        f"{' × 4 rotations' if rotations else ''} = {len(train)} classes) + the "
        f"{len(episodes)} within-alphabet 20-way 1-shot runs, 28×28"
    )
    info = DatasetInfo(name=name, description=description, files=(*chars.files, runs_zip))
    return FewShotData(info=info, train=train.unsqueeze(2), test_episodes=episodes)


def _probe(dataset: str, *rels: str):
    """A cheap presence check for ``gensuite list``: locate the key file, decode nothing."""

    def probe(root: DataRoot) -> Path:
        return root.locate(dataset, *rels, how_to_get=HOW_TO_GET)

    return probe


# Few-shot data: no evaluation classifier (nothing generates Omniglot images here).
register_dataset("omniglot-vinyals", probe=_probe(
    "omniglot-vinyals", "omniglot/images_background.npz", "omniglot-py/images_background",
    "omniglot/images_background.zip",
))(build_vinyals)
register_dataset("omniglot-lake", probe=_probe("omniglot-lake", "omniglot/all_runs.zip"))(
    build_lake)
