"""mean_ci / accuracy_estimate against scipy/numpy references, plus invariances and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gensuite.api import Estimate
from gensuite.metrics.accuracy import accuracy_estimate, mean_ci

SAMPLES = [0.8, 0.9, 0.75, 1.0, 0.85, 0.6, 0.95, 0.7]


def test_normal_matches_hand_computation():
    x = np.array(SAMPLES)
    mean, half, n = mean_ci(SAMPLES)
    assert n == len(SAMPLES)
    assert mean == pytest.approx(x.mean())
    assert half == pytest.approx(1.959964 * x.std(ddof=1) / math.sqrt(len(x)), rel=1e-6)


def test_t_matches_scipy_interval():
    x = np.array(SAMPLES)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    mean, half, _ = mean_ci(x, method="t")
    assert mean - half == pytest.approx(lo)
    assert mean + half == pytest.approx(hi)


def test_other_confidence_level():
    x = np.array(SAMPLES)
    lo, hi = stats.norm.interval(0.9, loc=x.mean(), scale=stats.sem(x))
    _, half, _ = mean_ci(x, confidence=0.9)
    assert half == pytest.approx((hi - lo) / 2)


def test_accepts_generators_and_single_sample():
    assert mean_ci(v for v in SAMPLES)[0] == pytest.approx(np.mean(SAMPLES))
    mean, half, n = mean_ci([0.5])
    assert (mean, n) == (0.5, 1) and math.isnan(half)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"method": "bootstrap"}, "normal, t"), ({"confidence": 95}, "confidence")],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mean_ci(SAMPLES, **kwargs)
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


@pytest.mark.parametrize("method", ["normal", "t"])
def test_shift_and_scale_invariance(method):
    x = np.array(SAMPLES)
    mean, half, _ = mean_ci(x, method=method)
    m_shift, h_shift, _ = mean_ci(x + 3.0, method=method)
    assert m_shift == pytest.approx(mean + 3.0)
    assert h_shift == pytest.approx(half)
    m_scale, h_scale, _ = mean_ci(x * 2.5, method=method)
    assert m_scale == pytest.approx(mean * 2.5)
    assert h_scale == pytest.approx(half * 2.5)


@pytest.mark.parametrize(("method", "n"), [("normal", 200), ("t", 10)])
def test_coverage_is_about_95_percent(method, n):
    # The t interval is exact for normal data even at small n; the z interval needs a larger n.
    rng = np.random.default_rng(0)
    trials, true_mean = 4000, 0.7
    data = rng.normal(true_mean, 0.1, size=(trials, n))
    covered = 0
    for row in data:
        mean, half, _ = mean_ci(row, method=method)
        covered += abs(mean - true_mean) <= half
    assert covered / trials == pytest.approx(0.95, abs=0.012)


def test_accuracy_estimate_is_in_percent():
    est = accuracy_estimate(SAMPLES, over="runs")
    mean, half, n = mean_ci(SAMPLES)
    assert isinstance(est, Estimate)
    assert est.mean == pytest.approx(100 * mean)
    assert est.ci95 == pytest.approx(100 * half)
    assert (est.n, est.unit, est.over) == (n, "%", "runs")
