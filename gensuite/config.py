"""Suite files (TOML in ``benchmarks/``) → frozen dataclasses, with one-line errors.

A suite names an algorithm plug-in and a dataset, the cases to run (one report-table row each),
the reported numbers with their citation, per-profile schedules, claims to check and an optional
Optuna search space. Every error names the file and the key, e.g.
``benchmarks/x.toml: cases[2].params.wya: unknown parameter of algorithm 'protonet'``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensuite.api import PROFILES, Schedule
from gensuite.errors import GensuiteError, SuiteFileError

__all__ = ["PROFILES", "SuiteSpec", "list_suites", "load_suite", "validate_suite"]
SUITES_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


@dataclass(frozen=True, kw_only=True)
class Reported:
    """A number from a paper or report, with where it comes from."""

    value: float | None  # None only when a bound stands for the reported result
    source: str  # "Snell, Swersky & Zemel (2017), Table 1" or "course report A, Q2"
    tolerance: float | None = None  # absolute, in the metric's unit; None: the suite's
    # The source's own ± for this number (its reported 95% interval or spread): the row's margin
    # when given, instead of the tolerance.
    plus_minus: float | None = None
    # A target the report sets ("validation ELBO ≥ −102"): with a bound, the verdict is whether
    # the reproduced mean meets it, not whether it lies within the tolerance of ``value``.
    at_least: float | None = None
    at_most: float | None = None
    # False when the reported number was measured on data we cannot match (unknown or absent
    # dataset): the verdict is then "not comparable", never "pass".
    comparable: bool = True
    # True for a number the data cannot change (a parameter count): compared even where our
    # dataset stands in for the source's.
    data_independent: bool = False
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One report-table row: parameters on top of the suite defaults, and its reported number."""

    id: str
    table: str
    row: str
    params: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # overrides the suite's dataset
    dataset_options: dict[str, Any] = field(default_factory=dict)
    reported: Reported | None = None
    reference_note: str = "no published reference"  # shown when reported is None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile → param overrides
    # Which key of the plug-in's test() this row shows; None: the suite's metric. Cases that
    # differ only in metric (or eval-only parameters) share one trained model.
    metric: str | None = None
    # profile → a shorter/longer schedule for this case only (e.g. a slow VGG-16 discriminator
    # row at the quick profile); keys not given come from the profile's schedule
    schedules: dict[str, Schedule] = field(default_factory=dict)
    # The original table's column this row sits in (its table's ``columns``); "" when it has none.
    column: str = ""
    # The case's dataset may be absent here (SVHN offline): running the whole suite then records
    # it "not run (<dataset> not in the data root)" and goes on; asked for by name (--case), the
    # missing dataset is the usual one-line data-root error.
    data_optional: bool = False


@dataclass(frozen=True, kw_only=True)
class CompareFigure:
    """One of this suite's run figures next to another suite's (course report C-2/C-3: the VAE's
    latent traversal beside the GAN's); drawn by the report when both runs are in results/."""

    id: str
    title: str
    source: str
    case: str
    artifact: str  # file name among the case's run artifacts, e.g. "traversal.png"
    other_suite: str
    other_case: str
    other_artifact: str


@dataclass(frozen=True, kw_only=True)
class DetailsTable:
    """A per-seed table the report builds from one JSON artifact of every run (the cell each
    DARTS search derived, seed by seed): a row per case and seed, a column per ``columns``
    entry (heading → dotted key path into the JSON)."""

    id: str
    title: str
    artifact: str  # file name among the runs' artifacts, e.g. "search.json"
    columns: tuple[tuple[str, str], ...]
    note: str = ""
    cases: tuple[str, ...] = ()  # the rows' cases; empty: every case


@dataclass(frozen=True, kw_only=True)
class Table:
    id: str
    title: str
    source: str = ""
    note: str = ""
    # The original table's column headings (course report D-3: the adaptation directions): each
    # of its cases names one (``column``), and the report also draws the table in the original
    # layout, rows × these columns, above the per-case table.
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Check:
    """A claim from a report, checked on reproduced numbers: each pair's left beats its right."""

    id: str
    claim: str
    source: str
    pairs: tuple[tuple[str, str], ...]
    kind: str = "greater"  # greater: left's metric > right's; less: left's < right's (FID)
    # A metric every pair's (shared) records hold as the per-unit difference left − right of one
    # trained model (the VAE's bound_gap = log-likelihood − ELBO per test image): its mean and
    # interval over the units give the paired test without storing every unit's value.
    paired_by: str = ""


@dataclass(frozen=True, kw_only=True)
class SearchParam:
    name: str
    type: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    case: str  # the case whose configuration is tuned
    metric: str  # a validation metric returned by the plug-in's validate()
    direction: str = "maximize"
    params: tuple[SearchParam, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Profile:
    schedule: Schedule
    params: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    note: str = ""
    # builder options of the suite's dataset at this profile (e.g. the paper profile training
    # on the training classes alone, so that validation classes can stop it early)
    dataset_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SuiteSpec:
    name: str
    title: str
    algorithm: str
    dataset: str
    metric: str
    path: Path
    sha256: str
    description: str = ""
    notes: tuple[str, ...] = ()
    dataset_options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    tolerance: float = 1.0
    profiles: dict[str, Profile] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    cases: tuple[Case, ...] = ()
    checks: tuple[Check, ...] = ()
    search: SearchSpace | None = None
    compare_figures: tuple[CompareFigure, ...] = ()
    # the report's learning curves: one figure for the suite, or one per table ("per-table":
    # report C-1 plots each swept factor on its own)
    curves: str = "suite"
    # cases whose samples.json ({label: text}) the report prints (text samples of a model)
    show_samples: tuple[str, ...] = ()
    details_tables: tuple[DetailsTable, ...] = ()

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        known = ", ".join(c.id for c in self.cases)
        raise GensuiteError(f"suite {self.name!r} has no case {case_id!r}; cases: {known}")

    def resolve_params(self, case: Case, profile: str) -> dict[str, Any]:
        """Defaults → profile → case → the case's per-profile overrides (later wins)."""
        return {
            **self.defaults,
            **self.profiles[profile].params,
            **case.params,
            **case.profiles.get(profile, {}),
        }

    def metric_for(self, case: Case) -> str:
        return case.metric or self.metric

    def schedule_for(self, case: Case, profile: str) -> Schedule:
        return case.schedules.get(profile, self.profiles[profile].schedule)

    def dataset_for(self, case: Case, profile: str | None = None) -> tuple[str, dict[str, Any]]:
        """The dataset and its builder options: suite → profile → case (later wins); a case
        naming another dataset takes its own options only."""
        if case.dataset is None:
            at_profile = self.profiles[profile].dataset_options if profile else {}
            return self.dataset, {**self.dataset_options, **at_profile, **case.dataset_options}
        return case.dataset, dict(case.dataset_options)

    def snapshot(self) -> dict[str, Any]:
        """What a result record keeps of the suite, so reports need nothing but results/."""
        return {
            "name": self.name,
            "title": self.title,
            "file": self.path.name,
            "sha256": self.sha256,
            "metric": self.metric,
            "description": self.description,
            "notes": list(self.notes),
            "tables": {k: _table_snapshot(t) for k, t in self.tables.items()},
            "checks": [
                {**dataclasses.asdict(c), "pairs": [list(p) for p in c.pairs]} for c in self.checks
            ],
            "compare_figures": [dataclasses.asdict(f) for f in self.compare_figures],
            "curves": self.curves,
            "show_samples": list(self.show_samples),
            "details_tables": [
                {**dataclasses.asdict(d), "columns": [list(c) for c in d.columns],
                 "cases": list(d.cases)}
                for d in self.details_tables
            ],
            "case_order": [c.id for c in self.cases],
            "table_order": list(self.tables),
            # every case's row label and reference, so a report can place cases not yet run
            "cases": {c.id: self.case_summary(c) for c in self.cases},
        }

    def case_summary(self, case: Case) -> dict[str, Any]:
        """A case as records and reports show it: row label, reported number, metric."""
        summary = {
            "id": case.id, "table": case.table, "row": case.row,
            "reported": dataclasses.asdict(case.reported) if case.reported else None,
            "reference_note": case.reference_note,
            "metric": self.metric_for(case),
        }
        if case.column:  # only where a table has columns: other suites' records are unchanged
            summary["column"] = case.column
        return summary


def _table_snapshot(t: Table) -> dict[str, Any]:
    d = dataclasses.asdict(t)
    if not t.columns:  # records of tables without columns stay as they were
        del d["columns"]
    else:
        d["columns"] = list(t.columns)
    return d


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Walks a TOML table, tracking the key path for error messages and rejecting unknown keys."""

    def __init__(self, file: Path, data: dict[str, Any], path: str = "") -> None:
        self.file, self.data, self.path = file, data, path
        self._seen: set[str] = set()

    def error(self, key: str, msg: str) -> SuiteFileError:
        where = f"{self.path}.{key}" if self.path else key
        return SuiteFileError(f"{self.file}: {where}: {msg}")

    def get(self, key: str, types: type | tuple[type, ...], default: Any = ..., *, required=False):
        self._seen.add(key)
        if key not in self.data:
            if required or default is ...:
                raise self.error(key, "missing required key")
            return default
        value = self.data[key]
        # TOML ints are valid floats; bools are not numbers here
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise self.error(key, f"expected {_type_names(types)}, got bool")
        if float in _as_tuple(types) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, types):
            raise self.error(key, f"expected {_type_names(types)}, got {type(value).__name__}")
        return value

    def sub(self, key: str, default: dict | None = None) -> _Reader:
        table = self.get(key, dict, {} if default is None else default)
        where = f"{self.path}.{key}" if self.path else key
        return _Reader(self.file, table, where)

    def item(self, key: str, index: int, value: Any) -> _Reader:
        where = f"{self.path}.{key}[{index}]" if self.path else f"{key}[{index}]"
        if not isinstance(value, dict):
            raise SuiteFileError(f"{self.file}: {where}: expected a table")
        return _Reader(self.file, value, where)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            allowed = ", ".join(sorted(self._seen))
            raise self.error(unknown[0], f"unknown key (allowed here: {allowed})")


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))


def _reported(r: _Reader) -> Reported:
    rep = Reported(
        value=r.get("value", float, None),
        source=r.get("source", str, required=True),
        tolerance=r.get("tolerance", float, None),
        plus_minus=r.get("plus_minus", float, None),
        comparable=r.get("comparable", bool, True),
        data_independent=r.get("data_independent", bool, False),
        note=r.get("note", str, ""),
        at_least=r.get("at_least", float, None),
        at_most=r.get("at_most", float, None),
    )
    r.done()
    if not rep.source.strip():
        raise r.error("source", "a reported number needs its citation")
    if rep.value is None and rep.at_least is None and rep.at_most is None:
        raise r.error("value", "missing required key (or give a bound: at_least / at_most)")
    return rep


_CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _schedule(r: _Reader) -> Schedule:
    s = Schedule(
        steps=r.get("steps", int, required=True),
        eval_every=r.get("eval_every", int, 0),
        checkpoint_every=r.get("checkpoint_every", int, 0),
        val_episodes=r.get("val_episodes", int, 0),
        patience=r.get("patience", int, 0),
        monitor=r.get("monitor", str, ""),
        monitor_mode=r.get("monitor_mode", str, "min"),
    )
    r.done()
    if s.steps < 1:
        raise r.error("steps", "must be at least 1")
    if s.monitor_mode not in ("min", "max"):
        raise r.error("monitor_mode", "must be 'min' or 'max'")
    if s.patience < 0 or (s.patience and not (s.monitor and s.eval_every)):
        raise r.error("patience", "needs monitor (a validation metric) and eval_every")
    return s


def _search(r: _Reader, case_ids: set[str]) -> SearchSpace:
    case = r.get("case", str, required=True)
    if case not in case_ids:
        raise r.error("case", f"no case {case!r} in this suite")
    direction = r.get("direction", str, "maximize")
    if direction not in ("maximize", "minimize"):
        raise r.error("direction", "must be 'maximize' or 'minimize'")
    metric = r.get("metric", str, required=True)
    params_r = r.sub("params")
    params = []
    for name in params_r.data:
        p = params_r.sub(name)
        kind = p.get("type", str, required=True)
        if kind in ("float", "int"):
            low = p.get("low", (int, float), required=True)
            high = p.get("high", (int, float), required=True)
            if not low < high:
                raise p.error("low", f"low ({low}) must be below high ({high})")
            sp = SearchParam(
                name=name, type=kind, low=low, high=high,
                log=p.get("log", bool, False), step=p.get("step", (int, float), None),
            )
        elif kind == "categorical":
            choices = p.get("choices", list, required=True)
            if not choices:
                raise p.error("choices", "needs at least one choice")
            sp = SearchParam(name=name, type=kind, choices=tuple(choices))
        else:
            raise p.error("type", f"unknown search type {kind!r} (float, int, categorical)")
        p.done()
        params.append(sp)
    params_r.done()
    r.done()
    if not params:
        raise r.error("params", "a search space needs at least one parameter")
    return SearchSpace(case=case, metric=metric, direction=direction, params=tuple(params))


def _toml(path: Path, raw: bytes) -> dict[str, Any]:
    """The suite file's bytes as a TOML document."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteFileError(f"{path}: not valid TOML: {exc}") from None


def _suite_header(top: _Reader, path: Path, raw: bytes) -> dict[str, Any]:
    """The [suite] table, then the suite-wide dataset_options and defaults."""
    s = top.sub("suite")
    header: dict[str, Any] = dict(
        name=s.get("name", str, required=True),
        title=s.get("title", str, required=True),
        algorithm=s.get("algorithm", str, required=True),
        dataset=s.get("dataset", str, required=True),
        metric=s.get("metric", str, required=True),
        description=s.get("description", str, ""),
        notes=tuple(s.get("notes", list, [])),
        tolerance=s.get("tolerance", float, 1.0),
        curves=s.get("curves", str, "suite"),
        show_samples=tuple(s.get("show_samples", list, [])),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    s.done()
    header["dataset_options"] = dict(top.get("dataset_options", dict, {}))
    header["defaults"] = dict(top.get("defaults", dict, {}))
    return header


def _known_profile(r: _Reader, pname: str) -> None:
    """A key of ``r`` that must name one of PROFILES."""
    if pname not in PROFILES:
        raise r.error(pname, f"unknown profile (one of {', '.join(PROFILES)})")


def _profiles(top: _Reader) -> dict[str, Profile]:
    """The [profiles.*] tables; every profile must be there."""
    profiles_r = top.sub("profiles")
    profiles = {}
    for pname in profiles_r.data:
        _known_profile(profiles_r, pname)
        p = profiles_r.sub(pname)
        seeds = p.get("seeds", list, [0])
        if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
            raise p.error("seeds", "expected a non-empty list of integers")
        profiles[pname] = Profile(
            schedule=_schedule(p.sub("schedule")),
            params=dict(p.get("params", dict, {})),
            seeds=tuple(seeds),
            note=p.get("note", str, ""),
            dataset_options=dict(p.get("dataset_options", dict, {})),
        )
        p.done()
    profiles_r.done()
    missing = [p for p in PROFILES if p not in profiles]
    if missing:
        raise top.error("profiles", f"every suite supports all profiles; missing {missing}")
    return profiles


def _tables(top: _Reader) -> dict[str, Table]:
    """The [tables.*] tables, in file order."""
    tables_r = top.sub("tables")
    tables = {}
    for tid in tables_r.data:
        t = tables_r.sub(tid)
        tables[tid] = Table(
            id=tid, title=t.get("title", str, required=True),
            source=t.get("source", str, ""), note=t.get("note", str, ""),
            columns=tuple(t.get("columns", list, [])),
        )
        if not all(isinstance(x, str) and x for x in tables[tid].columns):
            raise t.error("columns", "a list of non-empty column headings")
        t.done()
    tables_r.done()
    return tables


def _cases(
    top: _Reader, profiles: dict[str, Profile], tables: dict[str, Table]
) -> tuple[Case, ...]:
    """The [[cases]] array; ids are unique and each names an existing table."""
    cases: list[Case] = []
    seen_ids: set[str] = set()
    for i, raw_case in enumerate(top.get("cases", list, required=True)):
        case = _case(top.item("cases", i, raw_case), profiles, tables, seen_ids)
        seen_ids.add(case.id)
        cases.append(case)
    if not cases:
        raise top.error("cases", "a suite needs at least one case")
    return tuple(cases)


def _case(
    c: _Reader, profiles: dict[str, Profile], tables: dict[str, Table], seen_ids: set[str]
) -> Case:
    """One [[cases]] entry; ``seen_ids`` are the ids of the cases before it."""
    cid = c.get("id", str, required=True)
    if not _CASE_ID.fullmatch(cid):  # it names a folder under results/
        raise c.error("id", f"{cid!r}: use letters, digits, '.', '_' and '-', starting "
                           "with a letter or digit")
    if cid in seen_ids:
        raise c.error("id", f"duplicate case id {cid!r}")
    table = c.get("table", str, required=True)
    if table not in tables:
        raise c.error("table", f"no [tables.{table}] in this suite")
    # only a present [reported] counts as a seen key, as the unknown-key message lists them
    rep = c.sub("reported", None) if "reported" in c.data else None
    case_profiles = _case_profiles(c)
    schedules = _case_schedules(c, profiles)
    case = Case(
        id=cid, table=table, row=c.get("row", str, required=True),
        params=dict(c.get("params", dict, {})),
        dataset=c.get("dataset", str, None),
        dataset_options=dict(c.get("dataset_options", dict, {})),
        reported=_reported(rep) if rep is not None else None,
        reference_note=c.get("reference_note", str, "no published reference"),
        profiles=case_profiles,
        metric=c.get("metric", str, None),
        schedules=schedules,
        column=c.get("column", str, ""),
        data_optional=c.get("data_optional", bool, False),
    )
    columns = tables[table].columns
    if columns and case.column not in columns:
        raise c.error("column", f"{case.column!r}: table {table!r} has columns "
                                f"{', '.join(map(repr, columns))}; name one")
    if case.column and not columns:
        raise c.error("column", f"table {table!r} declares no columns")
    c.done()
    return case


def _case_profiles(c: _Reader) -> dict[str, dict[str, Any]]:
    """A case's [profiles] table: profile → parameter overrides."""
    case_profiles = c.sub("profiles")
    for pname in case_profiles.data:
        _known_profile(case_profiles, pname)
        case_profiles.get(pname, dict)
    case_profiles.done()
    return {k: dict(v) for k, v in case_profiles.data.items()}


def _case_schedules(c: _Reader, profiles: dict[str, Profile]) -> dict[str, Schedule]:
    """A case's [schedules] table: profile → that profile's schedule with these keys replaced."""
    schedules_r = c.sub("schedules")
    schedules = {}
    for pname in schedules_r.data:
        _known_profile(schedules_r, pname)
        if pname not in profiles:
            raise schedules_r.error(pname, f"no [profiles.{pname}] in this suite")
        base = dataclasses.asdict(profiles[pname].schedule)
        sched_r = schedules_r.sub(pname)
        schedules[pname] = _schedule(_Reader(sched_r.file, {**base, **sched_r.data},
                                             sched_r.path))
    schedules_r.done()
    return schedules


def _checks(top: _Reader, case_ids: set[str]) -> tuple[Check, ...]:
    """The [[checks]] array; every pair names two of this suite's cases."""
    checks = []
    for i, raw_check in enumerate(top.get("checks", list, [])):
        k = top.item("checks", i, raw_check)
        pairs = k.get("pairs", list, required=True)
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise k.error("pairs", "each pair is [left_case, right_case]")
            for cid in pair:
                if cid not in case_ids:
                    raise k.error("pairs", f"no case {cid!r} in this suite")
        kind = k.get("kind", str, "greater")
        if kind not in ("greater", "less"):
            raise k.error("kind", "must be 'greater' or 'less'")
        checks.append(
            Check(
                id=k.get("id", str, required=True), claim=k.get("claim", str, required=True),
                source=k.get("source", str, required=True),
                pairs=tuple((a, b) for a, b in pairs), kind=kind,
                paired_by=k.get("paired_by", str, ""),
            )
        )
        k.done()
    return tuple(checks)


def _compare_figures(top: _Reader, case_ids: set[str]) -> tuple[CompareFigure, ...]:
    """The [[compare_figures]] array; ``case`` must be one of this suite's cases."""
    figures = []
    for i, raw_fig in enumerate(top.get("compare_figures", list, [])):
        f = top.item("compare_figures", i, raw_fig)
        fig = CompareFigure(**{k: f.get(k, str, required=True) for k in (
            "id", "title", "source", "case", "artifact", "other_suite", "other_case",
            "other_artifact")})
        if fig.case not in case_ids:
            raise f.error("case", f"no case {fig.case!r} in this suite")
        f.done()
        figures.append(fig)
    return tuple(figures)


def _details_tables(top: _Reader, case_ids: set[str]) -> tuple[DetailsTable, ...]:
    """The [[details_tables]] array: per-seed tables read from a JSON artifact of each run."""
    tables = []
    for i, raw_table in enumerate(top.get("details_tables", list, [])):
        d = top.item("details_tables", i, raw_table)
        artifact = d.get("artifact", str, required=True)
        if not artifact.endswith(".json"):
            raise d.error("artifact", f"must name a .json artifact; got {artifact!r}")
        columns = d.get("columns", dict, required=True)
        if not columns or not all(isinstance(k, str) and k.strip() for k in columns.values()):
            raise d.error("columns", "must map each column heading to a key path in the "
                          "artifact, e.g. { \"Normal cell\" = \"genotype.normal\" }")
        tables.append(DetailsTable(
            id=d.get("id", str, required=True), title=d.get("title", str, required=True),
            artifact=artifact, columns=tuple(columns.items()), note=d.get("note", str, ""),
            cases=tuple(d.get("cases", list, []))))
        unknown = [c for c in tables[-1].cases if c not in case_ids]
        if unknown:
            raise d.error("cases", f"no case {unknown[0]!r} in this suite")
        d.done()
    ids = [t.id for t in tables]
    if len(set(ids)) != len(ids):
        repeated = next(i for i in ids if ids.count(i) > 1)
        raise top.error("details_tables", f"repeated id {repeated!r}")
    return tuple(tables)


def load_suite(path_or_name: str | Path, *, validate: bool = True) -> SuiteSpec:
    """Parse a suite file (a path, or a name in ``benchmarks/``) into a SuiteSpec."""
    path = resolve_suite_path(path_or_name)
    raw = path.read_bytes()
    top = _Reader(path, _toml(path, raw))
    # sections in this order: an error in an earlier one is the one reported
    header = _suite_header(top, path, raw)
    profiles = _profiles(top)
    tables = _tables(top)
    cases = _cases(top, profiles, tables)
    case_ids = {c.id for c in cases}
    checks = _checks(top, case_ids)
    # only a present [search] counts as a seen key, as the unknown-key message lists them
    search = _search(top.sub("search"), case_ids) if "search" in top.data else None
    compare_figures = _compare_figures(top, case_ids)
    details_tables = _details_tables(top, case_ids)
    top.done()
    if header["curves"] not in ("suite", "per-table"):
        raise SuiteFileError(f"{path}: [suite].curves must be 'suite' or 'per-table'; "
                             f"got {header['curves']!r}")
    unknown = [c for c in header["show_samples"] if c not in case_ids]
    if unknown:
        raise SuiteFileError(f"{path}: [suite].show_samples names no case {unknown[0]!r}")

    spec = SuiteSpec(
        **header, profiles=profiles, tables=tables, cases=cases, checks=checks, search=search,
        compare_figures=compare_figures, details_tables=details_tables,
    )
    if validate:
        validate_suite(spec)
    return spec


def validate_suite(spec: SuiteSpec) -> None:
    """Check names against the registries, every case's parameters against the plug-in, and
    that each dataset gives the kind of data the plug-in takes (``Config.data_type``)."""
    from gensuite.plugins import algorithms, datasets, load_plugins

    algos, dsets = algorithms(), datasets()
    f = spec.path
    if spec.algorithm not in algos:
        known = ", ".join(algos.names())
        broken = "".join(f"; plug-in package {name!r} failed to load: {cause}"
                         for name, cause in load_plugins().broken.items())
        raise SuiteFileError(
            f"{f}: suite.algorithm: unknown plug-in {spec.algorithm!r}; known: {known}{broken}"
        )
    config_cls = algos.get(spec.algorithm).Config
    fields = {fl.name for fl in dataclasses.fields(config_cls)}
    named = [("suite.dataset", spec.dataset)] + [
        (f"cases[{i}].dataset", c.dataset) for i, c in enumerate(spec.cases) if c.dataset
    ]
    for key, ds in named:
        if ds not in dsets:
            known = ", ".join(dsets.names())
            raise SuiteFileError(f"{f}: {key}: unknown dataset {ds!r}; known: {known}")
        gives = dataset_type(dsets.get(ds))
        takes = config_cls.data_type
        if gives is not None and not issubclass(gives, takes):
            raise SuiteFileError(
                f"{f}: {key}: dataset {ds!r} gives {gives.__name__}; plug-in "
                f"{spec.algorithm!r} takes {takes.__name__}"
            )
    hints = typing.get_type_hints(config_cls)
    for where, params in _param_tables(spec):
        for k, v in params.items():
            if k not in fields:
                raise SuiteFileError(
                    f"{f}: {where}.{k}: unknown parameter of algorithm {spec.algorithm!r} "
                    f"(known: {', '.join(sorted(fields))})"
                )
            if not _matches(v, hints.get(k, Any)):
                raise SuiteFileError(
                    f"{f}: {where}.{k}: expected {_hint_name(hints[k])}, got {type(v).__name__}"
                )
    for i, case in enumerate(spec.cases):
        for profile in PROFILES:
            try:
                config_cls(**spec.resolve_params(case, profile))
            except (TypeError, ValueError) as exc:
                where = f"cases[{i}] ({case.id}, profile {profile})"
                raise SuiteFileError(f"{f}: {where}: {exc}") from None
    if spec.search:
        for p in spec.search.params:
            if p.name not in fields:
                raise SuiteFileError(
                    f"{f}: search.params.{p.name}: unknown parameter of algorithm "
                    f"{spec.algorithm!r}"
                )


def dataset_type(builder: Any) -> type | None:
    """The container class a dataset builder returns, from its return annotation (None when it
    has none that resolves to a class)."""
    try:
        hint = typing.get_type_hints(builder).get("return")
    except Exception:  # an unresolvable annotation: the kind is checked when the data is built
        return None
    return hint if isinstance(hint, type) else None


def _matches(value: Any, hint: Any) -> bool:
    """Does a TOML value fit a Config field's annotation? (ints are valid floats, bools are not)"""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple and isinstance(value, list):  # TOML arrays are lists: tuple[X, ...]
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return all(_matches(item, args[0] if len(args) == 1 else Any) for item in value)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _param_tables(spec: SuiteSpec):
    yield "defaults", spec.defaults
    for name, prof in spec.profiles.items():
        yield f"profiles.{name}.params", prof.params
    for i, case in enumerate(spec.cases):
        yield f"cases[{i}].params", case.params
        for pname, over in case.profiles.items():
            yield f"cases[{i}].profiles.{pname}", over


def resolve_suite_path(path_or_name: str | Path) -> Path:
    p = Path(path_or_name)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise GensuiteError(f"suite file not found: {p}")
        return p
    candidate = SUITES_DIR / f"{path_or_name}.toml"
    if candidate.is_file():
        return candidate
    raise GensuiteError(
        f"unknown suite {str(path_or_name)!r}; known: {', '.join(list_suites()) or '(none)'} "
        f"(in {SUITES_DIR})"
    )


def list_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
