"""Optuna sweep summaries (``results/<suite>/<profile>/_sweeps/*.json``) → a report section.

A study's summary is ``<study>.json``, rewritten from the study's database by every worker that
leaves it; older versions wrote ``<study>_<UTC stamp>.json`` per sweep, of which the newest is
the study as it stood. The study-wide file wins over stamped ones. Its values are the
*validation* metric the sweep optimised, never a test
number: the section says so, and they never enter the reported-vs-reproduced tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gensuite.report import fmt
from gensuite.report.fmt import table

SCHEMA = "gensuite.sweep/1"
TOP = 10  # trials listed per study, best first


def load_sweeps(results_dir: Path, suite: str, profiles: tuple[str, ...]
                ) -> dict[str, list[dict[str, Any]]]:
    """profile → the newest summary of each study of ``suite`` (sorted by study name)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for profile in profiles:
        newest: dict[str, tuple[str, dict[str, Any]]] = {}
        for path in sorted((Path(results_dir) / suite / profile / "_sweeps").glob("*.json")):
            try:
                summary = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a torn file of a killed writer: the study's other summaries remain
            if summary.get("schema") != SCHEMA:
                continue
            # "<study>.json" (study-wide) ranks above "<study>_<UTC stamp>.json"; later
            # stamps sort later
            study = str(summary.get("study"))
            rank = "~" if path.name == f"{study}.json" else path.name
            if study not in newest or rank > newest[study][0]:
                newest[study] = (rank, summary)
        if newest:
            out[profile] = [newest[s][1] for s in sorted(newest)]
    return out


def _best_first(summary: dict[str, Any]) -> list[dict[str, Any]]:
    done = [t for t in summary.get("trials", []) if t.get("state") == "COMPLETE"
            and t.get("value") is not None]
    return sorted(done, key=lambda t: (t["value"], t["number"]),
                  reverse=summary.get("direction") == "maximize")


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in sorted(params.items()))


def sweep_section(summaries: list[dict[str, Any]], level: str) -> list[str]:
    """Markdown blocks: per study, its counts, provenance and the best trials."""
    blocks: list[str] = []
    for s in summaries:
        states = s.get("states", {})
        counts = ", ".join(f"{n} {k.lower()}" for k, n in states.items() if n)
        prov = s.get("provenance") or {}
        commits = sorted({str((t.get("user_attrs") or {}).get("git_commit") or "")[:7]
                          for t in s.get("trials", [])} - {""})
        ds = s.get("dataset") or {}
        lines = [
            f"- Objective: {s.get('direction', '?')} `{s.get('metric')}` on the validation set "
            f"(case `{s.get('case', '?')}`, seed {s.get('seed', '?')}); trials: {counts or 'none'}",
            f"- Storage: `{s.get('storage')}`; trials ran at commit(s) "
            + (", ".join(f"`{c}`" for c in commits) or "not recorded"),
        ]
        if prov:
            # study-wide summaries keep the creating worker's environment; old ones the writer's
            label = "Study created" if "sampler_seed" in s else "Summary written"
            lines.append(f"- {label} at commit `{str(prov.get('git_commit'))[:7]}`, "
                         f"torch {prov.get('torch')}, {prov.get('device')}, "
                         f"{prov.get('threads')} thread(s)")
        if ds:
            lines.append(f"- Dataset `{ds.get('name')}`, fingerprint "
                         f"`{str(ds.get('fingerprint'))[:12]}`")
        blocks += [f"{level} Sweep: study `{s.get('study')}`",
                   "Values are the validation metric the sweep optimised, not test numbers.",
                   "\n".join(lines)]
        best = _best_first(s)
        if best:
            rows = [[f"#{t['number']}", fmt.value(t["value"], ""), _params(t.get("params", {}))]
                    for t in best[:TOP]]
            blocks.append(table(("Trial", s.get("metric") or "value", "Parameters"), rows))
        else:
            blocks.append("No trial has completed.")
    return blocks
