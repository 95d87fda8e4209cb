"""Likelihood metrics for latent-variable models: log-densities, the ELBO of Kingma & Welling
(2014, "Auto-Encoding Variational Bayes", eqs. 7, 10) and the importance-sampled log-likelihood of
Burda et al. (2016, "Importance Weighted Autoencoders", the k-sample bound L_k).

Models are passed as two callables, so any VAE plugs in without subclassing:

- ``encoder(x) -> (mu, logvar)``: the diagonal Gaussian q(z|x), each (B, D);
- ``log_px_given_z(x, z) -> (B',)``: the decoder's log p(x|z) summed over data dimensions, for
  ``x`` (B', ...) and ``z`` (B', D) of the same length B'.

The prior is N(0, I) unless ``log_prior(z) -> (B',)`` says otherwise. Every result is per
example (B,), in nats; divide by the number of data dimensions for nats per dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Encoder = Callable[[Tensor], tuple[Tensor, Tensor]]
LogLikelihood = Callable[[Tensor, Tensor], Tensor]
LogPrior = Callable[[Tensor], Tensor]

_LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1).sum(dim=1)


def gaussian_log_likelihood(
    x: Tensor,
    mean: Tensor,
    *,
    log_var: Tensor | float | None = None,
    var: Tensor | float | None = None,
) -> Tensor:
    """log N(x; mean, diag(var)) summed over all but the first dim → (B,).

    Give exactly one of ``log_var`` and ``var`` (tensors broadcastable to ``x``, or scalars).
    """
    if (log_var is None) == (var is None):
        raise ValueError("give exactly one of log_var and var")
    if log_var is None:
        log_var = torch.log(torch.as_tensor(var, dtype=x.dtype, device=x.device))
    log_var = torch.as_tensor(log_var, dtype=x.dtype, device=x.device)
    return _sum_per_example(-0.5 * (_LOG_2PI + log_var + (x - mean) ** 2 * torch.exp(-log_var)))


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over all but the first dim → (B,)."""
    return _sum_per_example(-0.5 * (_LOG_2PI + z**2))


def bernoulli_log_likelihood(x: Tensor, logits: Tensor) -> Tensor:
    """log Bernoulli(x; sigmoid(logits)) summed over all but the first dim → (B,).

    Through ``binary_cross_entropy_with_logits`` (log-sum-exp form): stable for |logits| ≫ 1,
    where log(sigmoid(logits)) would round to log(0). ``x`` may be fractional (e.g. grey MNIST).
    """
    return -_sum_per_example(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def gaussian_kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) ‖ N(0, I)) in closed form (Kingma & Welling 2014, app. B)."""
    return 0.5 * _sum_per_example(mu**2 + torch.exp(logvar) - 1.0 - logvar)


def _standard_normal_draws(like: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
    """n draws of eps ~ N(0, I) shaped like ``like`` → (n, *like.shape).

    One ``randn`` call per draw: torch's CPU normal sampler fills blocks of 16 values, so one big
    call and several small ones give different numbers; drawing per sample keeps draw i the same
    whatever the chunk size, and the estimate independent of ``batch_k``.
    """
    return torch.stack(
        [
            torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
            for _ in range(n)
        ]
    )


def _log_px_given_z_batched(log_px_given_z: LogLikelihood, x: Tensor, z: Tensor) -> Tensor:
    """Evaluate the decoder on (n, B, D) samples at once by flattening them into one batch."""
    n, b = z.shape[:2]
    xs = x.unsqueeze(0).expand(n, *x.shape).reshape(n * b, *x.shape[1:])
    out = log_px_given_z(xs, z.reshape(n * b, *z.shape[2:]))
    if out.shape != (n * b,):
        raise ValueError(f"log_px_given_z must return shape ({n * b},); got {tuple(out.shape)}")
    return out.reshape(n, b)


def elbo(
    x: Tensor,
    encoder: Encoder,
    log_px_given_z: LogLikelihood,
    *,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """ELBO per example → (B,), Kingma & Welling's estimator B (eqs. 7, 10).

    E_q[log p(x|z)] by Monte Carlo over ``n_samples`` reparameterised draws, minus the analytic
    KL(q ‖ N(0, I)). Keeps gradients, so it also serves as a training loss.
    """
    mu, logvar = encoder(x)
    z = mu + torch.exp(0.5 * logvar) * _standard_normal_draws(mu, n_samples, generator)
    reconstruction = _log_px_given_z_batched(log_px_given_z, x, z).mean(dim=0)
    return reconstruction - gaussian_kl_standard_normal(mu, logvar)


@torch.no_grad()
def importance_sampled_log_likelihood(
    x: Tensor,
    encoder: Encoder,
    log_px_given_z: LogLikelihood,
    *,
    k: int,
    batch_k: int | None = None,
    log_prior: LogPrior = standard_normal_log_prob,
    generator: torch.Generator | None = None,
) -> Tensor:
    """log p(x) ≈ logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log k, z_k ~ q(z|x).

    A lower bound in expectation that tightens as k grows (Burda et al. 2016, Theorem 1).
    Samples are drawn and decoded ``batch_k`` at a time (default: all k at once) so memory is
    bounded by batch_k·B decoder evaluations; the running logsumexp makes the result independent
    of ``batch_k`` up to float rounding. Deterministic given ``generator``. Returns (B,).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    batch_k = k if batch_k is None else batch_k
    if batch_k < 1:
        raise ValueError(f"batch_k must be at least 1; got {batch_k}")
    mu, logvar = encoder(x)
    total = torch.full(mu.shape[:1], -math.inf, dtype=mu.dtype, device=mu.device)
    for start in range(0, k, batch_k):
        n = min(batch_k, k - start)
        eps = _standard_normal_draws(mu, n, generator)  # (n, B, D)
        z = mu + torch.exp(0.5 * logvar) * eps
        # log q(z|x) for z = mu + sigma·eps is the N(0, I) density of eps less sum(log sigma)
        log_q = (-0.5 * (_LOG_2PI + logvar + eps**2)).flatten(2).sum(dim=2)
        log_p = log_prior(z.flatten(0, 1)).reshape(n, -1)
        log_w = _log_px_given_z_batched(log_px_given_z, x, z) + log_p - log_q
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
    return total - math.log(k)
