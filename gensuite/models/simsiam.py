"""Networks of SimSiam (Chen & He, CVPR 2021): a CIFAR ResNet backbone, the projection MLP and
the prediction MLP (Sec. 3 and Appendix D).

The backbone is torchvision's ResNet-18 adapted to 32-px images as in the paper's CIFAR
experiments (and solo-learn's): a 3×3 stride-1 stem and no max-pool. ``widths`` other than
(64, 128, 256, 512) or ``blocks`` other than (2, 2, 2, 2) give smaller, named backbones built
from the same torchvision BasicBlock (the quick profile's, with a stride-2 stem as well).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, resnet18

BACKBONES = {  # name → (blocks per stage, widths, stem stride)
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512), 1),
    "resnet10-w32": ((1, 1, 1, 1), (32, 64, 128, 256), 1),
    "resnet10-w16": ((1, 1, 1, 1), (16, 32, 64, 128), 1),
    # the quick profile's: a stride-2 stem quarters the work (~5 M multiply-adds per image)
    "resnet10-w16-s2": ((1, 1, 1, 1), (16, 32, 64, 128), 2),
}


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1 or inplanes != planes:
        down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                             nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, down)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class CifarResNet(nn.Module):
    """ResNet with a 3×3 stride-1 stem and no max-pool; outputs pooled features (N, width)."""

    def __init__(self, name: str = "resnet18") -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}; got {name!r}")
        blocks, widths, stride = BACKBONES[name]
        if name == "resnet18":  # torchvision's own module, its stem replaced
            net = resnet18()
            net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
            net.fc = nn.Identity()
            self.net = net
        else:
            stages, inplanes = [], widths[0]
            for i, (b, w) in enumerate(zip(blocks, widths)):
                stages.append(_stage(inplanes, w, b, 1 if i == 0 else 2))
                inplanes = w
            self.net = nn.Sequential(
                nn.Conv2d(3, widths[0], 3, stride, 1, bias=False), nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True), *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.width = widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def projector(width: int, dim: int, layers: int = 3) -> nn.Sequential:
    """The projection MLP: (Linear → BN → ReLU) × (layers − 1), then Linear → BN (the output BN
    without affine parameters is not used: Sec. 4.4 keeps BN on the output)."""
    mods: list[nn.Module] = []
    inp = width
    for _ in range(layers - 1):
        mods += [nn.Linear(inp, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True)]
        inp = dim
    mods += [nn.Linear(inp, dim, bias=False), nn.BatchNorm1d(dim)]
    return nn.Sequential(*mods)


def predictor(dim: int, hidden: int) -> nn.Sequential:
    """The prediction MLP h: a bottleneck Linear → BN → ReLU → Linear (Sec. 4.4: hidden = dim/4)."""
    return nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, dim))


def parameter_count(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


@torch.no_grad()
def output_std(z: Tensor) -> float:
    """Chen & He Fig. 2's collapse indicator: the std over the batch of the l2-normalised output,
    averaged over channels (≈ 1/√d for a healthy output, → 0 when collapsed)."""
    return float(nn.functional.normalize(z.float(), dim=1).std(dim=0).mean())
