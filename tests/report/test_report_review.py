"""The terminal review of a failing check uses the report's number format and reads tolerances as words."""
from __future__ import annotations

from harness.report.review import review_message


def test_feature_review_reads_as_the_report_does(make_result):
    check = make_result(failing=True).check("features/log_price")
    check.message = ""  # the structured lines are shown when the check has no message of its own
    text = review_message(check)
    assert "3 of 40,000 rows differ (match rate 99.9925%)" in text  # 1 - 3/40000, by hand
    assert "max abs err 3.5\u00d710\u207b\u2077" in text
    assert "allowed   \u2264 2 ULP or |err| \u2264 0" in text and "{'max_ulp'" not in text


def test_inconclusive_metric_review_names_rows_needed(make_result):
    text = review_message(make_result().check("metrics/auc[device=tablet]"))
    assert "INCONCLUSIVE is not a pass" in text and "rows needed to decide at the observed difference about 12,000" in text
