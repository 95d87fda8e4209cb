"""GAN networks and losses: DCGAN generator/discriminators (Radford et al. 2016) with VGG-16 and
ResNet-18 discriminator backbones, and the adversarial losses of the GAN family (non-saturating
BCE, WGAN, WGAN-GP two- and one-sided, ACGAN's auxiliary term)."""

from gensuite.models.gan.nets import (
    BACKBONES,
    Discriminator,
    Generator,
    apply_spectral_norm,
    build_discriminator,
    clip_weights,
    init_weights,
)

__all__ = [
    "BACKBONES",
    "Discriminator",
    "Generator",
    "apply_spectral_norm",
    "build_discriminator",
    "clip_weights",
    "init_weights",
]
