"""The data containers dataset builders return, one per kind of data a plug-in can train on.

A plug-in's ``Config.data_type`` names one of these (or a subclass); ``validate_suite`` refuses a
suite that pairs it with a dataset whose builder returns another kind. Every container carries a
``DatasetInfo`` (name, description, files read) and has ``synthetic(seed)``: random data of the
right shape, named "synthetic-…" everywhere it appears, for unit tests and the registry-wide
plug-in test. Synthetic data is never real data and never passes for it.

- ``ImageClassData``: labelled images with train/test splits (MNIST, LFW, CelebA, CIFAR-10...).
- ``FewShotData``: images grouped by class, (classes, examples, C, H, W) per split (Omniglot).
- ``PairedImageData``: aligned (input, target) image pairs (pix2pix maps ↔ aerial photos).
- ``TokenStreamData``: token id streams per split and their vocabulary (PTB, Tiny Shakespeare).
- ``DomainPairData``: a labelled source domain and a target domain (DANN / ADDA: MNIST → MNIST-M).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from gensuite.api import DatasetInfo


def _synthetic_info(kind: str, seed: int, description: str, *tensors: torch.Tensor) -> DatasetInfo:
    h = hashlib.sha256(f"{kind}/{seed}".encode())
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return DatasetInfo(name=f"synthetic-{kind}", description=f"SYNTHETIC random {description} "
                       f"(seed {seed}; not real data)", files=(), digest=h.hexdigest())


def _images(gen: torch.Generator, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)


@dataclass(frozen=True, kw_only=True)
class ImageClassData:
    """A train/test split of labelled images.

    Images are uint8 (N, C, H, W) in 0..255, exactly as stored on disk (no normalisation, so
    every consumer decides its own); labels are int64 (N,) indexing ``classes``.
    """

    info: DatasetInfo
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    title: str = ""  # how reports name it ("MNIST"); empty: info.name

    @property
    def display_name(self) -> str:
        return self.title or self.info.name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train_images.shape[1:])

    @classmethod
    def synthetic(cls, seed: int = 0, *, n_train: int = 64, n_test: int = 32,
                  shape: tuple[int, int, int] = (1, 28, 28), classes: int = 4) -> ImageClassData:
        """Uniform-noise images with random labels; every class occurs in both splits."""
        g = torch.Generator().manual_seed(seed)
        train, test = _images(g, n_train, shape), _images(g, n_test, shape)
        y_train = torch.arange(n_train) % classes
        y_test = torch.arange(n_test) % classes
        return cls(
            info=_synthetic_info("images", seed, f"{n_train}/{n_test} images {shape}", train,
                                 test),
            train_images=train, train_labels=y_train, test_images=test, test_labels=y_test,
            classes=tuple(f"class{k}" for k in range(classes)), title="synthetic images",
        )


@dataclass(frozen=True)
class FixedEpisode:
    """One fixed evaluation episode (e.g. a Lake one-shot run); support is class-major."""

    support: torch.Tensor  # (n_support, 1, H, W) float32
    support_labels: torch.Tensor  # (n_support,) long
    query: torch.Tensor  # (n_query, 1, H, W) float32
    query_labels: torch.Tensor  # (n_query,) long


@dataclass(frozen=True)
class FewShotData:
    """What a few-shot dataset builder returns; image tensors are (classes, examples, 1, H, W)."""

    info: DatasetInfo
    train: torch.Tensor
    val: torch.Tensor | None = None
    test: torch.Tensor | None = None
    test_episodes: tuple[FixedEpisode, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            t = getattr(self, name)
            if t is not None and t.dim() != 5:
                raise ValueError(
                    f"{name} must be (classes, examples, 1, H, W), got {tuple(t.shape)}"
                )

    @classmethod
    def synthetic(cls, seed: int = 0, *, classes: int = 12, examples: int = 6,
                  size: int = 28) -> FewShotData:
        """Random float images in [0, 1], the same number of classes in every split."""
        g = torch.Generator().manual_seed(seed)
        train, val, test = (torch.rand(classes, examples, 1, size, size, generator=g)
                            for _ in range(3))
        info = _synthetic_info("few-shot", seed, f"{classes} classes × {examples} images "
                               f"of {size}×{size} per split", train, val, test)
        return cls(info=info, train=train, val=val, test=test)


@dataclass(frozen=True, kw_only=True)
class PairedImageData:
    """Aligned image pairs: ``*_inputs[i]`` maps to ``*_targets[i]`` (pix2pix, Isola et al.
    2017). uint8 (N, C, H, W) in 0..255; inputs and targets may differ in channels."""

    info: DatasetInfo
    train_inputs: torch.Tensor
    train_targets: torch.Tensor
    test_inputs: torch.Tensor
    test_targets: torch.Tensor
    input_name: str = "input"  # "map", "edges", ...
    target_name: str = "target"  # "aerial photo", ...

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            a, b = getattr(self, f"{split}_inputs"), getattr(self, f"{split}_targets")
            if len(a) != len(b) or a.shape[-2:] != b.shape[-2:]:
                raise ValueError(f"{split}: {tuple(a.shape)} inputs do not pair with "
                                 f"{tuple(b.shape)} targets")

    @classmethod
    def synthetic(cls, seed: int = 0, *, n_train: int = 8, n_test: int = 4,
                  size: int = 32) -> PairedImageData:
        g = torch.Generator().manual_seed(seed)
        tensors = [_images(g, n, (3, size, size)) for n in (n_train, n_train, n_test, n_test)]
        info = _synthetic_info("pairs", seed, f"{n_train}/{n_test} RGB pairs {size}×{size}",
                               *tensors)
        return cls(info=info, train_inputs=tensors[0], train_targets=tensors[1],
                   test_inputs=tensors[2], test_targets=tensors[3])


@dataclass(frozen=True, kw_only=True)
class TokenStreamData:
    """Token id streams (int64, 1-D) per split and the vocabulary they index (``vocab[i]`` is
    the token of id i): characters for char-RNN, words for PTB language models."""

    info: DatasetInfo
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    vocab: tuple[str, ...]
    unit: str = "token"  # "char" or "word": what perplexity / bits are counted per

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            t = getattr(self, split)
            if t.dim() != 1 or t.dtype != torch.long:
                raise ValueError(f"{split} must be a 1-D int64 stream, got {t.dtype} "
                                 f"{tuple(t.shape)}")
            if len(t) and (int(t.min()) < 0 or int(t.max()) >= len(self.vocab)):
                raise ValueError(f"{split} holds ids outside the {len(self.vocab)}-token vocab")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def synthetic(cls, seed: int = 0, *, vocab: int = 16, length: int = 512) -> TokenStreamData:
        g = torch.Generator().manual_seed(seed)
        train, val, test = (torch.randint(0, vocab, (n,), generator=g)
                            for n in (length, length // 4, length // 4))
        info = _synthetic_info("tokens", seed, f"{length}-token stream over {vocab} symbols",
                               train, val, test)
        return cls(info=info, train=train, val=val, test=test,
                   vocab=tuple(chr(ord("a") + i) for i in range(vocab)), unit="char")


@dataclass(frozen=True, kw_only=True)
class DomainPairData:
    """A labelled source domain and a target domain with the same classes (Ganin et al. 2016,
    DANN; Tzeng et al. 2017, ADDA): train on source labels and target images, test on the
    target's labels. ``info`` names both (its files are both domains' files)."""

    info: DatasetInfo
    source: ImageClassData
    target: ImageClassData

    def __post_init__(self) -> None:
        if self.source.classes != self.target.classes:
            raise ValueError(f"source classes {self.source.classes} differ from target "
                             f"classes {self.target.classes}")

    @classmethod
    def synthetic(cls, seed: int = 0) -> DomainPairData:
        source = ImageClassData.synthetic(seed, shape=(3, 28, 28))
        target = ImageClassData.synthetic(seed + 1, shape=(3, 28, 28))
        info = _synthetic_info("domains", seed, "source/target image domains",
                               source.train_images, target.train_images)
        return cls(info=info, source=source, target=target)
