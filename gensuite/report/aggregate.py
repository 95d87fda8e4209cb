"""Records → one reproduced value per (profile, case): newest finished record per seed, pooled."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scipy import stats

Record = dict[str, Any]
Key = tuple[str, str, int]  # (profile, case id, seed)


@dataclass(frozen=True, kw_only=True)
class Reproduced:
    """A reproduced value: one seed's own estimate, or the mean over seeds with a t-interval
    (the headline), with the evaluation spread of one trained model kept beside it."""

    mean: float
    ci95: float  # NaN when unknown (one seed without a CI)
    n: int
    over: str  # "episodes" for one seed's estimate, "seeds" when pooled over seeds
    unit: str
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...] = ()  # each seed's mean, in ``seeds`` order
    # The evaluation spread of one trained model (over episodes, images...): the mean of the
    # seeds' own half-widths; equal to the headline's for one seed.
    eval_ci95: float = math.nan
    eval_n: int = 0
    eval_over: str = ""


def newest_key(rec: Record) -> tuple[str, str]:
    """Sort key for "newest": timing.finished (ISO UTC text), ties broken by record path."""
    finished = (rec.get("timing") or {}).get("finished")
    return ("" if finished is None else str(finished), rec.get("_path", ""))


def run_key(rec: Record) -> Key:
    return (rec["profile"], rec["case"]["id"], int(rec["seed"]))


def has_metric(rec: Record, metric: str) -> bool:
    return isinstance((rec.get("metrics") or {}).get(metric), dict)


def latest_finished(
    records: Iterable[Record], metric_of: Callable[[Record], str]
) -> dict[Key, Record]:
    """For each (profile, case, seed), the newest record that finished with its case's metric."""
    best: dict[Key, Record] = {}
    for rec in records:
        if rec.get("status") != "finished" or not has_metric(rec, metric_of(rec)):
            continue
        key = run_key(rec)
        if key not in best or newest_key(rec) > newest_key(best[key]):
            best[key] = rec
    return best


def by_case(chosen: dict[Key, Record]) -> dict[tuple[str, str], list[Record]]:
    """Group the chosen records by (profile, case id), seeds in ascending order."""
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for (profile, case_id, _seed), rec in sorted(chosen.items()):
        groups[(profile, case_id)].append(rec)
    return dict(groups)


def combine(estimates: list[dict[str, Any]], seeds: list[int]) -> Reproduced:
    """One seed: its own mean ± ci95 over n samples; several: mean of seed means ± t-interval
    over seeds, the seeds' evaluation spread kept beside it."""
    if not estimates:
        raise ValueError("combine() needs at least one estimate")
    unit = estimates[0].get("unit", "")
    means = [float(e["mean"]) for e in estimates]
    halves = [math.nan if e.get("ci95") is None else float(e["ci95"]) for e in estimates]
    spread = {"per_seed": tuple(means), "eval_ci95": math.fsum(halves) / len(halves),
              "eval_n": int(estimates[0].get("n", 1)),
              "eval_over": str(estimates[0].get("over", ""))}
    if len(estimates) == 1:
        return Reproduced(mean=means[0], ci95=halves[0], n=spread["eval_n"],
                          over=spread["eval_over"], unit=unit, seeds=tuple(seeds), **spread)
    k = len(means)
    if len(set(means)) == 1:  # a count, or a deterministic score: exactly that, no spread
        return Reproduced(mean=means[0], ci95=0.0, n=k, over="seeds", unit=unit,
                          seeds=tuple(seeds), **spread)
    mean = math.fsum(means) / k
    sd = math.sqrt(math.fsum((m - mean) ** 2 for m in means) / (k - 1))
    half = float(stats.t.ppf(0.975, k - 1)) * sd / math.sqrt(k)
    return Reproduced(mean=mean, ci95=half, n=k, over="seeds", unit=unit, seeds=tuple(seeds),
                      **spread)


def reproduce(recs: list[Record], metric: str) -> Reproduced:
    """The reproduced value of ``metric`` from one case's chosen records (one per seed)."""
    return combine([r["metrics"][metric] for r in recs], [int(r["seed"]) for r in recs])
