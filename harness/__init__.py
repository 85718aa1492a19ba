"""Parity harness: does the TensorFlow stack compute what the legacy stack computed?

Importing this package imports neither TensorFlow nor scikit-learn; the statistics core
(`harness.stats`) needs only numpy and scipy.
"""
from __future__ import annotations

from harness.errors import GoldenDataError, ParityError, ParityInputError, ScorerError
from harness.verdicts import Verdict

__all__ = ["GoldenDataError", "ParityError", "ParityInputError", "ScorerError", "Verdict", "__version__"]

__version__ = "0.1.0"
