"""Hyperparameters of the VAE plug-in (``gensuite.algorithms.vae``), its learning-rate schedule
and its random streams. Fields marked eval-only change the final evaluation, not the trained
model: cases differing only there share one training (``gensuite.runner``'s train key)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from gensuite.data.containers import ImageClassData
from gensuite.models.vae_nets import ACTIVATIONS, ARCHS
from gensuite.seeds import Stream

LIKELIHOODS = ("bernoulli", "gaussian")
LR_SCHEDULES = ("constant", "iwae")
FID_REFERENCES = ("test", "train")
# Each evaluation its own fixed random stream, distinct from training's (gensuite.seeds; the
# derivations the committed numbers were made with).
SEED_STREAMS = {
    "reparam": Stream(),  # training's reparameterisation noise
    "epoch": Stream(multiplier=7_919),  # index: the epoch; its permutation of the training set
    "val": Stream(offset=1_000_003),
    "test": Stream(offset=2_000_003),
    "grid": Stream(offset=3_000_017),  # fixed noise of the per-epoch sample grids
    "samples": Stream(offset=4_000_037),  # IS/FID samples
    "figures": Stream(offset=5_000_011),
}


@dataclass(frozen=True, kw_only=True)
class VAEConfig:
    """Hyperparameters; ``test_limit``, ``iw_samples``, ``fid_samples``, ``classifier_*``
    only affect evaluation (cases differing only in them share one trained model)."""

    data_type: ClassVar[type] = ImageClassData

    arch: str = "mlp"
    likelihood: str = "bernoulli"
    latent_dim: int = 100
    hidden: int = 512  # mlp: units per hidden layer
    hidden_layers: int = 2  # mlp: hidden layers in the encoder and in the decoder
    channels: int = 32  # conv: filters of the first conv layer (doubling per layer)
    activation: str = "relu"
    x_sigma2: float = 1.0  # gaussian: report B-1's σ² (decoder variance s² = σ² d_x / 2)
    lr: float = 3e-4
    adam_eps: float = 1e-8
    lr_schedule: str = "constant"  # "iwae": Burda et al.'s 3^i epochs at lr·10^(-i/7)
    batch_size: int = 100
    # Validation images: the dataset's validation split if it has one, else this share of the
    # training images taken from the end (1/6 of MNIST's 60 000 = its last 10 000).
    val_fraction: float = 1 / 6
    train_limit: int = 0  # 0: all; else the first N training images (smoke runs)
    val_limit: int = 0
    test_limit: int = field(default=0, metadata={"eval": True})
    iw_samples: int = field(default=100, metadata={"eval": True})  # K of the IS estimate
    fid_samples: int = field(default=10_000, metadata={"eval": True})  # 0: no IS/FID
    # Real images FID compares the samples with: "test", or "train" where the test split is
    # too small for FID's covariance (LFW Bush: 53 test images).
    fid_reference: str = field(default="test", metadata={"eval": True})
    # The evaluation classifier behind IS/FID (as the GAN's): trained on N images only, for this
    # many epochs (0: all images, the dataset's recipe) — smoke runs use a token classifier.
    classifier_train_limit: int = field(default=0, metadata={"eval": True})
    classifier_epochs: int = field(default=0, metadata={"eval": True})
    # resamples of the samples' features behind FID's interval (bootstrap); 0: no interval
    bootstrap: int = field(default=100, metadata={"eval": True})

    def __post_init__(self) -> None:
        for name, allowed in (("arch", ARCHS), ("likelihood", LIKELIHOODS),
                              ("activation", tuple(ACTIVATIONS)), ("lr_schedule", LR_SCHEDULES),
                              ("fid_reference", FID_REFERENCES)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}"
                )
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type == "int" and v < (1 if f.name in _POSITIVE else 0):
                raise ValueError(f"{f.name} must be ≥ {int(f.name in _POSITIVE)}; got {v}")
        if not (self.x_sigma2 > 0 and self.lr > 0 and self.adam_eps > 0):
            raise ValueError("x_sigma2, lr and adam_eps must be positive")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1); got {self.val_fraction}")


_POSITIVE = {"latent_dim", "hidden", "channels", "batch_size", "iw_samples"}


def iwae_lr_factor(epoch: int) -> float:
    """Burda et al. (2016) schedule: 3^i epochs at 1e-3·round(10^(1 − i/7), 1)/10, i = 0..7.

    As in their code (experiments.py): 1 epoch at 1e-3, 3 at 7.2e-4, 9 at 5.2e-4, ...; 3280
    epochs in all, then the last rate. Returned as a factor of the base rate 1e-3.
    """
    i, end = 0, 1
    while epoch >= end and i < 7:
        i += 1
        end += 3**i
    return round(10.0 ** (1 - i / 7), 1) / 10


