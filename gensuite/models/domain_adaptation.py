"""Networks of the domain-adaptation plug-ins: DANN's digit network (Ganin et al., JMLR 2016,
Sec. 5.2.2 and Fig. 4: the MNIST → MNIST-M architecture), the gradient reversal layer, and
ADDA's LeNet encoder / classifier / discriminator (Tzeng et al., CVPR 2017, Sec. 5.1).

Input sizes 28 and 32 px both work: the flattened feature width follows from the size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by −λ (Ganin & Lempitsky 2015,
    eq. 13 of the JMLR paper: the "pseudo-function" R_λ)."""

    @staticmethod
    def forward(ctx, x: Tensor, lambd: float) -> Tensor:
        ctx.lambd = float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad.neg() * ctx.lambd, None


def reverse_gradient(x: Tensor, lambd: float) -> Tensor:
    return GradientReversal.apply(x, lambd)


def _flat_width(features: nn.Module, size: int) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, 3, size, size)).flatten(1).shape[1])


class DannFeatures(nn.Module):
    """G_f of Ganin et al.'s MNIST network: conv 5×5 32 → max-pool 2 → conv 5×5 48 → max-pool 2
    (ReLU after each convolution)."""

    def __init__(self, size: int = 28) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.width = _flat_width(self.net, size)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def dann_label_head(width: int, classes: int) -> nn.Sequential:
    """G_y: fully connected 100 → 100 → classes (ReLU between)."""
    return nn.Sequential(nn.Linear(width, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, classes))


def dann_domain_head(width: int) -> nn.Sequential:
    """G_d: fully connected 100 → 1 logit (source = 0, target = 1)."""
    return nn.Sequential(nn.Linear(width, 100), nn.ReLU(), nn.Linear(100, 1))


class LeNetEncoder(nn.Module):
    """ADDA's digit encoder, a LeNet: conv 5×5 20 → max-pool → ReLU → conv 5×5 50 → dropout →
    max-pool → ReLU → fully connected 500."""

    def __init__(self, size: int = 28, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(20, 50, 5), nn.Dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(),
        )
        self.fc = nn.Linear(_flat_width(self.conv, size), 500)
        self.width = 500

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))


def adda_classifier(classes: int, width: int = 500) -> nn.Sequential:
    """ADDA's classifier on the encoder's 500 features: ReLU, dropout, linear to the classes."""
    return nn.Sequential(nn.ReLU(), nn.Dropout(0.5), nn.Linear(width, classes))


def adda_discriminator(width: int = 500, hidden: int = 500) -> nn.Sequential:
    """ADDA's domain discriminator: two 500-unit ReLU layers, then one logit (Sec. 5.1)."""
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, 1))
