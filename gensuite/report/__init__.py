"""Reports: results/ → reports/<suite>.md (reported vs reproduced) and learning-curve figures.

``render_reports`` is the entry point; the pure pieces (aggregation, verdicts) are importable
for tests and for other tools.
"""

from gensuite.report.aggregate import Reproduced, combine, latest_finished
from gensuite.report.render import DEFAULT_PROFILES, render_reports
from gensuite.report.stats import claim_verdict
from gensuite.report.verdict import Verdict, row_verdict

__all__ = [
    "DEFAULT_PROFILES",
    "Reproduced",
    "Verdict",
    "claim_verdict",
    "combine",
    "latest_finished",
    "render_reports",
    "row_verdict",
]
