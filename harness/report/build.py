"""The report document: build it from suite results, serialize it byte-stably, validate it, write it.

The document is the single source for report.md and report.html. It carries no timestamps, and its keys
are written in a fixed order (never sorted, never dependent on dict insertion from the environment), so
the same suite results give the same bytes, which is what lets a serial run and an xdist run be compared.
Its provenance (harness version, the suites' commit) is deterministic for a checkout, so it is in the
document too; anything with a clock time belongs in a file beside the report, never in it.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import ParityError, ParityInputError
from harness.files import write_atomic
from harness.report.measured import build_measured
from harness.report.provenance import harness_version, suites_provenance
from harness.report.verify import derive_counts, is_error, verify_report
from harness.results import CheckResult, SuiteResult, jsonable
from harness.verdicts import Verdict, combine

__all__ = [
    "SCHEMA_VERSION",
    "build_report",
    "dumps_report",
    "is_error",
    "load_report",
    "schema",
    "suite_result_from_dict",
    "validate_report",
    "verify_report",
    "write_report",
    "write_text_atomic",
]

# 2.0: `suites_source` (the suites' commit) added; plot edges follow the data; `plots.diff_by_score` added.
# 2.1: `measured` added (cost per stage, serving measurements and gates: outside the byte-identity contract).
# 1.0 and 2.0 documents still load and render (the schema accepts every version).
SCHEMA_VERSION = "2.2"
_SCHEMA_PATH = Path(__file__).with_name("schema.json")


def build_report(
    suite_results: Iterable[SuiteResult],
    *,
    sample: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] | None = None,
    selection: Mapping[str, Any] | None = None,
    suites: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    measured: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One report document over ``suite_results`` (kept in the given order).

    ``sample`` ({"rows": n, "seed": s}) marks a sampled run; when omitted it is taken from the suites
    (a run samples all its suites alike). ``environment`` is an optional JSON-able description of where
    the run happened; pass only stable values (no clock times) to keep the bytes reproducible.
    ``selection`` records which planned checks ran when a run was narrowed (pytest ``-k``/``-m``, node
    ids, an early stop): ``{"partial", "keyword", "markexpr", "deselected", "planned", "ran", "not_run":
    {suite: [check ids]}}`` (see schema.json); None for a run of everything. The verdict is over the
    checks that ran; ``partial`` marks it as not a release verdict, as a sample does.
    ``suites`` is the folder the suites were loaded from (its git commit and whether it has uncommitted
    changes are recorded, `suites_provenance`), or that ``{"commit", "dirty"}`` mapping already computed;
    None records both as unknown (null).
    ``measured`` (suite -> {"cost", "serving", "checks"}, `harness.session.measured_of`) becomes the last
    key, ``measured`` (`harness.report.measured`): figures of the machine that ran, so the one part of
    the document that is not byte-identical between runs; null when nothing was measured.
    """
    source = _suites_source(suites)
    suites = []
    for i, result in enumerate(suite_results):
        if not isinstance(result, SuiteResult):
            raise ParityInputError(
                f"build_report: suite_results[{i}] must be a harness.results.SuiteResult, got {type(result).__name__}"
            )
        suites.append(result.to_dict())
    if sample is None:
        sampled = [s["sample"] for s in suites if s["sample"] is not None]
        sample = sampled[0] if sampled else None
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "parity-harness", "version": harness_version()},
        "suites_source": source,
        "verdict": combine(Verdict(s["verdict"]) for s in suites).value,
        "counts": derive_counts(suites),
        "sample": jsonable(dict(sample)) if sample is not None else None,
        "selection": jsonable(dict(selection)) if selection is not None else None,
        "environment": jsonable(dict(environment)) if environment is not None else None,
        "suites": suites,
        "measured": build_measured(measured),
    }


def _suites_source(suites: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    if suites is None:
        return {"commit": None, "dirty": None}
    if isinstance(suites, Mapping):
        commit, dirty = suites.get("commit"), suites.get("dirty")
        if set(suites) - {"commit", "dirty"} or not isinstance(commit, (str, type(None))) \
                or not isinstance(dirty, (bool, type(None))):
            raise ParityInputError(f"build_report: suites must be a folder or {{'commit': str|None, 'dirty': "
                                   f"bool|None}}, got {dict(suites)!r}")
        return {"commit": commit, "dirty": dirty}
    if isinstance(suites, (str, os.PathLike)):
        return suites_provenance(suites)
    raise ParityInputError(f"build_report: suites must be a folder or a {{'commit', 'dirty'}} mapping, got "
                           f"{type(suites).__name__}")


def dumps_report(doc: Mapping[str, Any]) -> str:
    """The canonical text of a report: fixed key order, indent 2, no NaN (a NaN is a bug upstream)."""
    try:
        return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    except ValueError as exc:
        raise ParityInputError(f"report document is not valid JSON (non-finite number?): {exc}") from None


def schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12), as shipped in harness/report/schema.json."""
    return json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_report(doc: Any, *, source: str = "report") -> None:
    """Raise `ParityInputError` naming the JSON path of the first schema violation in ``doc``."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is a declared dependency of the report
        raise ParityError("validating a report needs the 'jsonschema' package (pip install jsonschema)") from None
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        raise ParityInputError(f"{source}: does not match the report schema at {error.json_path}: {error.message}")


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved report.json, validate it against the schema and verify its verdicts against its
    checks (`verify_report`); either failing is a `ParityInputError` naming the file and the place."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParityInputError(f"cannot read report {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParityInputError(f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    validate_report(doc, source=str(path))
    verify_report(doc, source=str(path))
    return doc


def suite_result_from_dict(data: Mapping[str, Any]) -> SuiteResult:
    """Rebuild a `SuiteResult` from its ``to_dict()`` form (how xdist workers hand results over).

    ``to_dict`` is already JSON (non-finite floats are None), so the round trip is exact:
    ``suite_result_from_dict(r.to_dict()).to_dict() == r.to_dict()``.
    """
    fields = dict(data)
    fields.pop("verdict", None)  # derived from the checks
    fields["checks"] = [CheckResult(**c) for c in fields["checks"]]
    return SuiteResult(**fields)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, "\n" line ends) to ``path`` atomically with the umask's mode
    (`harness.files.write_atomic`): a reader never sees half a report."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ParityInputError(f"cannot write {path}: folder {path.parent} does not exist")
    write_atomic(path, text.encode("utf-8"))


def write_report(doc: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir`` (created if needed)."""
    from harness.report.html import render_html
    from harness.report.markdown import render_markdown

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParityInputError(f"report directory {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "html": out / "report.html"}
    texts = {"json": dumps_report(doc), "markdown": render_markdown(doc), "html": render_html(doc)}
    for key, path in paths.items():
        write_text_atomic(path, texts[key])
    return paths
