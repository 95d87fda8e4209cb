"""One suite's records arranged for reporting: chosen runs, rows, claims and failures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gensuite.errors import GensuiteError
from gensuite.report.aggregate import (
    Record,
    Reproduced,
    by_case,
    has_metric,
    latest_finished,
    newest_key,
    reproduce,
    run_key,
)
from gensuite.report.stats import (
    Comparison,
    claim_verdict,
    holm,
    pair_verdict,
    paired,
    paired_from_summary,
    welch,
)
from gensuite.report.verdict import Verdict, row_verdict

PROFILE_ORDER = ("paper", "quick", "smoke")


def profile_rank(profile: str) -> tuple[int, str]:
    return (PROFILE_ORDER.index(profile) if profile in PROFILE_ORDER else 99, profile)


@dataclass(frozen=True, kw_only=True)
class Row:
    case_id: str
    label: str
    reported: dict[str, Any] | None
    reference_note: str
    value: Reproduced | None
    verdict: Verdict
    stands_in_for: str | None
    metric: str = ""
    unit: str = ""


@dataclass(frozen=True, kw_only=True)
class PairResult:
    """One claimed pair: its rows, the test of left − right, the Holm-adjusted p, the verdict
    (None when a side has no finished run)."""

    left: str
    left_row: Row | None
    right: str
    right_row: Row | None
    comparison: Comparison | None
    p_adjusted: float | None
    verdict: str | None


@dataclass(frozen=True, kw_only=True)
class Failure:
    record: Record
    superseded: bool  # a later run of the same (profile, case, seed) finished


class SuiteView:
    """Everything the markdown needs, derived from one suite's records and nothing else."""

    def __init__(self, records: list[Record], profiles: tuple[str, ...]) -> None:
        self.records = sorted(records, key=newest_key)
        # the newest record's snapshot describes the suite as it is now
        self.snapshot: dict[str, Any] = self.records[-1]["suite"]
        self.name: str = self.snapshot["name"]
        self.metric: str = self.snapshot["metric"]
        present = {r["profile"] for r in self.records}
        # paper first, whatever order the caller listed them in
        self.profiles = sorted(present & set(profiles), key=profile_rank)
        self.cases: dict[str, dict[str, Any]] = {}
        for rec in self.records:  # ascending age: the newest record's case wins
            self.cases[rec["case"]["id"]] = rec["case"]
        # ...unless the newest suite snapshot describes the case (it is the suite as it is now)
        self.cases.update(self.snapshot.get("cases", {}))
        order = list(self.snapshot.get("case_order", []))
        self.case_order = order + sorted(set(self.cases) - set(order))
        self.chosen = latest_finished(self.records, self.record_metric)
        self.groups = by_case(self.chosen)
        self.failures = self._failures()

    def metric_of(self, case_id: str) -> str:
        """The test() key a case's row shows: its own metric, else the suite's."""
        return self.cases.get(case_id, {}).get("metric") or self.metric

    def record_metric(self, rec: Record) -> str:
        return self.metric_of(rec["case"]["id"])

    def unit_of(self, case_id: str) -> str:
        metric = self.metric_of(case_id)
        chosen = sorted(self.chosen.items())
        own = (r["metrics"][metric].get("unit", "") for (_, cid, _), r in chosen
               if cid == case_id)
        # a case never run here (its data absent) takes the unit its metric has in other rows
        others = (r["metrics"][metric].get("unit", "") for _, r in chosen
                  if metric in (r.get("metrics") or {}))
        return next(own, None) or next(others, "")

    def _failures(self) -> list[Failure]:
        out = []
        for rec in self.records:
            if rec.get("status") == "finished" and has_metric(rec, self.record_metric(rec)):
                continue
            if rec.get("status") == "not run":  # not a failure: the row says why
                continue
            best = self.chosen.get(run_key(rec))
            later = best is not None and newest_key(best) > newest_key(rec)
            out.append(Failure(record=rec, superseded=later))
        rank = {c: i for i, c in enumerate(self.case_order)}
        out.sort(key=lambda f: (
            profile_rank(f.record["profile"]), rank[f.record["case"]["id"]],
            int(f.record["seed"]), newest_key(f.record),
        ))
        return out

    def table_order(self) -> list[str]:
        """Tables in the snapshot's ``table_order``, else in the order their first case appears
        in ``case_order`` (records store ``tables`` with sorted keys), then any others.
        """
        order: list[str] = list(self.snapshot.get("table_order", []))
        for cid in self.case_order:
            t = self.cases.get(cid, {}).get("table")
            if t is not None and t not in order:
                order.append(t)
        return order + sorted(set(self.snapshot.get("tables", {})) - set(order))

    def never_run(self) -> list[str]:
        """Cases of the suite with no record at all: their table and row are unknown."""
        return [c for c in self.case_order if c not in self.cases]

    def shown(self, profile: str | None = None) -> list[Record]:
        """The records behind the numbers (one per case and seed), optionally for one profile."""
        return [r for k, r in sorted(self.chosen.items()) if profile in (None, k[0])]

    def row(self, profile: str, case_id: str) -> Row:
        case = self.cases[case_id]
        recs = self.groups.get((profile, case_id), [])
        metric = self.metric_of(case_id)
        value = reproduce(recs, metric) if recs else None
        stands_in = next(
            (r["dataset"]["stands_in_for"] for r in recs
             if (r.get("dataset") or {}).get("stands_in_for")), None,
        )
        failed = any(
            f.record["profile"] == profile and f.record["case"]["id"] == case_id
            for f in self.failures
        )
        verdict = row_verdict(
            case.get("reported"), None if value is None else value.mean, profile=profile,
            ci95=math.nan if value is None else value.ci95,
            suite_tolerance=self.snapshot.get("tolerance"), stands_in_for=stands_in,
            failed=failed,
        )
        if value is None and not failed:
            why = self.not_run_reason(profile, case_id)
            if why:
                verdict = Verdict(label="not run", reason=why)
        return Row(
            case_id=case_id, label=case.get("row", case_id), reported=case.get("reported"),
            reference_note=case.get("reference_note") or "no published reference",
            value=value, verdict=verdict, stands_in_for=stands_in, metric=metric,
            unit=value.unit if value is not None else self.unit_of(case_id),
        )

    def not_run_reason(self, profile: str, case_id: str) -> str:
        """The short reason of the newest "not run" record of a case ("no pretrained weights"),
        or "" when it has none."""
        recs = [r for r in self.records if r.get("status") == "not run"
                and r["profile"] == profile and r["case"]["id"] == case_id]
        return str(recs[-1].get("error") or "").split(": ", 1)[0] if recs else ""

    def rows(self, profile: str, table: str) -> list[Row]:
        return [
            self.row(profile, c) for c in self.case_order
            if self.cases.get(c, {}).get("table") == table
        ]

    def claim(self, profile: str, check: dict[str, Any]) -> tuple[list[PairResult], str]:
        """Each pair tested (Welch over seeds, or paired over shared evaluation units), Holm's
        correction across the claim's pairs, each pair's verdict and the claim's."""
        tested = []
        for left, right in check["pairs"]:
            lrow, rrow = (self.row(profile, c) if c in self.cases else None for c in (left, right))
            tested.append((left, lrow, right, rrow,
                           self.compare(profile, left, right, check.get("paired_by", ""))))
        adjusted = holm([c.p if c is not None else None for *_, c in tested])
        kind = check.get("kind", "greater")
        pairs = [
            PairResult(left=left, left_row=lrow, right=right, right_row=rrow, comparison=c,
                       p_adjusted=p, verdict=None if c is None else pair_verdict(c, p, kind))
            for (left, lrow, right, rrow, c), p in zip(tested, adjusted)
        ]
        return pairs, claim_verdict([p.verdict for p in pairs])

    def compare(self, profile: str, left: str, right: str,
                paired_by: str = "") -> Comparison | None:
        """left − right of the two cases' metrics: Welch's t over per-seed means when each side
        has ≥ 2 seeds; else a paired t when both were scored on the same evaluation units
        (same seeds, same data, the same units recorded by the plug-in), or, with ``paired_by``,
        from the per-unit difference one trained model recorded; else untested."""
        lrecs, rrecs = (self.groups.get((profile, c), []) for c in (left, right))
        if not lrecs or not rrecs:
            return None
        lm, rm = self.metric_of(left), self.metric_of(right)
        lvals = [float(r["metrics"][lm]["mean"]) for r in lrecs]
        rvals = [float(r["metrics"][rm]["mean"]) for r in rrecs]
        if len(lvals) >= 2 and len(rvals) >= 2:
            return welch(lvals, rvals)
        shared = _shared_units(lrecs, rrecs, lm, rm)
        if shared is not None:
            return paired(*shared)
        if paired_by:
            summary = _recorded_difference(lrecs, rrecs, lm, rm, paired_by)
            if summary is not None:
                return paired_from_summary(*summary)
        return welch(lvals, rvals)  # untested: says how many seeds there are


def _recorded_difference(lrecs: list[Record], rrecs: list[Record], lm: str, rm: str,
                         metric: str) -> tuple[float, float, int, str] | None:
    """The per-unit difference lm − rm that one trained model recorded as ``metric`` (mean, CI
    half-width, n units) for the seed both sides share (reached only when a side has one seed);
    None when that seed's two records are not the same trained model. A recorded mean that is
    not lm − rm means the suite names the wrong metric (or sign): a one-line error."""
    right_by_seed = {int(r["seed"]): r for r in rrecs}
    for rec in lrecs:
        other = right_by_seed.get(int(rec["seed"]))
        if other is None or rec.get("train_key") != other.get("train_key"):
            continue
        d = rec["metrics"].get(metric)
        if d is None:
            return None
        expected = float(rec["metrics"][lm]["mean"]) - float(other["metrics"][rm]["mean"])
        if not math.isclose(float(d["mean"]), expected, rel_tol=1e-6, abs_tol=1e-6):
            raise GensuiteError(
                f"claim pairs {rec['case']['id']!r} − {other['case']['id']!r}: paired_by = "
                f"{metric!r} has mean {float(d['mean']):.6g}, not {lm} − {rm} = {expected:.6g}")
        return (float(d["mean"]), float(d.get("ci95", math.nan)), int(d.get("n", 1)),
                f"the same {d.get('over', 'units')}")
    return None


def _shared_units(lrecs: list[Record], rrecs: list[Record], lm: str,
                  rm: str) -> tuple[list[float], list[float], str] | None:
    """Per-unit values of both sides over the seeds they share, when every shared seed scored
    the same units (the plug-in's ``units`` id) on the same data; None otherwise."""
    right_by_seed = {int(r["seed"]): r for r in rrecs}
    left_vals: list[float] = []
    right_vals: list[float] = []
    over = ""
    for rec in lrecs:
        other = right_by_seed.get(int(rec["seed"]))
        if other is None:
            continue
        a, b = rec["metrics"][lm], other["metrics"][rm]
        same_data = (rec.get("dataset") or {}).get("fingerprint") == (
            other.get("dataset") or {}).get("fingerprint")
        if not (a.get("units") and a.get("units") == b.get("units") and same_data
                and a.get("samples") and len(a["samples"]) == len(b.get("samples") or ())):
            return None
        left_vals += [float(x) for x in a["samples"]]
        right_vals += [float(x) for x in b["samples"]]
        over = str(a.get("over", "units"))
    return (left_vals, right_vals, f"shared {over}") if left_vals else None
