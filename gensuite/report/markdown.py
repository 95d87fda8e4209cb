"""A SuiteView → markdown text. Only formatting here: every number comes from the records."""

from __future__ import annotations

import functools
import json
import posixpath
from pathlib import PurePosixPath
from typing import Any

from gensuite.report import fmt
from gensuite.report.aggregate import Record
from gensuite.report.fmt import table
from gensuite.report.sweeps import sweep_section
from gensuite.report.verdict import DEFAULT_TOLERANCE, SHORTENED, bound_text, tolerance_for
from gensuite.report.view import Row, SuiteView

COLUMNS = ("Configuration", "Reported", "Reproduced (mean ± 95% CI)", "n", "Δ", "Verdict")


def _count(n: object, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@functools.cache
def _uses_episodes(algorithm: str) -> bool:
    """Whether a plug-in validates on episodes (few-shot data); records of older versions kept
    a default ``val_episodes`` for every plug-in. An unknown plug-in: assume it does."""
    from gensuite.data.containers import FewShotData
    from gensuite.plugins import algorithms

    try:
        return algorithms().get(algorithm).Config.data_type is FewShotData
    except Exception:
        return True


def _schedule(s: dict[str, Any], algorithm: str = "") -> str:
    every = s.get("eval_every") or 0
    evals = f"evaluation every {_count(every, 'step')}" if every else "evaluation at the end only"
    episodes = s.get("val_episodes") if _uses_episodes(algorithm) else 0
    stop = (f", early stopping on {s['monitor']} (patience {_count(s['patience'], 'evaluation')}"
            f", steps a cap)" if s.get("patience") else "")
    return (f"{_count(s.get('steps'), 'step')}, {evals}"
            + (f", {_count(episodes, 'validation episode')}" if episodes else "") + stop)


def _environment(p: dict[str, Any]) -> str:
    parts = [
        f"Python {p['python']}" if p.get("python") else "",
        f"torch {p['torch']}" if p.get("torch") else "",
        f"CUDA {p['cuda']}" if p.get("cuda") else "",
        str(p.get("device_name") or ""),
        _count(p["threads"], "thread") if p.get("threads") else "",
        str(p.get("platform") or ""),
    ]
    return ", ".join(x for x in parts if x) or "not recorded"


def _commits(recs: list[Record]) -> str:
    dirty: dict[str, bool] = {}
    for r in recs:
        prov = r.get("provenance") or {}
        c = str(prov.get("git_commit") or "unknown")[:7]
        dirty[c] = dirty.get(c, False) or bool(prov.get("git_dirty"))
    return ", ".join(f"`{c}`" + (" (dirty)" if d else "") for c, d in sorted(dirty.items()))


def _datasets(recs: list[Record]) -> list[str]:
    seen = set()
    for r in recs:
        d = r.get("dataset") or {}
        seen.add((
            str(d.get("name")), str(d.get("description") or ""),
            str(d.get("fingerprint") or "none")[:12], str(d.get("stands_in_for") or ""),
        ))
    out = []
    for name, desc, fp, stands in sorted(seen):
        text = f"Dataset `{name}`: {desc or 'no description'}; fingerprint `{fp}`"
        out.append(text + (f"; stands in for {stands}" if stands else ""))
    return out


def _wall(recs: list[Record]) -> str:
    return fmt.duration(sum(float((r.get("timing") or {}).get("wall_s") or 0.0) for r in recs))


def header(v: SuiteView) -> list[str]:
    snap = v.snapshot
    # the suite versions behind what this report shows; superseded reruns are history only
    behind = v.shown() + [f.record for f in v.failures if not f.superseded]
    shas = sorted({str(r["suite"].get("sha256", ""))[:12] for r in behind or v.records})
    file_line = f"- Suite file: `{snap.get('file', v.name)}` (sha256 " + ", ".join(
        f"`{s}`" for s in shas) + ")"
    if len(shas) > 1:
        file_line += f"; records come from {len(shas)} versions of it"
    lines = [file_line, f"- Profiles: {', '.join(v.profiles)}"]
    for p in v.profiles:
        recs = v.shown(p)
        scheds = sorted({_schedule(r.get("schedule") or {}, str(r.get("algorithm") or ""))
                         for r in recs})
        seeds = ", ".join(str(s) for s in sorted({int(r["seed"]) for r in recs})) or "none"
        notes = "".join(f"; {n}" for n in sorted({r.get("profile_note") or "" for r in recs}) if n)
        lines.append(
            f"- Schedule ({p}): {' / '.join(scheds) or 'no finished run'}; seeds {seeds}; "
            f"{len(recs)} runs, wall time {_wall(recs)}{notes}"
        )
    shown = v.shown()
    lines.append(f"- Git commit: {_commits(shown) or 'none'}")
    envs = sorted({_environment(r.get("provenance") or {}) for r in shown})
    lines += [f"- Environment: {e}" for e in envs]
    lines += [f"- {d}" for d in _datasets(shown)]
    lines.append(f"- Wall time of the runs shown: {_wall(shown)}")
    blocks = [f"# {snap.get('title', v.name)}"]
    if snap.get("description"):
        blocks.append(snap["description"])
    blocks.append("\n".join(lines))
    if snap.get("notes"):
        blocks += ["Notes:", "\n".join(f"- {n}" for n in snap["notes"])]
    return blocks


def _reported_cell(rep: dict[str, Any] | None, unit: str, ref: int | None, note: str) -> str:
    if not rep:
        return note
    parts = [fmt.reported(rep["value"], unit)] if rep.get("value") is not None else []
    bound = bound_text(rep)
    if bound:
        parts.append(f"(target {bound})" if parts else f"target {bound}")
    return " ".join(parts) + f" [{ref}]"


def _cells(row: Row, v: SuiteView, ref: int | None) -> list[str]:
    unit = row.unit
    reported = _reported_cell(row.reported, unit, ref, row.reference_note)
    val = row.value
    if val is None:
        reproduced, n = ("failed" if row.verdict.label == "run failed" else "not run"), "—"
    else:
        reproduced = f"{fmt.value(val.mean, unit)} {fmt.ci(val.ci95, unit)}".strip()
        n = _n_cell(val, unit)
    delta = "—" if row.verdict.delta is None else fmt.delta(row.verdict.delta, unit)
    # a row that shows another metric than the suite's says which
    label = _row_label(v, row.case_id, row.label)
    label = label if row.metric in ("", v.metric) else f"{label} (`{row.metric}`)"
    return [label, reported, reproduced, n, delta, row.verdict.text()]


def _row_label(v: SuiteView, case_id: str, label: str) -> str:
    """A row's label, with its column where its table has the original's columns (the same
    row label then heads several cases)."""
    column = v.cases.get(case_id, {}).get("column")
    return f"{label}, {column}" if column else label


def matrix_section(v: SuiteView, rows: list[Row], columns: list[str],
                   refs: dict[str, int]) -> str:
    """The table in the original's layout: its rows × its columns, each cell the reproduced
    value, the reported one with its reference, and the verdict."""
    order: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    for r in rows:
        if r.label not in order:
            order.append(r.label)
        val, rep, verdict = r.value, r.reported, r.verdict.text()
        ref = (f"{fmt.reported(rep['value'], r.unit)} [{refs[rep['source']]}]"
               if rep and rep.get("value") is not None else "")
        if val is None:  # the verdict says why ("not run (svhn not in the data root)")
            text = verdict + (f"; reported {ref}" if ref else "")
        else:
            text = f"{fmt.value(val.mean, r.unit)} {fmt.ci(val.ci95, r.unit)}".strip()
            text += (f" vs {ref}" if ref else "") + f": {verdict}"
        cells[(r.label, v.cases.get(r.case_id, {}).get("column", ""))] = text
    body = [[label, *(cells.get((label, c), "—") for c in columns)] for label in order]
    return table(("", *columns), body)


def _n_cell(val, unit: str) -> str:
    """Which interval the number carries: over seeds (with one model's evaluation spread
    beside it), or one trained model's evaluation spread (1 seed)."""
    if val.over == "seeds":
        each = fmt.ci(val.eval_ci95, unit)
        spread = f"; each model {each} over {val.eval_n} {val.eval_over}" if each else ""
        return f"n = {val.n} seeds{spread}"
    return f"n = {val.n} {val.over} (1 seed)".replace("  ", " ")


def _tolerance_line(v: SuiteView, rows: list[Row]) -> str | None:
    judged = [r for r in rows if r.reported is not None and not bound_text(r.reported)
              and r.verdict.label != "not comparable"]
    if not judged:
        return None
    suite_tol = v.snapshot.get("tolerance")
    base = fmt.tolerance(tolerance_for({}, suite_tol), judged[0].unit)
    where = "suite tolerance" if suite_tol is not None else (
        f"default tolerance {DEFAULT_TOLERANCE}: the records do not carry the suite's")
    text = (f"Pass when the reproduced 95% interval lies within reported ± {base} ({where}), "
            "fail when it lies wholly outside, inconclusive when it straddles an edge or is "
            "unknown")
    own = [
        f"{r.label} ≤ {fmt.tolerance(r.reported['tolerance'], r.unit)}"
        for r in judged if r.reported.get("tolerance") is not None
    ]
    return text + ("; own tolerance: " + "; ".join(own) if own else "") + "."


def table_section(v: SuiteView, profile: str, table_id: str, level: str) -> list[str]:
    meta = v.snapshot.get("tables", {}).get(table_id, {})
    blocks = [f"{level} {meta.get('title') or table_id}"]
    if meta.get("source"):
        blocks.append(f"Source: {meta['source']}")
    if meta.get("note"):
        blocks.append(meta["note"])
    rows = v.rows(profile, table_id)
    if not rows:
        return blocks + ["No case of this table has been run."]
    sources: list[str] = []
    for r in rows:
        if r.reported and r.reported["source"] not in sources:
            sources.append(r.reported["source"])
    body = [
        _cells(r, v, sources.index(r.reported["source"]) + 1 if r.reported else None)
        for r in rows
    ]
    if meta.get("columns"):
        refs = {src: i for i, src in enumerate(sources, 1)}
        blocks += ["In the original's layout (reproduced vs reported [reference]: verdict):",
                   matrix_section(v, rows, list(meta["columns"]), refs), "Each case:"]
    blocks.append(table(COLUMNS, body))
    tol = _tolerance_line(v, rows)
    if tol:
        blocks.append(tol)
    if sources:
        blocks.append("References:\n\n" + "\n".join(
            f"- [{i}] {s}" for i, s in enumerate(sources, 1)))
    return blocks


def claim_section(v: SuiteView, profile: str, check: dict[str, Any], level: str) -> list[str]:
    pairs, overall = v.claim(profile, check)
    body = []
    for pr in pairs:
        rows = (pr.left_row, pr.right_row)
        vals = [f"{fmt.value(r.value.mean, r.unit)} {fmt.ci(r.value.ci95, r.unit)}".strip()
                if r and r.value else "not run" for r in rows]
        c = pr.comparison
        unit = pr.left_row.unit if pr.left_row else ""
        if c is None:
            diff, test, p = "—", "—", "—"
        else:
            diff = fmt.delta(c.diff, unit)
            if c.ci95 is not None:
                diff += f" [{fmt.delta(c.ci95[0], unit)}, {fmt.delta(c.ci95[1], unit)}]"
            test = (f"{c.test} ({c.n_left} vs {c.n_right})" if c.test
                    else f"none: {c.reason} (≥ 2 per side needed)")
            p = ("—" if pr.p_adjusted is None
                 else "< 1e-300" if pr.p_adjusted == 0.0  # below double precision
                 else f"{pr.p_adjusted:.3g}")
        body.append([_row_label(v, pr.left, pr.left_row.label) if pr.left_row else pr.left,
                     _row_label(v, pr.right, pr.right_row.label) if pr.right_row else pr.right,
                     *vals, diff, test, p, pr.verdict or "not run"])
    suffix = SHORTENED if profile != "paper" and overall != "incomplete" else ""
    direction = "below" if check.get("kind") == "less" else "above"
    return [
        f"{level} Claim: {check['claim']}",
        f"Source: {check['source']}",
        table(("Left", "Right", "Left value", "Right value", "Left − right (95% CI)", "Test (n)",
               "p (Holm)", "Pair"), body),
        f"Verdict: **{overall}**{suffix}. A pair holds when left − right is significant in the "
        f"claimed direction (left {direction} right; two-sided test, p < 0.05 after Holm's "
        "correction across the claim's pairs), does not hold when it is significant the other "
        "way, and is inconclusive otherwise: one training seed per side decides nothing, "
        "unless both sides were scored on the same evaluation units (a paired test).",
    ]


def failures_section(v: SuiteView) -> list[str]:
    if not v.failures:
        return []
    body = []
    for f in v.failures:
        r = f.record
        status = str(r.get("status"))
        if r.get("status") == "finished":  # finished, but without the suite's metric
            status, error = "finished", f"no '{v.record_metric(r)}' in metrics"
        else:
            error = fmt.one_line(r.get("error"))
        if f.superseded:
            status += " (a later run finished)"
        label = r["case"].get("row", r["case"]["id"])
        body.append([r["profile"], label, str(r["seed"]), status, error, f"`{r['_path']}`"])
    cols = ("Profile", "Configuration", "Seed", "Status", "Error", "Record")
    return ["## Failed runs", table(cols, body)]


def figure_section(v: SuiteView, files: list[tuple[str | None, str]], level: str) -> list[str]:
    """The learning-curve figure(s) of a profile: one for the suite, or one per table."""
    blocks = [f"{level} Learning curves"]
    for table_id, file in files:
        if table_id is not None:
            title = v.snapshot.get("tables", {}).get(table_id, {}).get("title") or table_id
            blocks.append(f"{level}# {title}")
        blocks.append(f"![learning curves]({file})")
    return blocks + ["Lowest seed of each case; train loss smoothed by a rolling mean."]


def samples_section(v: SuiteView, profile: str, level: str,
                    samples: dict[tuple[str, str], tuple[Record, dict]]) -> list[str]:
    """Text samples of the cases the suite names (``show_samples``), as text, per label."""
    blocks = []
    for cid in v.snapshot.get("show_samples", []):
        if (profile, cid) not in samples:
            continue
        rec, texts = samples[(profile, cid)]
        label = rec["case"].get("row", cid)
        blocks.append(f"{level} Samples: {label}, seed {rec['seed']}")
        for key, text in texts.items():
            fence = "````" if "```" in text else "```"
            blocks.append(f"Temperature {key}:\n\n{fence}text\n{text.rstrip()}\n{fence}")
    return blocks


def artifact_section(v: SuiteView, profile: str, level: str, results_rel: str) -> list[str]:
    """The figures each case's run drew (sample grids, loss curves...), lowest seed per case,
    linked where they lie in results/ (``results_rel``: results/ relative to reports/)."""
    # rows that share one trained model and its evaluation settings (same train key, config
    # and seed) share its figures: show them once, naming every row they belong to
    shown: dict[tuple[str, str, int], list[str]] = {}
    first: dict[tuple[str, str, int], Record] = {}
    for cid in v.case_order:
        recs = v.groups.get((profile, cid), [])
        if not recs or not any(a.endswith(".png") for a in recs[0].get("artifacts") or []):
            continue
        rec = recs[0]
        key = (str(rec.get("train_key") or rec["_path"]),
               json.dumps(rec.get("config"), sort_keys=True), int(rec["seed"]))
        label, metric = _row_label(v, cid, rec["case"].get("row", cid)), v.metric_of(cid)
        # the same label can head rows of different tables: the metric tells them apart
        shown.setdefault(key, []).append(label if metric == v.metric else f"{label} (`{metric}`)")
        first.setdefault(key, rec)
    blocks: list[str] = []
    for key, labels in shown.items():
        rec = first[key]
        folder = PurePosixPath(results_rel) / PurePosixPath(rec["_path"]).parent
        pngs = [a for a in rec["artifacts"] if a.endswith(".png")]
        images = "\n".join(f"![{PurePosixPath(a).stem}]({posixpath.normpath(folder / a)})"
                           for a in pngs)
        title = labels[0] if len(labels) == 1 else f"{labels[0]} (one model for: " + "; ".join(
            labels[1:]) + ")"
        blocks += [f"{level}# {title}, seed {rec['seed']}", images]
    return ([f"{level} Figures from the runs"] + blocks) if blocks else []


def _detail_value(data: Any, key_path: str) -> str:
    """A value at a dotted key path of a JSON artifact, compact: [op, input] pairs (a string
    and an integer) as "op ← input", other lists joined, floats to 4 significant digits; "—"
    where absent."""
    for key in key_path.split("."):
        if not isinstance(data, dict) or key not in data:
            return "—"
        data = data[key]

    def text(x: Any) -> str:
        if isinstance(x, float):
            return f"{x:.4g}"
        if isinstance(x, list):
            # an (operation, input node) pair; a pair of names stays a plain list
            if len(x) == 2 and isinstance(x[0], str) and type(x[1]) is int:
                return f"{x[0]} ← {text(x[1])}"
            return ", ".join(text(e) for e in x)
        return str(x)

    return text(data).replace("|", "\\|")


def details_section(v: SuiteView, profile: str, level: str,
                    details: dict[tuple[str, str], list[tuple]]) -> list[str]:
    """The suite's per-seed tables (``details_tables``): a row per case and seed, read from
    each run's JSON artifact."""
    blocks = []
    for spec in v.snapshot.get("details_tables", []):
        rows = details.get((profile, spec["id"]))
        if not rows:
            continue
        heads = [h for h, _ in spec["columns"]]
        lines = ["| Configuration | Seed | " + " | ".join(heads) + " |",
                 "|---|---|" + "---|" * len(heads)]
        for cid, rec, data in rows:
            label = _row_label(v, cid, rec["case"].get("row", cid))
            cells = ([_detail_value(data, path) for _, path in spec["columns"]] if data
                     is not None else [f"not recorded (the run has no {spec['artifact']})"]
                     + [""] * (len(heads) - 1))
            lines.append(f"| {label} | {rec['seed']} | " + " | ".join(cells) + " |")
        blocks += [f"{level} {spec['title']}"] + ([spec["note"]] if spec.get("note") else [])
        blocks.append("\n".join(lines))
    return blocks


def compare_section(v: SuiteView, profile: str, level: str,
                    compares: dict[tuple, str]) -> list[str]:
    blocks = []
    for f in v.snapshot.get("compare_figures", []):
        body = compares.get((profile, f["id"]))
        if body is not None:
            blocks += [f"{level} {f['title']}", f"Source: {f['source']}", body]
    return blocks


def render_markdown(v: SuiteView, figures: dict[str, list[tuple[str | None, str]]],
                    results_rel: str = "../results",
                    compares: dict[tuple, str] | None = None,
                    sweeps: dict[str, list[dict[str, Any]]] | None = None,
                    samples: dict[tuple[str, str], tuple[Record, dict]] | None = None,
                    details: dict[tuple[str, str], list[tuple]] | None = None) -> str:
    """The whole report; ``figures``: each profile's learning-curve PNGs (table id or None,
    path relative to the report);
    ``compares`` holds the markdown of each (profile, compared figure); ``sweeps`` the newest
    summary of each Optuna study per profile; ``details`` the rows of each per-seed table."""
    blocks = header(v)
    multi = len(v.profiles) > 1
    level = "###" if multi else "##"
    for p in v.profiles:
        if multi:
            blocks.append(f"## Profile: {p}")
        for t in v.table_order():
            blocks += table_section(v, p, t, level)
        for check in v.snapshot.get("checks", []):
            blocks += claim_section(v, p, check, level)
        if figures.get(p):
            blocks += figure_section(v, figures[p], level)
        blocks += samples_section(v, p, level, samples or {})
        blocks += details_section(v, p, level, details or {})
        blocks += compare_section(v, p, level, compares or {})
        blocks += artifact_section(v, p, level, results_rel)
        blocks += sweep_section((sweeps or {}).get(p, []), level)
    missing = v.never_run()
    if missing:
        blocks += ["## Not run", "No record in any profile, so their table is unknown: "
                   + ", ".join(f"`{c}`" for c in missing) + "."]
    blocks += failures_section(v)
    return "\n\n".join(blocks) + "\n"
