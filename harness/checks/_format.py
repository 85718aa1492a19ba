"""Small formatting helpers shared by the checks' review-style messages."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def fmt(value: Any) -> str:
    """Numbers with enough digits to see a last-bit difference, everything else as repr."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.17g}"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return repr(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain fixed-width text table (for failure messages read in a terminal)."""
    cells = [[str(c) for c in columns]] + [[fmt(r.get(c)) if not isinstance(r.get(c), str) else r.get(c) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join("    " + line for line in lines)
