"""DCGAN generator and discriminators (Radford, Metz & Chintala, ICLR 2016) for square images.

- ``Generator``: z (and a one-hot class for conditional models) → a ``size``×``size`` image in
  [-1, 1] through ``layers`` transposed convolutions (BN + ReLU between, tanh at the end). The
  first projects the 1×1 input to the base size; each later one doubles it (28 px: 4 → 7 → 14 →
  28 with four layers, 7 → 14 → 28 with three; report C-2's "3 vs 4 transposed-conv layers").
- ``Discriminator``: a feature backbone, a real/fake head and, for ACGAN (Odena et al. 2017), an
  auxiliary class head. Backbones (report A-Q1): ``dcgan`` (``layers`` stride-2 4×4 convs with
  LeakyReLU 0.2 and dropout; report C-2's "3 vs 4 conv layers"), ``vgg16`` and ``resnet18``
  (torchvision's architectures, untrained: the first conv takes the input channels, VGG's pools
  that would shrink the image below 1 px are dropped, and the ImageNet classifier is replaced by
  a linear head on the pooled features).
- A class-conditional discriminator (Mirza & Osindero 2014) gets the one-hot label as extra
  constant input planes, so the same backbones serve unconditional and conditional models.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
import torchvision
from torch import Tensor, nn

BACKBONES = ("dcgan", "vgg16", "resnet18")
INITS = ("normal", "xavier", "default")
NORMS = ("batch", "layer", "none")


def _up_sizes(size: int, layers: int) -> list[int]:
    """Spatial size after each generator layer: halving back from ``size`` (rounding up)."""
    sizes = [size]
    for _ in range(layers - 1):
        sizes.append(math.ceil(sizes[-1] / 2))
    if sizes[-1] < 2:
        raise ValueError(f"{layers} generator layers are too many for {size}×{size} images")
    return sizes[::-1]


class Generator(nn.Module):
    """DCGAN generator; ``forward(z, y)`` with z (N, z_dim) and class indices y (N,) or None."""

    def __init__(
        self,
        z_dim: int,
        channels: int,
        size: int,
        *,
        layers: int = 4,
        width: int = 64,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError(f"the generator needs at least 2 layers; got {layers}")
        self.z_dim, self.num_classes, self.size = z_dim, num_classes, size
        sizes = _up_sizes(size, layers)
        # Widths halve towards the image, DCGAN-style: the last hidden layer has ``width``.
        chans = [width * 2 ** (layers - 2 - i) for i in range(layers - 1)] + [channels]
        mods: list[nn.Module] = []
        c_prev = z_dim + num_classes
        for i, (s, c) in enumerate(zip(sizes, chans)):
            last = i == layers - 1
            if i == 0:
                conv = nn.ConvTranspose2d(c_prev, c, sizes[0], 1, 0, bias=last)
            else:
                # 4×4 stride 2 doubles the size; 3×3 stride 2 gives 2s−1 (7 → 14 needs the
                # former, 4 → 7 the latter).
                k = 4 if s == 2 * sizes[i - 1] else 3
                conv = nn.ConvTranspose2d(c_prev, c, k, 2, 1, bias=last)
            mods.append(conv)
            mods += [nn.Tanh()] if last else [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_prev = c
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.num_classes:
            if y is None:
                raise ValueError("a conditional generator needs class labels y")
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)
        return self.net(z.view(z.shape[0], -1, 1, 1))


def _conv_out(size: int, k: int, stride: int = 2, pad: int = 1) -> int:
    return (size + 2 * pad - k) // stride + 1


def dcgan_features(
    in_channels: int, size: int, *, layers: int = 3, width: int = 64, norm: str = "batch",
    dropout: float = 0.0,
) -> tuple[nn.Sequential, int]:
    """``layers`` stride-2 convs (widths w, 2w, 4w, ...) → flattened features and their count."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    mods: list[nn.Module] = []
    c_prev, s = in_channels, size
    for i in range(layers):
        c = width * 2**i
        k = 4 if s % 2 == 0 else 3  # an odd size (7) halves to (s+1)/2 with a 3×3 kernel
        # No normalisation on the first layer (Radford et al.); a bias only where none follows.
        use_norm = i > 0 and norm != "none"
        mods.append(nn.Conv2d(c_prev, c, k, 2, 1, bias=not use_norm))
        if use_norm:
            # "layer": LayerNorm over (C, H, W) per sample, the critic norm of Gulrajani et al.
            # (batch norm would make the gradient penalty depend on the other samples).
            mods.append(nn.BatchNorm2d(c) if norm == "batch" else nn.GroupNorm(1, c))
        mods.append(nn.LeakyReLU(0.2, inplace=True))
        if dropout:
            mods.append(nn.Dropout(dropout))
        c_prev, s = c, _conv_out(s, k)
        if s < 1:
            raise ValueError(f"{layers} discriminator layers are too many for {size}×{size} images")
    mods.append(nn.Flatten())
    return nn.Sequential(*mods), c_prev * s * s


def vgg16_features(in_channels: int, size: int) -> tuple[nn.Sequential, int]:
    """torchvision's VGG-16 conv stack (configuration "D", no BN) for ``size``-px images → 512.

    Built from torchvision's own ``make_layers(cfgs["D"])`` and initialised as its ``VGG``
    class does (Kaiming-normal, fan-out): constructing ``vgg16()`` itself would also build and
    initialise the 120 M-parameter ImageNet classifier, only to throw it away.
    """
    from torchvision.models.vgg import cfgs, make_layers

    feats = make_layers(cfgs["D"], batch_norm=False)
    feats[0] = nn.Conv2d(in_channels, 64, 3, padding=1)
    for m in feats:
        if isinstance(m, nn.Conv2d):  # torchvision's VGG.__init__
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    s = size
    for i, m in enumerate(feats):
        if isinstance(m, nn.MaxPool2d):
            if s // 2 < 1:  # 28 px: 28 → 14 → 7 → 3 → 1, and the fifth pool would give 0
                feats[i] = nn.Identity()
            else:
                s //= 2
    return nn.Sequential(*feats, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 512


def resnet18_features(in_channels: int, size: int) -> tuple[nn.Module, int]:
    """torchvision's ResNet-18 (weights=None) for ``in_channels`` → 512 pooled features.

    Only the first conv (input channels) and the head change; the ImageNet stem (7×7 stride 2 +
    max-pool) stays, so a 28-px image goes 14 → 7 → 7 → 4 → 2 → 1 through the stages. (The
    CIFAR-style 3×3 stride-1 stem would cost ~15× more: 4 images/s on 2 CPU cores.)
    """
    net = torchvision.models.resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    net.fc = nn.Identity()
    return net, 512


class Discriminator(nn.Module):
    """Backbone → real/fake logit (N,) and, with ``aux_classes``, class logits (N, K).

    ``cond_classes`` > 0 makes it class-conditional: one-hot planes are appended to the input.
    """

    def __init__(
        self, backbone: nn.Module, features: int, *, cond_classes: int = 0, aux_classes: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.cond_classes = cond_classes
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(features, 1)
        self.aux = nn.Linear(features, aux_classes) if aux_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if self.cond_classes:
            if y is None:
                raise ValueError("a conditional discriminator needs class labels y")
            planes = F.one_hot(y, self.cond_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], 1)
        h = self.dropout(self.backbone(x))
        return self.head(h).squeeze(1), (self.aux(h) if self.aux is not None else None)


def build_discriminator(
    backbone: str, channels: int, size: int, *, layers: int = 3, width: int = 64,
    norm: str = "batch", dropout: float = 0.0, cond_classes: int = 0, aux_classes: int = 0,
) -> Discriminator:
    """A discriminator with the named backbone (see ``BACKBONES``) for ``channels``×size×size.

    ``layers``/``width``/``norm`` shape the ``dcgan`` backbone only; dropout follows every
    LeakyReLU there, and precedes the heads of the torchvision backbones.
    """
    in_channels = channels + cond_classes
    if backbone == "dcgan":
        body, n = dcgan_features(in_channels, size, layers=layers, width=width, norm=norm,
                                 dropout=dropout)
        head_dropout = 0.0
    elif backbone == "vgg16":
        body, n = vgg16_features(in_channels, size)
        head_dropout = dropout
    elif backbone == "resnet18":
        body, n = resnet18_features(in_channels, size)
        head_dropout = dropout
    else:
        known = ", ".join(BACKBONES)
        raise ValueError(f"unknown discriminator backbone {backbone!r}; known: {known}")
    return Discriminator(body, n, cond_classes=cond_classes, aux_classes=aux_classes,
                         dropout=head_dropout)


def init_weights(module: nn.Module, scheme: str) -> None:
    """``normal``: N(0, 0.02) weights, BN/LN scale N(1, 0.02) (Radford et al. 2016, Sec. 4);
    ``xavier``: Glorot-uniform weights (Glorot & Bengio 2010); ``default``: PyTorch's and
    torchvision's own initialisation, untouched. Biases start at zero."""
    if scheme not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {scheme!r}")
    if scheme == "default":
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> int:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear layer; returns how
    many layers were wrapped. Apply after ``init_weights`` (it re-parametrises ``weight``)."""
    from torch.nn.utils.parametrizations import spectral_norm

    layers = [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for m in layers:
        spectral_norm(m, n_power_iterations=n_power_iterations)
    return len(layers)


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """WGAN weight clipping (Arjovsky et al. 2017, Algorithm 1): every parameter into [−c, c]."""
    for p in module.parameters():
        p.clamp_(-c, c)
