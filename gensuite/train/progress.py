"""Progress lines for logs: where a long run is, every N seconds, when no terminal shows a bar.

A run started by nohup, a CI job or a batch scheduler has no TTY, so tqdm's bar is off; without
these lines its log says nothing for hours. One line per interval (plus one per evaluation that
falls due), e.g. ``  step 1650/20000 (8%), 0.36 s/step, loss 0.091; val_loss 0.0488 at 1500;
at most 1h50m left``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from gensuite.train.loop import Callback, LoopResult

DEFAULT_EVERY_S = 60.0


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class ProgressLines(Callback):
    """Prints at most one line per ``every_s`` seconds of training (first after ``every_s``)."""

    def __init__(self, total_steps: int, every_s: float = DEFAULT_EVERY_S,
                 write: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.every = total_steps, every_s
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock
        self._first: tuple[int, float] | None = None
        self._last_line = 0.0
        self._train: dict[str, float] = {}
        self._val: tuple[int, dict[str, float]] | None = None

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        now = self.clock()
        if self._first is None:
            self._first, self._last_line = (step, now), now
        self._train = metrics
        if now - self._last_line >= self.every and step > self._first[0]:
            self._last_line = now
            self.write(self.line(step + 1, now))

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        self._val = (step, metrics)

    def on_end(self, result: LoopResult) -> None: ...

    def line(self, done: int, now: float) -> str:
        # t0 is when the first observed step ended: the steps after it took now - t0
        first_step, t0 = self._first or (done - 2, now)
        rate = (now - t0) / max(1, done - 1 - first_step)  # s/step, evaluations included
        parts = [f"  step {done}/{self.total} ({100 * done / self.total:.0f}%), "
                 f"{rate:.3g} s/step"]
        parts[0] += "".join(f", {k} {v:.3g}" for k, v in list(self._train.items())[:2])
        if self._val is not None:
            at, val = self._val
            parts.append(", ".join(f"{k} {v:.4g}" for k, v in list(val.items())[:2])
                         + f" at {at}")
        parts.append(f"at most {_duration(rate * (self.total - done))} left")
        return "; ".join(parts)
