"""pix2pix networks (Isola et al. 2017): the U-Net generator and the PatchGAN discriminator.

The module tree follows the authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py: ``UnetGenerator`` built from nested ``UnetSkipConnectionBlock``s, each
holding its layers in ``.model``; ``NLayerDiscriminator``), so their checkpoints load by name:
``load_authors_generator`` reads a ``latest_net_G.pth`` (e.g. the pretrained sat2map model).

U-Net: ``num_downs`` stride-2 4×4 convolutions down to 1×1 (7 for 128 px: unet_128, 8 for 256 px:
unet_256), the mirrored transposed convolutions up, each decoder layer concatenated with its
encoder twin (skip connections); dropout 0.5 in the three innermost non-bottleneck decoder
layers is the generator's noise (the paper applies it at test time too). PatchGAN: ``n_layers``
stride-2 convolutions then two stride-1 ones, one logit per patch; n_layers 3 sees 70×70 pixels,
2 sees 34×34.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import Tensor, nn

NORMS = ("batch", "instance")


def norm_layer(kind: str):
    """The authors' two norms: batch norm with affine parameters and running statistics, and
    instance norm without either (their defaults)."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {kind!r}")


class UnetBlock(nn.Module):
    """One U-Net level: down-convolution, the inner levels, up-convolution; its input is
    concatenated to its output (the skip connection) except at the outermost level."""

    def __init__(self, outer: int, inner: int, *, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False,
                 innermost: bool = False, norm: str = "batch", dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm = norm_layer(norm)
        bias = norm == "instance"  # batch norm has its own shift
        in_channels = outer if in_channels is None else in_channels
        down = nn.Conv2d(in_channels, inner, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, make_norm(inner), submodule, nn.ReLU(True),
                      up, make_norm(outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The pix2pix U-Net: ``num_downs`` levels, ``ngf`` filters in the outermost layer."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8,
                 ngf: int = 64, norm: str = "batch", dropout: bool = True) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5; got {num_downs}")
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetBlock(out_channels, ngf, in_channels=in_channels, submodule=block,
                               outermost=True, norm=norm)
        self.num_downs = num_downs

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def num_downs_for(size: int) -> int:
    """unet_128 for 128-px images, unet_256 for 256 (the levels that reach 1×1)."""
    n = size.bit_length() - 1
    if size != 2**n or n < 5:
        raise ValueError(f"the U-Net needs a power-of-two image size ≥ 32; got {size}")
    return n


class PatchDiscriminator(nn.Module):
    """PatchGAN on (input, output) pairs concatenated along channels: one logit per patch."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3,
                 norm: str = "batch") -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                       make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def receptive_field(n_layers: int) -> int:
    """Pixels one PatchGAN logit sees: 70 for n_layers 3, 34 for 2."""
    r = 1
    strides = [2] * n_layers + [1, 1]
    for s in reversed(strides):  # every layer is a 4×4 convolution
        r = (r - 1) * s + 4
    return r


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """The authors' "normal" init: conv weights N(0, 0.02), biases 0; norm weights N(1, 0.02)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def load_authors_generator(path: str | Path, *, dropout: bool = True) -> UnetGenerator:
    """A U-Net from the authors' ``latest_net_G.pth`` (a state dict saved by their code).

    The depth, width, channels and norm are read off the keys and shapes: the levels are the
    nested ``model.1`` steps, batch norm shows as ``running_mean`` entries. DataParallel's
    ``module.`` prefix and the stale instance-norm statistics old versions saved are dropped,
    as the authors' loader does. A file that is not such a generator is refused in one line.
    """
    from gensuite.errors import GensuiteError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or foreign file
        raise GensuiteError(f"cannot read the pix2pix generator {path}: {e}") from None
    if not isinstance(state, dict) or "model.model.0.weight" not in {
            k.removeprefix("module.") for k in state}:
        raise GensuiteError(f"{path} is not a pix2pix U-Net state dict (no model.model.0.weight)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    batch = any(k.endswith("running_mean") for k in state)
    if not batch:
        state = {k: v for k, v in state.items()
                 if not re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)}
    first = state["model.model.0.weight"]  # (ngf, in_channels, 4, 4)
    ngf, in_channels = int(first.shape[0]), int(first.shape[1])
    out_channels = int(state["model.model.3.weight"].shape[1])  # outermost ConvTranspose2d
    # Level k's layers sit under model.model.1 then k − 2 submodule steps (".model.3").
    nesting = [re.match(r"model\.model\.1((?:\.model\.3)*)\.model\.\d+\.\w+$", k) for k in state]
    depth = max((2 + m.group(1).count(".model.3") for m in nesting if m), default=0)
    net = UnetGenerator(in_channels, out_channels, depth, ngf,
                        norm="batch" if batch else "instance", dropout=dropout)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GensuiteError(f"{path}: not a U-Net gensuite can rebuild ({first_line})") from None
    return net
