"""The tests behind verdicts (gensuite.report.stats), against closed forms and scipy: Welch's t
and the paired t, Holm's correction on a worked example, the claim verdict on synthetic per-seed
values (separated → holds, overlapping → inconclusive, reversed → does not hold), and the
equivalence verdict at the edges of its interval."""

import math

import numpy as np
import pytest
from scipy import stats

from gensuite.report.stats import (
    claim_verdict,
    equivalence,
    holm,
    pair_verdict,
    paired,
    paired_from_summary,
    welch,
)


def test_welch_matches_the_closed_form():
    a, b = [10.0, 11.0, 12.5, 11.2], [9.0, 9.4, 8.1]
    c = welch(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)  # Welch–Satterthwaite
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    assert c.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert c.p == pytest.approx(2 * stats.t.sf(abs(t), df))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert c.ci95 == pytest.approx((c.diff - half, c.diff + half))
    assert (c.test, c.n_left, c.n_right) == ("Welch t over seeds", 4, 3)


def test_one_seed_decides_nothing():
    c = welch([90.0], [80.0, 81.0])
    assert c.test == "" and c.p is None and c.reason == "1 vs 2 seeds"
    assert pair_verdict(c, None, "greater") == "inconclusive"


@pytest.mark.parametrize("left, right, verdict", [
    ([90.1, 90.3, 89.9], [80.2, 79.8, 80.1], "holds"),  # clearly separated
    ([85.0, 88.0, 83.0], [86.0, 84.0, 87.0], "inconclusive"),  # overlapping
    ([80.2, 79.8, 80.1], [90.1, 90.3, 89.9], "does not hold"),  # reversed
])
def test_claim_verdict_on_synthetic_per_seed_values(left, right, verdict):
    c = welch(left, right)
    assert pair_verdict(c, holm([c.p])[0], "greater") == verdict
    # a "less" claim (FID-like) reads the same difference the other way round
    flipped = {"holds": "does not hold", "does not hold": "holds"}.get(verdict, verdict)
    assert pair_verdict(c, c.p, "less") == flipped


def test_paired_matches_scipy_and_uses_the_pairing():
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 10, 200)  # shared per-episode difficulty
    a = 80 + difficulty + rng.normal(0.5, 1, 200)
    b = 80 + difficulty + rng.normal(0.0, 1, 200)
    c = paired(a, b, "test episodes")
    assert c.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    d = a - b
    half = stats.t.ppf(0.975, 199) * d.std(ddof=1) / math.sqrt(200)
    assert c.ci95 == pytest.approx((d.mean() - half, d.mean() + half))
    assert c.test == "paired t over test episodes" and pair_verdict(c, c.p, "greater") == "holds"
    # the same numbers unpaired: the shared difficulty drowns the difference
    assert welch(a, b).p > 0.05
    with pytest.raises(ValueError, match="same units"):
        paired(a, b[:-1], "test episodes")


def test_holm_on_a_worked_example():
    # sorted p: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, None, 0.01]) == [pytest.approx(0.2), None, pytest.approx(0.02)]
    assert holm([0.6, 0.7]) == [pytest.approx(1.0), pytest.approx(1.0)]  # capped at 1


def test_holm_can_turn_a_pair_inconclusive():
    ps = [0.03, 0.04]  # each below 0.05 alone, not after the correction (0.06, 0.06)
    c = welch([2.0, 2.1, 2.2], [1.0, 1.1, 1.2])
    assert all(pair_verdict(c, p, "greater") == "holds" for p in ps)
    assert all(pair_verdict(c, p, "greater") == "inconclusive" for p in holm(ps))


def test_claim_of_several_pairs():
    assert claim_verdict(["holds", "holds"]) == "holds"
    assert claim_verdict(["holds", "inconclusive"]) == "inconclusive"
    assert claim_verdict(["inconclusive", "does not hold"]) == "does not hold"
    assert claim_verdict(["holds", None]) == "incomplete"


@pytest.mark.parametrize("lo, hi, verdict", [
    (97.8, 99.8, "pass"),  # exactly the accepted range [97.8, 99.8]: inside
    (97.9, 99.7, "pass"),
    (97.7, 99.0, "inconclusive"),  # straddles the lower edge
    (98.0, 99.9, "inconclusive"),  # straddles the upper edge
    (95.0, 97.79, "fail"),  # wholly below
    (99.81, 100.0, "fail"),  # wholly above
    (97.0, 100.5, "inconclusive"),  # wider than the range
    (math.nan, math.nan, "inconclusive"),  # no interval: nothing is decided
])
def test_equivalence_at_the_edges(lo, hi, verdict):
    assert equivalence(lo, hi, 97.8, 99.8) == verdict


def test_equivalence_against_a_one_sided_bound():
    assert equivalence(-101.5, -100.0, -102.0, None) == "pass"  # ELBO ≥ −102
    assert equivalence(-103.0, -101.0, -102.0, None) == "inconclusive"
    assert equivalence(-104.0, -103.0, -102.0, None) == "fail"


def test_paired_from_summary_is_the_paired_t_of_the_units():
    """The paired t from the recorded mean and normal-approximation CI of the per-unit
    differences equals scipy's paired t on the units themselves."""
    rng = np.random.default_rng(1)
    a = rng.normal(-93.0, 20.0, 500)
    b = a - rng.normal(0.5, 2.0, 500)  # a − b: small, noisy, positive on average
    d = a - b
    half_z = stats.norm.ppf(0.975) * d.std(ddof=1) / math.sqrt(len(d))  # mean_ci's default
    c = paired_from_summary(float(d.mean()), float(half_z), len(d), "the same images")
    ref = paired(a, b, "the same images")
    assert c.p == pytest.approx(ref.p, rel=1e-9)
    assert c.ci95 == pytest.approx(ref.ci95, rel=1e-9)
    assert c.test == "paired t over the same images" and pair_verdict(c, c.p, "greater") == "holds"
    # no interval or one unit: untested, with the reason
    assert paired_from_summary(1.0, math.nan, 10, "images").test == ""
    assert paired_from_summary(1.0, 0.2, 1, "images").p is None


def test_a_data_independent_number_is_compared_where_our_data_stands_in():
    from gensuite.report.verdict import row_verdict

    count = {"value": 3.349, "tolerance": 0.001, "source": "a README"}
    stood_in = row_verdict(count, 3.3493, profile="paper", ci95=0.0,
                           stands_in_for="CIFAR-10")
    assert stood_in.label == "not comparable"
    compared = row_verdict({**count, "data_independent": True}, 3.3493, profile="paper",
                           ci95=0.0, stands_in_for="CIFAR-10")
    assert compared.label == "pass"
    off = row_verdict({**count, "data_independent": True}, 3.5, profile="paper", ci95=0.0,
                      stands_in_for="CIFAR-10")
    assert off.label == "fail"
    # a source's own 'not comparable' still stands
    assert row_verdict({**count, "data_independent": True, "comparable": False}, 3.3493,
                       profile="paper", ci95=0.0).label == "not comparable"
