"""Fixed text formatting, so that the same records always render to the same bytes."""

from __future__ import annotations

import math

# a difference of percentages is in percentage points; "%" would read as a relative change
_DELTA_UNIT = {"%": "pp"}


def _num(x: float, unit: str, signed: bool = False) -> str:
    if math.isnan(x):
        return "nan"
    # accuracies in % keep one decimal; other metrics (ELBO, IS, perplexity) 4 significant digits
    return format(x, ("+" if signed else "") + (".1f" if unit == "%" else ".4g"))


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def value(x: float, unit: str) -> str:
    return _with_unit(_num(x, unit), unit)


def reported(x: float, unit: str) -> str:
    """A reported number as its source gives it: a percentage keeps a second decimal when it
    has one (Ganin et al.'s 0.5225 is 52.25%, not 52.2%)."""
    if unit == "%" and not math.isnan(x) and round(x, 1) != round(x, 2):
        return _with_unit(format(x, ".2f"), unit)
    return value(x, unit)


def ci(half: float, unit: str) -> str:
    """``± 0.3``, or empty when the half-width is unknown."""
    return "" if math.isnan(half) else "± " + _num(half, unit)


def delta(d: float, unit: str) -> str:
    return _with_unit(_num(d, unit, signed=True), _DELTA_UNIT.get(unit, unit))


def tolerance(t: float, unit: str) -> str:
    return _with_unit(_num(t, unit), _DELTA_UNIT.get(unit, unit))


def duration(seconds: float) -> str:
    """``12 min 31 s``; hours when long, whole seconds throughout."""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min {s} s"
    return f"{m} min {s} s" if m else f"{s} s"


def cell(text: object) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def one_line(text: object, limit: int = 200) -> str:
    """The first line of an error message, shortened for a table."""
    lines = str(text or "").strip().splitlines()
    first = lines[0] if lines else "(no error message)"
    return first if len(first) <= limit else first[: limit - 1] + "…"


def table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    """A markdown table; every cell through ``cell`` (pipes escaped, one line)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
