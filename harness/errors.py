"""The harness's error types.

One type for bad input (arguments, files, arrays) so that shells can map it to a clear message and
exit code 2; everything else that goes wrong inside is a bug and surfaces as a normal traceback.
"""
from __future__ import annotations

__all__ = ["ParityError", "ParityInputError", "GoldenDataError", "ScorerError"]


class ParityError(Exception):
    """Base class of every error the harness raises on purpose."""


class ParityInputError(ParityError, ValueError):
    """Bad input: the message names the argument, file, column or row and what was expected."""


class GoldenDataError(ParityInputError):
    """A golden dataset failed verification (hash, schema, path) or cannot be found."""


class ScorerError(ParityError):
    """A model side could not produce scores (crashed, timed out, malformed output)."""
