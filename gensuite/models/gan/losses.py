"""Adversarial losses of the GAN family, as pure functions of discriminator outputs.

- Non-saturating GAN (Goodfellow et al. 2014, Sec. 3): D minimises BCE on real/fake targets,
  G minimises −log D(G(z)) = softplus(−logit). ``fuzzy_targets`` gives report B-2's label noise.
- WGAN (Arjovsky, Chintala & Bottou 2017, Algorithm 1): the critic minimises
  E[f(G(z))] − E[f(x)], the generator −E[f(G(z))].
- Gradient penalty on random interpolates x̂ (Gulrajani et al. 2017, Algorithm 1):
  two-sided λ·E[(‖∇f(x̂)‖ − 1)²], or the one-sided λ·E[max(0, ‖∇f(x̂)‖ − 1)²] of report E-2
  (Gulrajani et al. 2017, Appendix: "one-sided penalty").
- ACGAN's auxiliary class term (Odena, Olah & Shlens 2017, Sec. 3): cross-entropy of the
  auxiliary head on real and generated images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

PENALTIES = ("two-sided", "one-sided")


def d_loss_bce(real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor | float = 1.0,
               fake_targets: Tensor | float = 0.0) -> Tensor:
    """Discriminator BCE: mean over the real batch plus mean over the fake batch (DCGAN)."""
    rt = torch.as_tensor(real_targets, dtype=real_logits.dtype, device=real_logits.device)
    ft = torch.as_tensor(fake_targets, dtype=fake_logits.dtype, device=fake_logits.device)
    return (F.binary_cross_entropy_with_logits(real_logits, rt.expand_as(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, ft.expand_as(fake_logits)))


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """−E[log σ(D(G(z)))]: BCE of the fakes against the "real" target 1."""
    return F.softplus(-fake_logits).mean()


def fuzzy_targets(n: int, eps: float, *, real: bool, generator: torch.Generator) -> Tensor:
    """Report B-2's label noise "±ε": real targets uniform in [1−ε, 1], fake ones in [0, ε].

    Each target moves towards the other class by up to ε and stays in [0, 1] (a target above 1
    would make BCE unbounded below). ``eps`` = 0 gives the hard 1/0 targets.
    """
    u = torch.rand(n, generator=generator)
    return 1.0 - eps * u if real else eps * u


def d_loss_wgan(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Critic loss E[f(G(z))] − E[f(x)] (minimised: the negative Wasserstein estimate)."""
    return fake_scores.mean() - real_scores.mean()


def g_loss_wgan(fake_scores: Tensor) -> Tensor:
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, *, mode: str = "two-sided",
    alpha: Tensor | None = None,
) -> Tensor:
    """E over x̂ = αx + (1−α)x̃ of (‖∇f(x̂)‖₂ − 1)² (two-sided) or max(0, ‖∇f(x̂)‖₂ − 1)².

    ``alpha`` (N,) is drawn by the caller from its own generator (resumable); ``critic`` maps
    images to scores (N,). The graph is kept so the penalty trains the critic.
    """
    if mode not in PENALTIES:
        raise ValueError(f"penalty mode must be one of {', '.join(PENALTIES)}; got {mode!r}")
    n = real.shape[0]
    if alpha is None:
        alpha = torch.rand(n, device=real.device)
    a = alpha.to(real.device, real.dtype).view(n, *([1] * (real.dim() - 1)))
    x_hat = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    # sqrt(‖g‖² + tiny): the plain norm has a NaN gradient where g = 0 (a constant critic).
    norm = (grad.flatten(1).pow(2).sum(1) + 1e-12).sqrt()
    gap = norm - 1.0
    if mode == "one-sided":
        gap = gap.clamp_min(0.0)
    return gap.pow(2).mean()


def aux_class_loss(aux_logits: Tensor, labels: Tensor) -> Tensor:
    """ACGAN's auxiliary term: cross-entropy of the class head (Odena et al. 2017, Eq. 3)."""
    return F.cross_entropy(aux_logits, labels)
