"""Report options for text models: learning curves per table (one plot per swept factor, as
report C-1) and the samples of a named case printed as text."""

from __future__ import annotations

from click.testing import CliRunner

from gensuite.cli import main

SUITE = '''
[suite]
name = "mini-text"
title = "Mini char-RNN"
algorithm = "charrnn"
dataset = "tiny-shakespeare"
metric = "bpc"
curves = "per-table"
show_samples = ["a"]

[defaults]
hidden = 8
seq_len = 5
batch_size = 2
val_chars = 200
test_chars = 300
sample_chars = 30
temperatures = [0.0, 1.0]

[profiles.smoke]
schedule = { steps = 4, eval_every = 2 }
[profiles.quick]
schedule = { steps = 4 }
[profiles.paper]
schedule = { steps = 4 }

[tables.first]
title = "First factor"
source = "a test"

[tables.second]
title = "Second factor"
source = "a test"

[[cases]]
id = "a"
table = "first"
row = "lr 1e-3"
params = { lr = 1e-3 }

[[cases]]
id = "b"
table = "first"
row = "lr 1e-2"
params = { lr = 1e-2 }

[[cases]]
id = "c"
table = "second"
row = "seq 10"
params = { seq_len = 10 }
'''


def test_per_table_curves_and_text_samples(tmp_path):
    suite = tmp_path / "mini-text.toml"
    suite.write_text(SUITE)
    results, reports = tmp_path / "results", tmp_path / "reports"
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "--suite", str(suite), "--profile", "smoke",
                               "--results-dir", str(results), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["report", "--results-dir", str(results), "--reports-dir",
                               str(reports), "--profile", "smoke"])
    assert res.exit_code == 0, res.output
    pngs = sorted(p.name for p in (reports / "mini-text").glob("*.png"))
    assert pngs == ["smoke-curves-first.png", "smoke-curves-second.png"]
    md = (reports / "mini-text.md").read_text()
    assert "![learning curves](mini-text/smoke-curves-first.png)" in md
    assert "# Second factor\n\n![learning curves](mini-text/smoke-curves-second.png)" in md
    assert "Samples: lr 1e-3, seed 0" in md and "Temperature 0:\n\n```text\nThe " in md
    assert "Temperature 1:" in md
    # a case not named in show_samples is not printed
    assert "Samples: lr 1e-2" not in md


def test_suite_options_are_checked(tmp_path):
    import pytest

    from gensuite.config import load_suite
    from gensuite.errors import SuiteFileError

    bad = tmp_path / "bad.toml"
    bad.write_text(SUITE.replace('curves = "per-table"', 'curves = "per-row"'))
    with pytest.raises(SuiteFileError, match="curves must be 'suite' or 'per-table'"):
        load_suite(str(bad))
    bad.write_text(SUITE.replace('show_samples = ["a"]', 'show_samples = ["zz"]'))
    with pytest.raises(SuiteFileError, match="show_samples names no case 'zz'"):
        load_suite(str(bad))
