"""VAE likelihood metrics against scipy/numpy references and a linear-Gaussian latent model whose
log p(x), posterior and ELBO are known in closed form.

Model: z ~ N(0, I_2), x | z ~ N(Wz + b, s2·I_3), so x ~ N(b, WWᵀ + s2·I). W has orthogonal
columns, which makes the exact posterior diagonal, N(V·Wᵀ(x − b)/s2, V) with
V = (I + WᵀW/s2)⁻¹, and so expressible by the diagonal-Gaussian encoder interface.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gensuite.metrics.likelihood import (
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl_standard_normal,
    gaussian_log_likelihood,
    importance_sampled_log_likelihood,
    standard_normal_log_prob,
)

S2 = 0.5
_Q = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 2)))[0]
W = torch.tensor(_Q * np.array([2.0, 1.0]))  # orthogonal columns with norms 2 and 1
B = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
POST_VAR = 1.0 / (1.0 + (W**2).sum(0) / S2)  # diagonal of V
SHIFT, INFLATE = 0.5, 2.0  # the imperfect q: mean off by 0.5, variance doubled


def log_px_given_z(x, z):
    return gaussian_log_likelihood(x, z @ W.T + B, var=S2)


def exact_encoder(x):
    mu = POST_VAR * ((x - B) @ W) / S2
    return mu, torch.log(POST_VAR).expand_as(mu)


def imperfect_encoder(x):
    mu, logvar = exact_encoder(x)
    return mu + SHIFT, logvar + math.log(INFLATE)


def exact_log_px(x: torch.Tensor) -> np.ndarray:
    cov = (W @ W.T).numpy() + S2 * np.eye(3)
    return stats.multivariate_normal(mean=B.numpy(), cov=cov).logpdf(x.numpy()).reshape(-1)


def kl_imperfect_to_posterior() -> float:
    """KL(q ‖ p(z|x)) for the imperfect q, the same for every x (one shift, one inflation)."""
    vp, vq = POST_VAR.numpy(), INFLATE * POST_VAR.numpy()
    return float(0.5 * np.sum(vq / vp + SHIFT**2 / vp - 1 - np.log(vq / vp)))


def chi2_posterior_to_imperfect() -> float:
    """Var_q(w)/p(x)² = ∫ p(z|x)²/q(z) dz − 1 for importance weights w = p(x, z)/q(z|x).

    Per dimension ∫ N(m_p, v_p)²/N(m_q, v_q) = v_q/√(v_p(2v_q − v_p))·exp((m_p − m_q)²/(2v_q − v_p)).
    """
    vp, vq = POST_VAR.numpy(), INFLATE * POST_VAR.numpy()
    per_dim = vq / np.sqrt(vp * (2 * vq - vp)) * np.exp(SHIFT**2 / (2 * vq - vp))
    return float(np.prod(per_dim) - 1.0)


def _xs(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return z @ W.T + B + math.sqrt(S2) * torch.randn(n, 3, generator=g, dtype=torch.float64)


def _iwae(x, encoder, k, seed=0, batch_k=None):
    g = torch.Generator().manual_seed(seed)
    return importance_sampled_log_likelihood(
        x, encoder, log_px_given_z, k=k, batch_k=batch_k, generator=g
    ).numpy()


def test_exact_posterior_gives_the_exact_value_for_every_k():
    # with q = p(z|x) every weight p(x, z)/q(z|x) equals p(x): no Monte Carlo error at all
    x = _xs(5)
    for k in (1, 7):
        np.testing.assert_allclose(_iwae(x, exact_encoder, k), exact_log_px(x), atol=1e-10)


def test_importance_sampling_converges_for_an_imperfect_q():
    x = _xs(4)
    exact = exact_log_px(x)
    chi2 = chi2_posterior_to_imperfect()
    k = 5000
    # delta method: log of a mean of k weights has sd ≈ √(χ²/k) and bias ≈ −χ²/(2k); allow 4 sd
    tol = 4 * math.sqrt(chi2 / k) + chi2 / (2 * k)
    err_k = np.abs(_iwae(x, imperfect_encoder, k, batch_k=1000) - exact)
    assert np.all(err_k < tol), (err_k, tol)
    # at k = 1 the estimate is log w, whose mean is the ELBO: KL(q ‖ p(z|x)) below log p(x)
    repeats = x.repeat_interleave(200, dim=0)
    singles = _iwae(repeats, imperfect_encoder, 1).reshape(4, 200)
    err_1 = np.abs(singles.mean(1) - exact)
    sem = singles.std(1) / math.sqrt(200)
    assert np.all(np.abs(err_1 - kl_imperfect_to_posterior()) < 4 * sem), (err_1, sem)
    assert np.all(err_k < err_1 / 20)


def test_estimate_increases_with_k_in_expectation():
    x = _xs(1, seed=3)
    exact = exact_log_px(x)[0]
    repeats = x.expand(2000, 3)
    means = [_iwae(repeats, imperfect_encoder, k, seed=k).mean() for k in (1, 4, 16, 64)]
    assert all(lo < hi for lo, hi in zip(means, means[1:])), means
    assert means[-1] < exact  # still a lower bound in expectation at finite k


def test_elbo_is_below_the_log_likelihood_and_matches_its_closed_form():
    x = _xs(6, seed=2)
    n = 4000
    g = torch.Generator().manual_seed(0)
    got = elbo(x, imperfect_encoder, log_px_given_z, n_samples=n, generator=g).numpy()
    exact = exact_log_px(x)
    expected = exact - kl_imperfect_to_posterior()  # ELBO = log p(x) − KL(q ‖ p(z|x))
    # Monte Carlo sd of the reconstruction term, measured from single-sample ELBOs of one x
    g = torch.Generator().manual_seed(1)
    singles = elbo(x[:1].expand(n, 3), imperfect_encoder, log_px_given_z, generator=g).numpy()
    tol = 4 * singles.std() / math.sqrt(n)
    np.testing.assert_allclose(got, expected, atol=tol)
    assert np.all(got < exact)
    # and the exact posterior closes the gap
    g = torch.Generator().manual_seed(0)
    tight = elbo(x, exact_encoder, log_px_given_z, n_samples=n, generator=g).numpy()
    np.testing.assert_allclose(tight, exact, atol=tol)


@pytest.mark.parametrize("batch_k", [1, 7, 50, 1000])
def test_chunking_over_k_does_not_change_the_result(batch_k):
    x = _xs(3)
    whole = _iwae(x, imperfect_encoder, 50, seed=5)
    np.testing.assert_allclose(
        _iwae(x, imperfect_encoder, 50, seed=5, batch_k=batch_k), whole, rtol=0, atol=1e-12
    )


def test_deterministic_given_a_generator():
    x = _xs(3)
    a, b = _iwae(x, imperfect_encoder, 20, seed=9), _iwae(x, imperfect_encoder, 20, seed=9)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _iwae(x, imperfect_encoder, 20, seed=10))


def test_non_standard_prior_is_used():
    # a prior shifted away from N(0, I) must lower log p(x) for data generated under N(0, I)
    x = _xs(3)
    g = torch.Generator().manual_seed(0)
    shifted = importance_sampled_log_likelihood(
        x,
        exact_encoder,
        log_px_given_z,
        k=10,
        generator=g,
        log_prior=lambda z: standard_normal_log_prob(z - 3.0),
    ).numpy()
    assert np.all(shifted < exact_log_px(x) - 1)


def test_bad_arguments_are_clear_errors():
    x = _xs(2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        importance_sampled_log_likelihood(x, exact_encoder, log_px_given_z, k=0)
    with pytest.raises(ValueError, match=r"must return shape \(6,\)"):
        importance_sampled_log_likelihood(
            x, exact_encoder, lambda x, z: log_px_given_z(x, z)[:, None], k=3
        )
    with pytest.raises(ValueError, match="exactly one of log_var and var"):
        gaussian_log_likelihood(x, x)


def test_gaussian_log_likelihood_equals_scipy():
    rng = np.random.default_rng(4)
    x, mean = rng.standard_normal((2, 5, 2, 3))
    var = rng.uniform(0.1, 3.0, (5, 2, 3))
    expected = stats.norm.logpdf(x, mean, np.sqrt(var)).reshape(5, -1).sum(1)
    xt, mt, vt = (torch.tensor(a) for a in (x, mean, var))
    np.testing.assert_allclose(
        gaussian_log_likelihood(xt, mt, var=vt).numpy(), expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        gaussian_log_likelihood(xt, mt, log_var=torch.log(vt)).numpy(), expected, rtol=1e-12
    )
    scalar = stats.norm.logpdf(x, mean, math.sqrt(0.7)).reshape(5, -1).sum(1)
    np.testing.assert_allclose(gaussian_log_likelihood(xt, mt, var=0.7).numpy(), scalar, rtol=1e-12)
    np.testing.assert_allclose(
        standard_normal_log_prob(xt).numpy(), stats.norm.logpdf(x).reshape(5, -1).sum(1)
    )


def test_bernoulli_log_likelihood_equals_numpy():
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 3, (4, 28))
    x = (rng.uniform(size=(4, 28)) < 0.5).astype(np.float64)
    p = 1 / (1 + np.exp(-logits))
    expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    got = bernoulli_log_likelihood(torch.tensor(x), torch.tensor(logits)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_bernoulli_log_likelihood_is_stable_for_large_logits():
    # confidently wrong pixels at |logit| = 200 cost 200 nats each; naive log(sigmoid) gives -inf
    logits = torch.tensor([[200.0, -200.0, 200.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    expected = -np.sum(
        np.logaddexp(0, -logits.numpy()) * x.numpy()
        + np.logaddexp(0, logits.numpy()) * (1 - x.numpy())
    )
    got = bernoulli_log_likelihood(x, logits)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    assert got.item() == pytest.approx(-200.0, rel=1e-12)


def test_kl_equals_closed_form_reference_and_monte_carlo():
    rng = np.random.default_rng(6)
    mu, logvar = rng.normal(0, 1, (2, 3, 4))
    got = gaussian_kl_standard_normal(torch.tensor(mu), torch.tensor(logvar)).numpy()
    q = torch.distributions.Normal(torch.tensor(mu), torch.exp(0.5 * torch.tensor(logvar)))
    reference = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    np.testing.assert_allclose(got, reference.numpy(), rtol=1e-12)
    # Monte Carlo: E_q[log q(z) − log N(z; 0, I)] over n draws, within 4 standard errors
    n = 200_000
    sd = np.exp(0.5 * logvar)
    z = mu + sd * rng.standard_normal((n, 3, 4))
    log_ratio = (stats.norm.logpdf(z, mu, sd) - stats.norm.logpdf(z)).sum(-1)
    tol = 4 * log_ratio.std(0) / math.sqrt(n)
    assert np.all(np.abs(log_ratio.mean(0) - got) < tol), (log_ratio.mean(0), got, tol)
    assert (
        np.all(got > 0)
        and gaussian_kl_standard_normal(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0
    )
