"""Encoders and decoders for VAEs (Kingma & Welling 2014): MLPs and small conv nets.

Every encoder maps float images (N, C, H, W) in [0, 1] to the diagonal Gaussian q(z|x) as
``(mu, logvar)``, each (N, latent_dim); the log-variance parameterisation keeps the variance
positive without a constraint. Every decoder maps z (N, latent_dim) to per-pixel *logits*
(N, C, H, W): Bernoulli logits, or the pre-sigmoid Gaussian mean. The last layer has no bias of
its own; a per-pixel ``bias`` parameter follows it, so that ``init_output_bias`` can start the
decoder at the data mean (as Burda et al. 2016's code does), whatever the architecture.

- ``mlp``: fully connected, ``hidden_layers`` layers of ``hidden`` units (Burda et al. 2016:
  two layers of 200 tanh units; report E-1 states none).
- ``conv``: stride-2 4×4 convolutions halving the size while it stays even and ≥ 8 (28 → 14 → 7;
  64 → 32 → 16 → 8 → 4; 32 → 16 → 8 → 4), channels doubling from ``channels``; the decoder
  mirrors it with stride-2 transposed convolutions (DCGAN-style, Radford et al. 2016).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ARCHS = ("mlp", "conv")
ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "softplus": nn.Softplus,
}


def _act(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]()


class _Decoder(nn.Module):
    """Shared tail: ``body(z)`` without output bias, plus the per-pixel ``bias``."""

    def __init__(self, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.bias = nn.Parameter(torch.zeros(self.image_shape))

    def body(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z).reshape(-1, *self.image_shape) + self.bias

    @torch.no_grad()
    def init_output_bias(self, mean_image: Tensor, eps: float = 1e-3) -> None:
        """Start at the data mean: bias = logit(mean pixel), clamped away from 0 and 1."""
        p = mean_image.to(self.bias).clamp(eps, 1 - eps)
        self.bias.copy_(torch.log(p) - torch.log1p(-p))


class MLPEncoder(nn.Module):
    def __init__(self, image_shape, latent_dim: int, hidden: int, hidden_layers: int,
                 activation: str) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(image_shape)
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, hidden), _act(activation)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * latent_dim)  # [mu, logvar]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar


class MLPDecoder(_Decoder):
    def __init__(self, image_shape, latent_dim: int, hidden: int, hidden_layers: int,
                 activation: str) -> None:
        super().__init__(image_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, hidden), _act(activation)]
            width = hidden
        layers.append(nn.Linear(width, math.prod(image_shape), bias=False))
        self.net = nn.Sequential(*layers)

    def body(self, z: Tensor) -> Tensor:
        return self.net(z)


def conv_sizes(size: int) -> list[int]:
    """Spatial sizes through the conv encoder: halve while even and ≥ 8 (28 → [28, 14, 7])."""
    sizes = [size]
    while sizes[-1] % 2 == 0 and sizes[-1] >= 8:
        sizes.append(sizes[-1] // 2)
    return sizes


class ConvEncoder(nn.Module):
    def __init__(self, image_shape, latent_dim: int, channels: int, activation: str) -> None:
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ValueError(f"conv VAE nets need square images; got {h}×{w}")
        sizes = conv_sizes(h)
        if len(sizes) < 2:
            raise ValueError(f"conv VAE nets need an even image size ≥ 8; got {h}")
        layers: list[nn.Module] = []
        c_in = c
        for i in range(len(sizes) - 1):
            c_out = channels * 2**i
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), _act(activation)]
            c_in = c_out
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * sizes[-1] ** 2, 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar


class ConvDecoder(_Decoder):
    def __init__(self, image_shape, latent_dim: int, channels: int, activation: str) -> None:
        super().__init__(image_shape)
        c, h, _ = image_shape
        sizes = conv_sizes(h)
        n_up = len(sizes) - 1
        self.start = (channels * 2 ** (n_up - 1), sizes[-1], sizes[-1])
        layers: list[nn.Module] = [nn.Linear(latent_dim, math.prod(self.start)), _act(activation)]
        c_in = self.start[0]
        for i in reversed(range(n_up)):
            last = i == 0
            c_out = c if last else channels * 2 ** (i - 1)
            # kernel 4, stride 2, padding 1 exactly doubles the size, undoing the encoder's conv.
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=not last))
            if not last:
                layers.append(_act(activation))
            c_in = c_out
        self.head = layers[0]
        self.net = nn.Sequential(*layers[1:])

    def body(self, z: Tensor) -> Tensor:
        return self.net(self.head(z).reshape(-1, *self.start))


def build_vae_nets(
    arch: str,
    image_shape: tuple[int, int, int],
    latent_dim: int,
    *,
    hidden: int = 512,
    hidden_layers: int = 2,
    channels: int = 32,
    activation: str = "relu",
) -> tuple[nn.Module, _Decoder]:
    """(encoder, decoder) for ``arch`` in ``ARCHS`` (see the module docstring)."""
    _act(activation)  # one-line error for an unknown name, before building anything
    if arch == "mlp":
        return (MLPEncoder(image_shape, latent_dim, hidden, hidden_layers, activation),
                MLPDecoder(image_shape, latent_dim, hidden, hidden_layers, activation))
    if arch == "conv":
        return (ConvEncoder(image_shape, latent_dim, channels, activation),
                ConvDecoder(image_shape, latent_dim, channels, activation))
    raise ValueError(f"arch must be one of {', '.join(ARCHS)}; got {arch!r}")
