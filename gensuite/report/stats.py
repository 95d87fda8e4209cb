"""Tests behind the verdicts: a claim's pairs (Welch t over training seeds, or a paired t over
shared evaluation units), Holm's correction across a claim's pairs, and the equivalence test of a
row's interval against the reported value ± its margin. Pure functions of numbers.

Every verdict can say "inconclusive": a difference that is not significant, an interval that
straddles a margin, one training seed against one. Significance level 0.05, two-sided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The difference left − right of one claimed pair and the test that judged it."""

    test: str  # "Welch t over seeds" | "paired t over <units>" | "" (not tested)
    diff: float  # left mean − right mean
    ci95: tuple[float, float] | None  # of the difference
    p: float | None  # two-sided p-value, before any correction
    n_left: int
    n_right: int  # for a paired test: the same number of shared units as n_left
    reason: str = ""  # why no test could be made ("1 vs 3 seeds"), when test == ""


def welch(left: Sequence[float], right: Sequence[float]) -> Comparison:
    """Welch's unequal-variance t-test over per-seed values (each side ≥ 2 seeds)."""
    a, b = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Comparison(test="", diff=diff, ci95=None, p=None, n_left=len(a), n_right=len(b),
                          reason=f"{len(a)} vs {len(b)} seeds")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:  # identical values on each side: the difference is exact
        p = 1.0 if diff == 0.0 else 0.0
        return Comparison(test="Welch t over seeds", diff=diff, ci95=(diff, diff), p=p,
                          n_left=len(a), n_right=len(b))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return Comparison(test="Welch t over seeds", diff=diff, ci95=(diff - half, diff + half),
                      p=p, n_left=len(a), n_right=len(b))


def paired(left: Sequence[float], right: Sequence[float], units: str) -> Comparison:
    """A paired t-test over the same evaluation units (test episodes, test images) scored by
    both sides: the units' own difficulty cancels out."""
    a, b = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs the same units on both sides ({a.shape} vs "
                         f"{b.shape})")
    d = a - b
    diff, n = float(d.mean()), len(d)
    if n < 2:
        return Comparison(test="", diff=diff, ci95=None, p=None, n_left=n, n_right=n,
                          reason=f"{n} shared {units}")
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        p = 1.0 if diff == 0.0 else 0.0
        return Comparison(test=f"paired t over {units}", diff=diff, ci95=(diff, diff), p=p,
                          n_left=n, n_right=n)
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    p = float(stats.ttest_rel(a, b).pvalue)
    return Comparison(test=f"paired t over {units}", diff=diff, ci95=(diff - half, diff + half),
                      p=p, n_left=n, n_right=n)


def paired_from_summary(mean: float, ci95: float, n: int, units: str,
                        z: float = float(stats.norm.ppf(0.975))) -> Comparison:
    """The paired t-test of ``paired`` from the per-unit differences' summary alone: their mean
    and normal-approximation CI half-width ``ci95`` (mean ± z·sd/√n, gensuite.metrics.mean_ci's
    default) over n units. The t statistic needs only the mean and the standard error."""
    if n < 2 or not math.isfinite(ci95):
        return Comparison(test="", diff=mean, ci95=None, p=None, n_left=n, n_right=n,
                          reason=f"{n} shared {units}, no interval")
    se = ci95 / z
    if se == 0.0:
        p = 1.0 if mean == 0.0 else 0.0
        return Comparison(test=f"paired t over {units}", diff=mean, ci95=(mean, mean), p=p,
                          n_left=n, n_right=n)
    t = mean / se
    half = float(stats.t.ppf(0.975, n - 1)) * se
    p = float(2.0 * stats.t.sf(abs(t), n - 1))
    return Comparison(test=f"paired t over {units}", diff=mean, ci95=(mean - half, mean + half),
                      p=p, n_left=n, n_right=n)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979) for the tested pairs of one claim; None
    (untested) stays None and does not count among the m hypotheses."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))  # adjusted p-values never decrease
        out[i] = running
    return out


def pair_verdict(cmp: Comparison, p_adjusted: float | None, kind: str,
                 alpha: float = ALPHA) -> str:
    """holds: significant in the claimed direction (kind "greater": left > right, "less":
    left < right); does not hold: significant the other way; otherwise inconclusive."""
    if p_adjusted is None or p_adjusted >= alpha or cmp.diff == 0.0:
        return "inconclusive"
    claimed = cmp.diff > 0 if kind == "greater" else cmp.diff < 0
    return "holds" if claimed else "does not hold"


def claim_verdict(pairs: Sequence[str | None]) -> str:
    """A claim of several pairs: does not hold when any pair significantly does not; holds when
    every pair holds; incomplete when a pair has an unrun side; otherwise inconclusive."""
    if any(p == "does not hold" for p in pairs):
        return "does not hold"
    if not pairs or any(p is None for p in pairs):
        return "incomplete"
    return "holds" if all(p == "holds" for p in pairs) else "inconclusive"


def equivalence(lo: float, hi: float, ref_lo: float | None, ref_hi: float | None) -> str:
    """An interval [lo, hi] against an accepted range [ref_lo, ref_hi] (None: unbounded):
    pass when it lies inside, fail when it lies wholly outside, inconclusive otherwise, and
    inconclusive when the interval is unknown (NaN)."""
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    below = ref_lo is not None and hi < ref_lo
    above = ref_hi is not None and lo > ref_hi
    if below or above:
        return "fail"
    inside = (ref_lo is None or lo >= ref_lo) and (ref_hi is None or hi <= ref_hi)
    return "pass" if inside else "inconclusive"
