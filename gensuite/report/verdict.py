"""Pure verdict rules: one table row (reported vs reproduced) and one claim (left beats right)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_TOLERANCE = 1.0  # when a record's suite snapshot predates the suite-level tolerance
SHORTENED = " (shortened schedule)"  # quick/smoke runs train for less than the paper did


@dataclass(frozen=True, kw_only=True)
class Verdict:
    label: str  # pass | fail | not comparable | no reference | not run | run failed (+ SHORTENED)
    reason: str = ""
    delta: float | None = None  # reproduced − reported, in the metric's unit

    def text(self) -> str:
        return f"{self.label} ({self.reason})" if self.reason else self.label


def tolerance_for(reported: dict[str, Any], suite_tolerance: float | None) -> float:
    """The row's own tolerance, else the suite's, else the default."""
    if reported.get("tolerance") is not None:
        return float(reported["tolerance"])
    return DEFAULT_TOLERANCE if suite_tolerance is None else float(suite_tolerance)


def incomparable_reason(reported: dict[str, Any], stands_in_for: str | None) -> str | None:
    """Why a reported number cannot be compared with ours, or None when it can."""
    if stands_in_for:
        return f"our data stands in for {stands_in_for}"
    if not reported.get("comparable", True):
        return reported.get("note") or "reported on data we cannot match"
    return None


def row_verdict(
    reported: dict[str, Any] | None,
    value: float | None,
    *,
    profile: str,
    suite_tolerance: float | None = None,
    stands_in_for: str | None = None,
    failed: bool = False,
) -> Verdict:
    """Verdict of one row; ``value`` is the reproduced mean (None: no finished run)."""
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
    bound = bound_text(reported)
    if bound:  # the report's own target decides, not the distance to its number
        lo, hi = reported.get("at_least"), reported.get("at_most")
        ok = (lo is None or value >= float(lo)) and (hi is None or value <= float(hi))
        return Verdict(label=("pass" if ok else "fail") + suffix, reason=f"target {bound}",
                       delta=delta)
    ok = abs(delta) <= tolerance_for(reported, suite_tolerance)
    return Verdict(label=("pass" if ok else "fail") + suffix, delta=delta)


def bound_text(reported: dict[str, Any]) -> str:
    """"≥ -102" / "≤ 40" / "≥ 1 and ≤ 2" for a reported bound, "" when there is none."""
    parts = []
    if reported.get("at_least") is not None:
        parts.append(f"≥ {float(reported['at_least']):g}")
    if reported.get("at_most") is not None:
        parts.append(f"≤ {float(reported['at_most']):g}")
    return " and ".join(parts)


def pair_holds(left: float | None, right: float | None, kind: str = "greater") -> bool | None:
    """Whether left beats right (greater: left > right; less: left < right, as for FID);
    None when a side has no reproduced value."""
    if left is None or right is None:
        return None
    return left > right if kind == "greater" else left < right


def claim_verdict(holds: list[bool | None]) -> str:
    """holds when every pair holds; one failing pair settles "does not hold" even if others are
    missing; otherwise a missing side makes it "incomplete"."""
    if any(h is False for h in holds):
        return "does not hold"
    if not holds or any(h is None for h in holds):
        return "incomplete"
    return "holds"
