"""The release-review report: one JSON document (schema in schema.json), rendered to Markdown and HTML.

    doc = build_report([suite_result, ...], sample=None, suites="parity_suites")
    write_report(doc, "out/")  # report.json, report.md, report.html

Markdown and HTML are rendered from the document only, so ``parity report report.json`` reproduces both
from a saved run. Importing this package imports neither TensorFlow nor scikit-learn.
"""
from __future__ import annotations

from harness.report.build import (
    SCHEMA_VERSION,
    build_report,
    dumps_report,
    load_report,
    schema,
    suite_result_from_dict,
    validate_report,
    write_report,
)
from harness.report.provenance import harness_version, suites_provenance
from harness.report.verify import report_problems, verify_report
from harness.report.html import render_html
from harness.report.markdown import render_markdown

__all__ = [
    "SCHEMA_VERSION",
    "build_report",
    "dumps_report",
    "harness_version",
    "load_report",
    "render_html",
    "render_markdown",
    "report_problems",
    "schema",
    "suite_result_from_dict",
    "suites_provenance",
    "validate_report",
    "verify_report",
    "write_report",
]
