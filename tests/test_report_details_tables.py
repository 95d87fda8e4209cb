"""Per-seed details tables ([[details_tables]]): the suite key's errors, the value formatting,
and darts-search-ptb's table of derived cells built from each smoke run's own search.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gensuite.cli import main
from gensuite.config import load_suite
from gensuite.errors import SuiteFileError
from gensuite.report.markdown import _detail_value
from tests.conftest import MINIMAL_SUITE

TABLE = '''
[[details_tables]]
id = "cells"
title = "Cells per seed"
artifact = "search.json"
columns = { "Cell" = "genotype.recurrent" }
'''


def _load(tmp_path: Path, extra: str):
    path = tmp_path / "s.toml"
    path.write_text(MINIMAL_SUITE + extra)
    return path, load_suite(path, validate=False)


def test_details_table_parses_and_reaches_the_snapshot(tmp_path):
    _, spec = _load(tmp_path, TABLE.replace('columns', 'cases = ["c2"]\ncolumns'))
    (table,) = spec.details_tables
    assert table.columns == (("Cell", "genotype.recurrent"),) and table.cases == ("c2",)
    snap = spec.snapshot()["details_tables"]
    assert snap == [{"id": "cells", "title": "Cells per seed", "artifact": "search.json",
                     "columns": [["Cell", "genotype.recurrent"]], "note": "", "cases": ["c2"]}]


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        (TABLE.replace("search.json", "cells.png"), r"details_tables\[0\]\.artifact: must name a \.json"),
        (TABLE.replace('{ "Cell" = "genotype.recurrent" }', "{}"), r"details_tables\[0\]\.columns: must map"),
        (TABLE.replace("columns", 'cases = ["c9"]\ncolumns'), r"details_tables\[0\]\.cases: no case 'c9'"),
        (TABLE + TABLE, r"details_tables: repeated id 'cells'"),
        (TABLE.replace("title", "titel"), r"details_tables\[0\]\.title: missing required key"),
    ],
)
def test_details_table_errors_are_one_line_naming_the_key(tmp_path, extra, where):
    path = tmp_path / "s.toml"
    path.write_text(MINIMAL_SUITE + extra)
    with pytest.raises(SuiteFileError) as info:
        load_suite(path, validate=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert re.search(where, message), message


def test_detail_values_are_compact_and_safe_in_a_table():
    data = {"g": {"cell": [["sep_conv_3x3", 0], ["skip_connect", 1]], "concat": [2, 3],
                  "lr": 0.000123456, "name": "a|b"}}
    assert _detail_value(data, "g.cell") == "sep_conv_3x3 ← 0, skip_connect ← 1"
    assert _detail_value(data, "g.concat") == "2, 3"
    assert _detail_value(data, "g.lr") == "0.0001235"
    assert _detail_value(data, "g.name") == "a\\|b"  # a pipe would split the markdown cell
    assert _detail_value(data, "g.missing") == "—" and _detail_value(data, "g.cell.x") == "—"


def _table_rows(md: str, title: str) -> list[list[str]]:
    block = md.split(title, 1)[1].split("\n\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in block.splitlines() if line.startswith("| ") and "---" not in line
            and not line.startswith("| Configuration")]


def test_search_suite_reports_each_runs_own_derived_cell(tmp_path):
    results, reports = tmp_path / "results", tmp_path / "reports"
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "--suite", "darts-search-ptb", "--profile", "smoke",
                               "--results-dir", str(results), "--tracking-uri", "none",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    args = ["report", "--suite", "darts-search-ptb", "--results-dir", str(results),
            "--reports-dir", str(reports), "--profile", "smoke"]
    assert runner.invoke(main, args).exit_code == 0
    title = "The recurrent cell each search derived"
    rows = _table_rows((reports / "darts-search-ptb.md").read_text(), title)
    # one row per listed case (second-order-vs-report shares second-order's run: not listed)
    assert [r[:2] for r in rows] == [["DARTS, first order", "0"],
                                     ["DARTS, second order (unrolled)", "0"]]
    searches = {}
    for case in ("first-order", "second-order"):
        (path,) = (results / "darts-search-ptb" / "smoke" / case).glob("seed0_*/search.json")
        searches[case] = path
    for row, case in zip(rows, ("first-order", "second-order")):
        genotype = json.loads(searches[case].read_text())["genotype"]
        assert row[2] == ", ".join(f"{a} ← {j}" for a, j in genotype["recurrent"])
        assert row[3] == ", ".join(str(i) for i in genotype["concat"])
    # a run without the artifact says so instead of dropping its row
    searches["second-order"].unlink()
    assert runner.invoke(main, args).exit_code == 0
    rows = _table_rows((reports / "darts-search-ptb.md").read_text(), title)
    assert rows[1][2] == "not recorded (the run has no search.json)"
