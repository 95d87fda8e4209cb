"""Hyperparameters of the GAN family plug-in (``gensuite.algorithms.gan``) and the seeds of its
fixed noise streams. Fields marked eval-only change the final evaluation, not the trained model:
cases differing only there share one training (``gensuite.runner``'s train key)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from gensuite.api import eval_field
from gensuite.data.containers import ImageClassData
from gensuite.models.gan import losses
from gensuite.models.gan.nets import BACKBONES, INITS, NORMS
from gensuite.seeds import Stream

CONDITIONING = ("none", "concat", "acgan")
LOSSES = ("bce", "wgan")
NOISES = ("gaussian", "uniform")
OPTIMIZERS = ("adam", "rmsprop")
REFERENCES = ("test", "train")
FIXED_NOISE = 10  # report A-Q1a: ten fixed noise vectors
# The plug-in's random streams (gensuite.seeds), with the derivations its committed numbers were
# made with: each fixed stream (fixed noise, evaluation noise, figures) is its own generator.
SEED_STREAMS = {
    "noise": Stream(),  # z, labels, fuzzy targets, GP α during training
    "fixed": Stream(offset=101),  # the fixed-noise grids per epoch
    "val": Stream(offset=202),
    "test": Stream(offset=303),
    "test_class": Stream(offset=304),  # samples of the requested class
    "figures": Stream(offset=404),  # index: which figure
    "data": Stream(offset=505),  # mini-batch order
}



@dataclass(frozen=True, kw_only=True)
class GANConfig:
    """Hyperparameters; defaults are DCGAN's (Radford et al. 2016, Sec. 4)."""

    data_type: ClassVar[type] = ImageClassData

    # --- model
    conditioning: str = "none"  # none | concat (cGAN: label into G and D) | acgan (aux. head)
    loss: str = "bce"  # bce: non-saturating GAN | wgan: critic loss (clip / gp / SN keep it Lip.)
    backbone: str = "dcgan"  # discriminator: dcgan | vgg16 | resnet18 (report A-Q1)
    d_layers: int = 3  # dcgan backbone: stride-2 conv layers (report C-2: 3 vs 4)
    g_layers: int = 4  # generator transposed-conv layers (report C-2: 3 vs 4)
    d_width: int = 64
    g_width: int = 64
    d_norm: str = "batch"  # dcgan backbone: batch | layer | none (use layer/none with a GP)
    dropout: float = 0.0  # discriminator dropout (report C-2: 0 … 0.8)
    spectral_norm: bool = False  # on every discriminator conv/linear layer (SN-GAN)
    init: str = "normal"  # normal: N(0, 0.02) | xavier | default (PyTorch/torchvision's)
    z_dim: int = 100
    noise: str = "gaussian"  # gaussian N(0, 1) | uniform U(−1, 1) (report A-Q1)
    image_size: int = 0  # 0: the data's own (square) size; else resized once, antialiased
    # --- training
    batch_size: int = 64
    optimizer: str = "adam"  # adam | rmsprop (WGAN, Arjovsky et al.)
    lr: float = 2e-4
    lr_d: float = 0.0  # 0: lr
    lr_g: float = 0.0  # 0: lr
    beta1_d: float = 0.5
    beta2_d: float = 0.999
    beta1_g: float = 0.5
    beta2_g: float = 0.999
    label_noise: float = 0.0  # ε of report B-2's fuzzy targets (bce loss only)
    n_critic: int = 1  # discriminator updates per generator update
    clip: float = 0.0  # WGAN weight clipping c; 0: none
    gp_weight: float = 0.0  # λ of the gradient penalty; 0: none
    gp_mode: str = "two-sided"  # two-sided (Gulrajani et al.) | one-sided (report E-2)
    aux_weight: float = 1.0  # ACGAN: weight of the auxiliary class loss
    train_limit: int = 0  # train on the first N training images only (smoke runs); 0: all
    epoch_images: int = 0  # images per "epoch" (0: the training set; smaller for quick runs)
    amp: bool = False  # CUDA only: bfloat16 autocast (the gradient penalty stays float32)
    channels_last: bool = False
    # Capture each iteration (n_critic D updates and the G update, optimisers included) in a
    # CUDA graph (gensuite.train.cuda_graph; issue 17): CUDA only, off by default; the
    # optimisers run in their capturable form, so numbers match the eager path within the
    # evaluation interval, not bit for bit.
    cuda_graph: bool = False
    # --- evaluation during training (validate(): the per-epoch curve)
    eval_samples: int = 1000  # generated and real images per IS/FID evaluation (report B-3)
    fid_reference: str = "test"  # the real split FID/KID compare with: test | train
    classifier: str = "auto"  # evaluation classifier of this dataset (auto: the data's)
    classifier_epochs: int = 0  # 0: the metrics library's default for the dataset
    classifier_train_limit: int = 0  # smoke runs: train the classifier on N images only
    # --- final evaluation (test(), figures): eval-only, cases differing here share a model
    target_class: int = eval_field(0)  # the class a conditional model is asked for (A-Q1c: 4)
    contrast_class: int = eval_field(1)  # the other side of the "condition flipped" pairs (D-2)
    test_samples: int = eval_field(10000)  # images for the final FID / IS / KID
    class_samples: int = eval_field(1000)  # images of the target class for its accuracy
    hist_samples: int = eval_field(10000)  # images for the class histogram (report C-2)
    kid_subsets: int = eval_field(100)
    bootstrap: int = eval_field(100)  # resamples of the generated features for FID/KID intervals
    perturb_eps: float = eval_field(2.0)  # per-dimension latent perturbation (report E-2)
    # A reported class histogram drawn beside ours, with its citation (report C-2's, in the
    # MNIST suites): {counts = [...], source = "..."}; empty: none.
    reference_histogram: dict[str, Any] = field(default_factory=dict, metadata={"eval": True})

    def __post_init__(self) -> None:
        choices = {
            "conditioning": CONDITIONING, "loss": LOSSES, "backbone": BACKBONES,
            "d_norm": NORMS, "init": INITS, "noise": NOISES, "optimizer": OPTIMIZERS,
            "gp_mode": losses.PENALTIES, "fid_reference": REFERENCES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        positive = {"d_layers", "g_layers", "d_width", "g_width", "z_dim", "batch_size",
                    "n_critic", "eval_samples", "test_samples",
                    "class_samples", "hist_samples", "kid_subsets"}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in positive and v < 1:
                raise ValueError(f"{f.name} must be a positive integer; got {v}")
            if f.type in ("int", "float") and f.name not in ("target_class", "contrast_class",
                                                             "perturb_eps") and v < 0:
                raise ValueError(f"{f.name} must not be negative; got {v}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_noise < 0.5:
            raise ValueError("dropout must lie in [0, 1) and label_noise in [0, 0.5)")
        if self.loss == "wgan" and self.label_noise:
            raise ValueError("label_noise applies to the bce loss only")
        ref = self.reference_histogram
        if ref and (set(ref) != {"counts", "source"} or not str(ref["source"]).strip()
                    or not all(isinstance(k, int) and k >= 0 for k in ref["counts"])):
            raise ValueError("reference_histogram needs counts (non-negative integers) and its "
                             "source (a citation), nothing else")
