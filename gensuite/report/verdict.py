"""Pure verdict rules for one table row: an equivalence test of the reproduced 95% interval
against the reported value ± its margin (or the report's own bound). A claim's verdict (left
beats right) is a significance test: ``gensuite.report.stats``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gensuite.report.stats import equivalence

DEFAULT_TOLERANCE = 1.0  # when a record's suite snapshot predates the suite-level tolerance
SHORTENED = " (shortened schedule)"  # quick/smoke runs train for less than the paper did


@dataclass(frozen=True, kw_only=True)
class Verdict:
    # pass | fail | inconclusive | not comparable | no reference | not run | run failed
    # (+ SHORTENED)
    label: str
    reason: str = ""
    delta: float | None = None  # reproduced − reported, in the metric's unit

    def text(self) -> str:
        return f"{self.label} ({self.reason})" if self.reason else self.label


def tolerance_for(reported: dict[str, Any], suite_tolerance: float | None) -> float:
    """The row's margin: the source's own ± where it gives one, else the row's own tolerance,
    else the suite's, else the default."""
    if reported.get("plus_minus") is not None:
        return float(reported["plus_minus"])
    if reported.get("tolerance") is not None:
        return float(reported["tolerance"])
    return DEFAULT_TOLERANCE if suite_tolerance is None else float(suite_tolerance)


def incomparable_reason(reported: dict[str, Any], stands_in_for: str | None) -> str | None:
    """Why a reported number cannot be compared with ours, or None when it can (a
    data-independent number, such as a parameter count, whatever data stood in)."""
    if stands_in_for and not reported.get("data_independent"):
        return f"our data stands in for {stands_in_for}"
    if not reported.get("comparable", True):
        return reported.get("note") or "reported on data we cannot match"
    return None


def row_verdict(
    reported: dict[str, Any] | None,
    value: float | None,
    *,
    profile: str,
    ci95: float = math.nan,
    suite_tolerance: float | None = None,
    stands_in_for: str | None = None,
    failed: bool = False,
) -> Verdict:
    """Verdict of one row; ``value`` ± ``ci95`` is the reproduced mean and its 95% half-width
    (None: no finished run; NaN half-width: unknown, so nothing is decided). pass: the interval
    lies within the reported value ± margin (or meets the report's bound); fail: wholly
    outside; inconclusive: it straddles an edge."""
    if value is None:
        if failed:
            return Verdict(label="run failed", reason="see Failed runs")
        return Verdict(label="not run")
    if reported is None:
        return Verdict(label="no reference")
    reason = incomparable_reason(reported, stands_in_for)
    if reason is not None:
        return Verdict(label="not comparable", reason=reason)
    ref = reported.get("value")
    delta = None if ref is None else value - float(ref)
    suffix = "" if profile == "paper" else SHORTENED
    lo, hi = value - ci95, value + ci95
    bound = bound_text(reported)
    if bound:  # the report's own target decides, not the distance to its number
        at_least, at_most = reported.get("at_least"), reported.get("at_most")
        label = equivalence(lo, hi, None if at_least is None else float(at_least),
                            None if at_most is None else float(at_most))
        reason = f"target {bound}"
    else:
        margin = tolerance_for(reported, suite_tolerance)
        label = equivalence(lo, hi, float(ref) - margin, float(ref) + margin)
        reason = ""
    if math.isnan(ci95):
        reason = f"{reason}; no interval" if reason else "no interval"
    return Verdict(label=label + suffix, reason=reason, delta=delta)


def bound_text(reported: dict[str, Any]) -> str:
    """"≥ -102" / "≤ 40" / "≥ 1 and ≤ 2" for a reported bound, "" when there is none."""
    parts = []
    if reported.get("at_least") is not None:
        parts.append(f"≥ {float(reported['at_least']):g}")
    if reported.get("at_most") is not None:
        parts.append(f"≤ {float(reported['at_most']):g}")
    return " and ".join(parts)
