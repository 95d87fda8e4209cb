"""LFW faces, deep-funneled (Huang et al. 2007; Huang, Mattar, Lee & Learned-Miller 2012).

Course report B (B-1 VAE, B-2 DCGAN, B-3 GAN comparison) trains on the faces of one person,
George W. Bush: ``person="George_W_Bush"`` (530 images). ``person="all"`` gives every person with
at least 70 images as a class (7 people, 1 288 images: the set of scikit-learn's
``fetch_lfw_people(min_faces_per_person=70)``), for a face evaluation classifier (IS/FID features).

Pre-processing: the central 128×128 of the 250×250 deep-funneled image, resized to ``size``
(32 or 64) with an antialiased bilinear filter. Deep funneling aligns every face to the image
centre; the central 128 px hold the face from forehead to chin with little background (checked
on the mean Bush face), as in the usual 64×64 LFW GAN/VAE crops, and 128 = 2×64 = 4×32 makes the
resize an exact integer reduction. Split: per person, images in file-name order, every 10th
(index 9, 19, ...) is a test image (Bush: 477 train / 53 test; all 7: 1 162 / 126).

Sources, first found: the offline zip ``lfw/lfw_deepfunneled_min70faces.zip``, torchvision's
``lfw-py/lfw-deepfunneled/`` (``download=True``), or an unpacked ``lfw-deepfunneled.tgz``.
Decoding all 1 288 faces takes about 1 s on 2 CPU cores; rebuilds hit an in-process cache.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import torch

from gensuite.api import DatasetInfo, EvaluationClassifierSpec
from gensuite.data.containers import ImageClassData
from gensuite.data.imagefiles import Decode, every_kth, files_read, load_images, member_names
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError, MissingDataError
from gensuite.registry import register_dataset

NAME = "lfw-faces"
MIN_FACES = 70  # person="all": everyone with at least this many images
CROP = (128, 128)  # centre crop of the 250×250 deep-funneled image (see the module docstring)
TEST_EVERY = 10
# Per-person image counts of the whole LFW (lfw-names.txt) for the people with ≥ 70 images;
# a container with other counts for them is not LFW and is refused.
PUBLISHED_COUNTS = {
    "George_W_Bush": 530, "Colin_Powell": 236, "Tony_Blair": 144, "Donald_Rumsfeld": 121,
    "Gerhard_Schroeder": 109, "Ariel_Sharon": 77, "Hugo_Chavez": 71,
}
RELS = (
    "lfw/lfw_deepfunneled_min70faces.zip",
    "lfw-py/lfw-deepfunneled",  # torchvision.datasets.LFWPeople(image_set="deepfunneled")
    "lfw/lfw-deepfunneled",
    "lfw-deepfunneled",
)
# One identity cannot train an identity classifier: generated faces are judged by one trained on
# the 7 people, at the model's image size; faces need more passes than digits (2 epochs: 47% test
# accuracy, a constant guess 42%; 20 epochs: 87-89% over seeds 0-2).
EVALUATION = EvaluationClassifierSpec(options={"person": "all"}, size_option="size", epochs=20)
HOW_TO_GET = (
    "put lfw_deepfunneled_min70faces.zip (the 7 people with >= 70 images of images_deepfunneled/) "
    "in <root>/lfw/, or unpack lfw-deepfunneled.tgz from the LFW site (vis-www.cs.umass.edu/lfw) "
    "into <root>/lfw/; online, dataset option download=True fetches it with torchvision into the "
    "user cache dir; then pass --data-root DIR or set GENSUITE_DATA_ROOT=DIR"
)


def download_lfw(root: Path) -> Path:
    """Fetch the deep-funneled LFW with torchvision into ``root/lfw-py`` (online users only)."""
    from torchvision.datasets import LFWPeople  # imported here: only downloads need it

    LFWPeople(str(root), image_set="deepfunneled", download=True)
    return root / "lfw-py" / "lfw-deepfunneled"


def locate(root: DataRoot, *, download: bool = False) -> Path:
    """The zip or folder holding ``<person>/<person>_NNNN.jpg`` files."""
    return root.locate(NAME, *RELS, how_to_get=HOW_TO_GET,
                       fetch=download_lfw if download else None).resolve()


def people(container: Path) -> dict[str, tuple[str, ...]]:
    """Person → their image members (sorted), from the folder each JPEG is in."""
    out: dict[str, list[str]] = {}
    for name in member_names(container, (".jpg",)):
        out.setdefault(PurePosixPath(name).parent.name, []).append(name)
    if not out:
        raise MissingDataError(f"dataset {NAME!r}: no <person>/*.jpg images in {container}; "
                               f"{' '.join(HOW_TO_GET.split())}")
    for person, n in PUBLISHED_COUNTS.items():
        if person in out and len(out[person]) != n:
            raise GensuiteError(
                f"dataset {NAME!r}: {container} has {len(out[person])} images of {person}, "
                f"LFW has {n}; it is not the LFW deep-funneled set"
            )
    return {p: tuple(v) for p, v in out.items()}


def build_lfw_faces(
    root: DataRoot,
    *,
    person: str = "George_W_Bush",
    size: int = 64,
    channels: int = 3,
    download: bool = False,
) -> ImageClassData:
    """LFW deep-funneled faces of one person (one class) or of the 7 people with ≥ 70 images."""
    if size not in (32, 64):
        raise GensuiteError(f"dataset {NAME!r}: size must be 32 or 64, not {size!r}")
    if channels not in (1, 3):
        raise GensuiteError(f"dataset {NAME!r}: channels must be 1 or 3, not {channels!r}")
    container = locate(root, download=download)
    by_person = people(container)
    if person == "all":
        chosen = sorted(p for p, names in by_person.items() if len(names) >= MIN_FACES)
    elif person in by_person:
        chosen = [person]
    else:
        known = ", ".join(sorted(p for p, v in by_person.items() if len(v) >= MIN_FACES))
        raise GensuiteError(
            f"dataset {NAME!r}: no images of person {person!r} in {container}; use 'all' or a "
            f"name such as {known}"
        )
    spec = Decode(mode="L" if channels == 1 else "RGB", crop=CROP, size=size)
    parts: dict[str, list[torch.Tensor]] = {"train": [], "test": [], "ytrain": [], "ytest": []}
    for label, p in enumerate(chosen):
        images = load_images(container, by_person[p], spec)  # cached per person: Bush once
        test = every_kth(len(images), TEST_EVERY)
        for split, mask in (("train", ~test), ("test", test)):
            parts[split].append(images[mask])  # boolean indexing copies: the cache stays intact
            parts[f"y{split}"].append(torch.full((int(mask.sum()),), label, dtype=torch.long))
    train, test = torch.cat(parts["train"]), torch.cat(parts["test"])
    who = chosen[0].replace("_", " ") if person != "all" else f"{len(chosen)} people"
    description = (
        f"LFW deep-funneled, {who} ({len(train)} train / {len(test)} test, every 10th image per "
        f"person held out), central 128×128 resized to {size}×{size} "
        f"{'grey' if channels == 1 else 'RGB'}"
    )
    files = files_read(container, [n for p in chosen for n in by_person[p]])
    return ImageClassData(
        info=DatasetInfo(name=NAME, description=description, files=files),
        train_images=train,
        train_labels=torch.cat(parts["ytrain"]),
        test_images=test,
        test_labels=torch.cat(parts["ytest"]),
        classes=tuple(chosen),
        # Reports name metrics after it: "IS (LFW 7-person classifier)".
        title=f"LFW {len(chosen)}-person" if person == "all" else f"LFW {who}",
    )


def _probe(root: DataRoot) -> Path:
    """A cheap presence check for ``gensuite list``: locate the zip or folder, decode nothing."""
    return root.locate(NAME, *RELS, how_to_get=HOW_TO_GET)


register_dataset(NAME, probe=_probe, evaluation=EVALUATION)(build_lfw_faces)
