"""A claim whose two sides are one trained model scored on the same units, tested from the
per-unit difference the run recorded (a suite's ``paired_by``): synthetic records, no result."""

import copy
import math

import pytest
from fixtures_records import SNAPSHOT, make_record
from scipy import stats

from gensuite.errors import GensuiteError
from gensuite.report.view import SuiteView

Z = stats.norm.ppf(0.975)


def _model_records(gap_mean: float, gap_ci: float, *, seed: int = 0, key: str = "m0",
                   snapshot=None):
    """Two case records of one trained model: 'euclid' shows metric a, 'cosine' metric b, and
    both hold the per-unit difference a − b as 'gap'."""
    recs = []
    for case, value in (("euclid", -93.0 - seed), ("cosine", -93.0 - seed - gap_mean)):
        r = make_record(case, seed=seed, mean=value, ci95=0.5, n=1000, snapshot=snapshot)
        r["train_key"] = key
        r["metrics"] = {
            "accuracy": r["metrics"]["accuracy"],
            "gap": {"mean": gap_mean, "ci95": gap_ci, "n": 1000, "unit": "", "over": "images"},
        }
        recs.append(r)
    return recs


def _snapshot(paired_by: str):
    snap = copy.deepcopy(SNAPSHOT)
    snap["checks"] = [{"id": "a_above_b", "claim": "a ≥ b", "source": "fixture",
                       "kind": "greater", "pairs": [["euclid", "cosine"]],
                       "paired_by": paired_by}]
    return snap


def test_one_seed_is_decided_by_the_recorded_per_unit_difference():
    snap = _snapshot("gap")
    view = SuiteView(_model_records(5.7, 0.1, snapshot=snap), ("paper",))
    pairs, verdict = view.claim("paper", snap["checks"][0])
    c = pairs[0].comparison
    assert verdict == "holds" and c.test == "paired t over the same images"
    se = 0.1 / Z
    assert c.p == pytest.approx(2 * stats.t.sf(5.7 / se, 999))
    # without paired_by the same records decide nothing
    plain = _snapshot("")
    view = SuiteView(_model_records(5.7, 0.1, snapshot=plain), ("paper",))
    assert view.claim("paper", plain["checks"][0])[1] == "inconclusive"


def test_a_difference_within_noise_stays_inconclusive():
    snap = _snapshot("gap")
    view = SuiteView(_model_records(0.05, 0.2, snapshot=snap), ("paper",))
    assert view.claim("paper", snap["checks"][0])[1] == "inconclusive"


def test_different_trained_models_are_not_paired():
    snap = _snapshot("gap")
    recs = _model_records(5.7, 0.1, snapshot=snap)
    recs[1]["train_key"] = "another model"
    view = SuiteView(recs, ("paper",))
    pairs, verdict = view.claim("paper", snap["checks"][0])
    assert verdict == "inconclusive" and pairs[0].comparison.test == ""


def test_a_metric_that_is_not_left_minus_right_is_a_one_line_error():
    snap = _snapshot("gap")
    recs = _model_records(5.7, 0.1, snapshot=snap)
    for r in recs:
        r["metrics"]["gap"]["mean"] = -5.7  # right − left: the suite names the wrong sign
    view = SuiteView(recs, ("paper",))
    with pytest.raises(GensuiteError, match="paired_by = 'gap'.*not accuracy − accuracy"):
        view.claim("paper", snap["checks"][0])


def test_two_seeds_per_side_go_to_welch():
    snap = _snapshot("gap")
    recs = (_model_records(5.0, 0.2, seed=0, key="m0", snapshot=snap)
            + _model_records(6.0, 0.2, seed=1, key="m1", snapshot=snap))
    view = SuiteView(recs, ("paper",))
    c = view.compare("paper", "euclid", "cosine", "gap")
    assert c.test == "Welch t over seeds" and math.isclose(c.diff, 5.5)


def test_the_vae_suite_pairs_its_bound_claim_by_the_recorded_gap():
    from gensuite.config import load_suite

    (check,) = load_suite("vae-binarized-mnist").checks
    assert check.paired_by == "bound_gap"
