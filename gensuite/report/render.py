"""results/ → reports/<suite>.md + reports/<suite>/<profile>-curves.png; results/ is only read."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

from gensuite.errors import GensuiteError
from gensuite.records import iter_records
from gensuite.report.aggregate import Record
from gensuite.report.markdown import render_markdown
from gensuite.report.sweeps import load_sweeps
from gensuite.report.view import SuiteView

DEFAULT_PROFILES = ("paper", "quick")  # smoke runs only check plumbing: not reported by default


def load_suites(
    results_dir: Path, suites: list[str] | None, profiles: tuple[str, ...]
) -> dict[str, list[Record]]:
    """Records of the wanted profiles grouped by suite name; unknown requested suites raise."""
    found: dict[str, list[Record]] = defaultdict(list)
    for base in suites or [None]:
        for rec in iter_records(results_dir, base):
            if rec.get("profile") in profiles:
                found[rec["suite"]["name"]].append(rec)
    missing = [s for s in suites or [] if s not in found]
    if missing:  # a full scan, only on this error path, to name the suites that do have records
        have = sorted({r["suite"]["name"] for r in iter_records(results_dir)
                       if r.get("profile") in profiles})
        have = ", ".join(have) or "none"
        raise GensuiteError(
            f"no {'/'.join(profiles)} records for suite(s) {', '.join(missing)} under "
            f"{results_dir} (suites with records: {have})"
        )
    return {name: found[name] for name in sorted(found)}


def _figures(view: SuiteView, out_dir: Path) -> dict[str, list[tuple[str | None, Path]]]:
    """profile → the learning-curve figures drawn: (table id, or None for the whole suite, path).
    One per profile, or one per table where the suite asks for ``curves = "per-table"``."""
    from gensuite.report.figures import learning_curves  # matplotlib/seaborn: only when drawing

    per_table = view.snapshot.get("curves") == "per-table"
    written: dict[str, list[tuple[str | None, Path]]] = {}
    for p in view.profiles:
        runs, seen = [], set()
        for rec in view.shown(p):  # sorted by case then seed: the first is the lowest seed
            cid = rec["case"]["id"]
            if cid not in seen:
                seen.add(cid)
                runs.append((view.case_order.index(cid), cid, rec["case"].get("row", cid),
                             rec.get("curves") or {}))
        runs.sort(key=lambda x: x[0])
        title = f"{view.snapshot.get('title', view.name)} — profile {p}"
        groups: list[tuple[str | None, set[str] | None]] = [(None, None)]
        if per_table:
            groups = [(t, {c for c in view.case_order
                           if view.cases.get(c, {}).get("table") == t})
                      for t in view.table_order()]
        for table_id, cases in groups:
            chosen = [(label, c) for _, cid, label, c in runs if cases is None or cid in cases]
            path = out_dir / (f"{p}-curves.png" if table_id is None
                              else f"{p}-curves-{table_id}.png")
            meta = view.snapshot.get("tables", {}).get(table_id or "", {})
            name = title if table_id is None else f"{meta.get('title') or table_id} — {p}"
            if learning_curves(chosen, path, name, f"val_{view.snapshot.get('metric')}"):
                written.setdefault(p, []).append((table_id, path))
    # drop figures that are no longer drawn, so reports/ mirrors results/
    kept = {path for figs in written.values() for _, path in figs}
    for old in sorted(out_dir.glob("*-curves*.png")):
        if old not in kept:
            old.unlink()
    return written


def _artifact(rec: Record, results_dir: Path, name: str) -> Path | None:
    for a in rec.get("artifacts") or []:
        if Path(a).name == name:
            return results_dir / Path(rec["_path"]).parent / a
    return None


def _json_artifact(rec: Record, results_dir: Path, name: str) -> dict | None:
    """A run's JSON artifact, read; None when the record lists none or the file is absent."""
    path = _artifact(rec, results_dir, name)
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _other_run(results_dir: Path, suite: str, case: str, artifact: str,
               profile: str) -> Record | None:
    """The other suite's newest finished run of ``case`` with the figure: the same profile if
    there is one, else the longest schedule there is (paper, quick, smoke)."""
    from gensuite.report.aggregate import newest_key
    from gensuite.report.view import profile_rank

    if not (results_dir / suite).is_dir():
        return None
    runs = [r for r in iter_records(results_dir, suite)
            if r["case"]["id"] == case and r.get("status") == "finished"
            and _artifact(r, results_dir, artifact) is not None]
    if not runs:
        return None
    return max(runs, key=lambda r: (r["profile"] == profile, -profile_rank(r["profile"])[0],
                                    newest_key(r)))


def _samples(view: SuiteView, results_dir: Path) -> dict[tuple[str, str], tuple[Record, dict]]:
    """(profile, case) → (record, its samples.json) for the suite's ``show_samples`` cases:
    the lowest seed's run, as the other figures."""
    out = {}
    for p in view.profiles:
        for cid in view.snapshot.get("show_samples", []):
            recs = view.groups.get((p, cid), [])
            texts = _json_artifact(recs[0], results_dir, "samples.json") if recs else None
            if texts is not None:
                out[(p, cid)] = (recs[0], texts)
    return out


def _details(view: SuiteView, results_dir: Path) -> dict[tuple[str, str], list[tuple]]:
    """(profile, details table id) → (case id, record, its JSON artifact or None) for every
    seed's record of every case: a search's derived cell differs seed by seed."""
    out: dict[tuple[str, str], list[tuple]] = {}
    for p in view.profiles:
        for table in view.snapshot.get("details_tables", []):
            rows = []
            for cid in table.get("cases") or view.case_order:
                rows += [(cid, rec, _json_artifact(rec, results_dir, table["artifact"]))
                         for rec in view.groups.get((p, cid), [])]
            if rows:
                out[(p, table["id"])] = rows
    return out


def _compare_figures(view: SuiteView, results_dir: Path, out_dir: Path) -> dict[tuple, str]:
    """(profile, figure id) → markdown for each compared figure: the image, or why not."""
    from gensuite.report.figures import side_by_side

    out: dict[tuple, str] = {}
    for p in view.profiles:
        for f in view.snapshot.get("compare_figures", []):
            path = out_dir / f"{p}-{f['id']}.png"
            own = view.groups.get((p, f["case"]), [])
            own_png = _artifact(own[0], results_dir, f["artifact"]) if own else None
            other = _other_run(results_dir, f["other_suite"], f["other_case"],
                               f["other_artifact"], p)
            if own_png is None or other is None:
                missing = [] if own_png else [f"`{f['case']}` ({p})"]
                missing += [] if other else [f"`{f['other_suite']}` case `{f['other_case']}`"]
                out[(p, f["id"])] = ("Not drawn: no finished run with the figure for "
                                     + " and ".join(missing) + " in results/.")
                path.unlink(missing_ok=True)
                continue
            own_rec = own[0]
            # case ids, not row labels: a label is often too long for half a figure
            titles = [
                f"{view.name} / {f['case']} ({p}, seed {own_rec['seed']})",
                f"{f['other_suite']} / {f['other_case']} ({other['profile']}, seed "
                f"{other['seed']})",
            ]
            side_by_side([own_png, _artifact(other, results_dir, f["other_artifact"])],
                         titles, path, f["title"])
            out[(p, f["id"])] = f"![{f['id']}]({view.name}/{path.name})\n\n" + (
                f"Right: `{other['_path']}`" + (
                    f" — another profile ({other['profile']}) than the left"
                    if other["profile"] != p else ""))
    return out


def render_reports(
    results_dir: Path,
    reports_dir: Path,
    suites: list[str] | None = None,
    profiles: tuple[str, ...] = DEFAULT_PROFILES,
) -> list[Path]:
    """Render one markdown report (and its figures) per suite with records; return the files.

    A pure function of ``results_dir``: the same records give the same bytes, and nothing is
    written there. Pass ``profiles`` including "smoke" to report smoke runs too.
    """
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    profiles = tuple(profiles)
    written: list[Path] = []
    for name, records in load_suites(results_dir, suites, profiles).items():
        view = SuiteView(records, profiles)
        figures = _figures(view, reports_dir / name)
        compares = _compare_figures(view, results_dir, reports_dir / name)
        md = reports_dir / f"{name}.md"
        md.parent.mkdir(parents=True, exist_ok=True)
        rel = Path(os.path.relpath(results_dir.resolve(), md.parent.resolve())).as_posix()
        sweeps = load_sweeps(results_dir, name, view.profiles)
        curve_files = {p: [(t, f"{name}/{path.name}") for t, path in figs]
                       for p, figs in figures.items()}
        samples = _samples(view, results_dir)
        details = _details(view, results_dir)
        md.write_text(render_markdown(view, curve_files, rel, compares, sweeps, samples,
                                      details), encoding="utf-8")
        drawn = [path for figs in figures.values() for _, path in figs]
        written += [md, *drawn]
        written += [f for f in sorted((reports_dir / name).glob("*.png")) if f not in drawn]
    return written
