"""The harness's error types.

One type for bad input (arguments, files, arrays) so that shells can map it to a clear message and
exit code 2; everything else that goes wrong inside is a bug and surfaces as a normal traceback.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ParityError", "ParityInputError", "GoldenDataError", "ScorerError", "NO_VALUE"]


class _NoValue:
    """The ``value`` of an error that names no offending value (None is a value a cell can hold)."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


class ParityError(Exception):
    """Base class of every error the harness raises on purpose."""


class ParityInputError(ParityError, ValueError):
    """Bad input: the message names the argument, file, column or row and what was expected.

    ``str(error)`` is the whole message. The keyword-only fields say the same in a form a shell can use
    without reading the text: ``argument`` (the library's argument name, e.g. "score_new"), ``file``,
    ``column``, ``row`` (0-based position of the first offending row), ``value`` (the value found there;
    `NO_VALUE` when none is named) and ``reason`` (what is wrong, without the argument's name or the
    row, e.g. "expected probabilities in [0, 1]") and ``detail`` (what follows the value, e.g. "(3 row(s)
    outside [0, 1])"), so that the ``parity`` CLI can say
    "column 'p' (--new): expected probabilities in [0, 1]; row 4 (id=17) is 1.5" from the fields alone.
    Every field is optional: ``ParityInputError("message")`` is still a complete error.
    """

    def __init__(self, message: str = "", *, argument: str | None = None, file: str | None = None,
                 column: str | None = None, row: int | None = None, value: Any = NO_VALUE,
                 reason: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.file = file
        self.column = column
        self.row = None if row is None else int(row)
        self.value = value
        self.reason = reason
        self.detail = detail

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def has_value(self) -> bool:
        return self.value is not NO_VALUE

    def fields(self) -> dict[str, Any]:
        """The structured fields that are set (``value`` only when one is named)."""
        out = {k: getattr(self, k) for k in ("argument", "file", "column", "row", "reason", "detail")}
        out = {k: v for k, v in out.items() if v is not None}
        if self.has_value:
            out["value"] = self.value
        return out

    def with_fields(self, message: str | None = None, **fields: Any) -> ParityInputError:
        """A copy of the same type with ``fields`` (and ``message``) replaced, the others kept."""
        merged = {k: getattr(self, k) for k in ("argument", "file", "column", "row", "value", "reason", "detail")}
        merged.update(fields)
        out = type(self).__new__(type(self))
        ParityInputError.__init__(out, self.message if message is None else message, **merged)
        return out


class UndefinedReplicatesError(ParityInputError):
    """Valid input with too little in it for a bootstrap: some replicates leave the metric undefined
    (a resample with one class only, or with no query group the metric is defined on).

    Called directly, a bootstrap raises it like any bad input. `compare_scores` and the streamed and
    Beam engines make the metric's entry INCONCLUSIVE ("undefined") instead, on all rows as on a slice,
    so that the other checks of the run are still judged.
    """


class GoldenDataError(ParityInputError):
    """A golden dataset failed verification (hash, schema, path) or cannot be found."""


class ScorerError(ParityError):
    """A model side could not produce scores (crashed, timed out, malformed output)."""
