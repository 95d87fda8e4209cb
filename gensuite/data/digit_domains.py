"""Digit domain pairs for unsupervised domain adaptation (Ganin et al. 2016; Tzeng et al. 2017):
a labelled source and an unlabelled target among MNIST, MNIST-M and SVHN, as one
``DomainPairData`` (course report D-3 DANN, D-4 ADDA).

Both domains come from their own registered builders (so each finds its files, checks them and
fails as it does) and are brought to one shape: RGB (grey MNIST repeated over three channels)
at ``size`` × ``size`` pixels. ``size`` 28 is Ganin et al.'s MNIST → MNIST-M input (their
network's flattened 48·4·4 features assume it); MNIST-M (released at 32 px) and SVHN (32 px)
are then resized with an antialiased bilinear filter, as the widely used PyTorch port of DANN
(fungtion/DANN) does. ``size`` 32 keeps MNIST-M and SVHN as released and pads MNIST by 2 px
on each side, which is how MNIST-M's digits sit in its 32-px images.

Where SVHN is absent, its builder's one-line data-root error (what, where looked, how to get it)
is what a case naming it gets; a suite marks such cases ``data_optional`` so that running the
whole suite records them "not run" instead of stopping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from gensuite.api import DatasetInfo
from gensuite.data.containers import DomainPairData, ImageClassData
from gensuite.data.root import DataRoot
from gensuite.errors import DatasetOptionError
from gensuite.registry import register_dataset

NAME = "digit-domains"
DOMAINS = ("mnist", "mnist-m", "svhn")
SIZES = (28, 32)


def _as_rgb(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) → uint8 (N, 3, size, size): grey repeated; 28 ↔ 32 by padding MNIST
    (28 → 32) or an antialiased resize (32 → 28)."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    h = images.shape[-1]
    if h == size:
        return images.contiguous()
    if h == 28 and size == 32:
        return F.pad(images, (2, 2, 2, 2)).contiguous()
    out = []
    for chunk in images.split(4096):  # bounded memory for the float copy
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def _domain(root: DataRoot, name: str, size: int, download: bool) -> ImageClassData:
    from gensuite.plugins import datasets

    builder = datasets().get(name)
    data = builder(root, download=True) if download else builder(root)
    return ImageClassData(
        info=data.info, classes=data.classes, title=data.display_name,
        train_images=_as_rgb(data.train_images, size), train_labels=data.train_labels,
        test_images=_as_rgb(data.test_images, size), test_labels=data.test_labels,
    )


def build_digit_domains(
    root: DataRoot, *, source: str = "mnist", target: str = "mnist-m", size: int = 28,
    download: bool = False,
) -> DomainPairData:
    """The (source, target) pair at ``size`` px RGB; see the module docstring."""
    for role, name in (("source", source), ("target", target)):
        if name not in DOMAINS:
            raise DatasetOptionError(f"dataset {NAME!r}: {role} must be one of "
                                     f"{', '.join(DOMAINS)}; got {name!r}")
    if source == target:
        raise DatasetOptionError(f"dataset {NAME!r}: source and target are both {source!r}: "
                                 "nothing to adapt")
    if size not in SIZES:
        raise DatasetOptionError(f"dataset {NAME!r}: size must be one of {SIZES}; got {size}")
    src = _domain(root, source, size, download)
    tgt = _domain(root, target, size, download)
    how = "grey repeated to RGB; " if "mnist" in (source, target) else ""
    how += ("resized to 28 px (antialiased bilinear)" if size == 28 else
            "at 32 px (MNIST padded by 2 px)")
    description = (f"{src.display_name} → {tgt.display_name} at {size}×{size} RGB ({how}); "
                   f"source: {src.info.description}; target: {tgt.info.description}")
    stands_in = src.info.stands_in_for or tgt.info.stands_in_for
    info = DatasetInfo(name=f"{source}→{target}", description=description,
                       files=(*src.info.files, *tgt.info.files), stands_in_for=stands_in)
    return DomainPairData(info=info, source=src, target=tgt)


def _probe(root: DataRoot):
    """Presence of the default pair's data (MNIST and MNIST-M) for ``gensuite list``."""
    from gensuite.plugins import datasets

    datasets().entry("mnist").meta["probe"](root)
    return datasets().entry("mnist-m").meta["probe"](root)


register_dataset(NAME, probe=_probe)(build_digit_domains)
