"""Mean accuracy with a confidence interval over episodes/runs.

Few-shot papers (Snell et al. 2017, Table 1; Vinyals et al. 2016) report the mean accuracy over
test episodes with a 95% confidence interval, mean ± 1.96·s/√n.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
from scipy import stats

from gensuite.api import Estimate

METHODS = ("normal", "t")
Z95 = float(stats.norm.ppf(0.975))  # 1.959964…: every normal 95% interval in gensuite


def mean_ci(
    samples: Iterable[float], confidence: float = 0.95, method: str = "normal"
) -> tuple[float, float, int]:
    """Sample mean, CI half-width and n; ``normal`` uses z (1.959964 at 95%), ``t`` Student-t.

    The standard error uses the sample standard deviation (ddof=1); with n=1 the half-width is
    nan because the spread is unknown.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    if isinstance(samples, Iterator):  # generators: numpy would wrap them as one object
        samples = list(samples)
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    n = int(x.size)
    if n == 0:
        raise ValueError("mean_ci needs at least one sample")
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, 1
    q = 0.5 + confidence / 2.0
    crit = stats.norm.ppf(q) if method == "normal" else stats.t.ppf(q, n - 1)
    half = float(crit * x.std(ddof=1) / math.sqrt(n))
    return mean, half, n


def accuracy_estimate(
    per_episode_acc: Iterable[float], method: str = "normal", over: str = "episodes",
    units: str = "",
) -> Estimate:
    """Accuracies in [0, 1] per episode → ``Estimate`` in percent with its 95% half-width.

    ``units``: an id of the evaluation units (the same test episodes for every model of a
    suite); given, the per-unit percentages are kept for paired comparisons.
    """
    values = [float(x) for x in per_episode_acc]
    mean, half, n = mean_ci(values, confidence=0.95, method=method)
    samples = tuple(100.0 * x for x in values) if units else None
    return Estimate(mean=100.0 * mean, ci95=100.0 * half, n=n, unit="%", over=over,
                    samples=samples, units=units)
