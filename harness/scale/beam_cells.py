"""Slice cells for the Beam runner (no Beam here): which rows of a batch belong to which slice value, and
the slices' order once the pipeline is done.

Every metric on the Beam runner is computed per *cell*: ``ALL`` (every row) and, per slice spec ``i``
(a column, or a tuple of columns for a crossed slice), one cell ``(i, values)`` per combination of values
present. A cell key holds plain Python values (str, int, float, bool; None for a missing value, as
`harness.scale.codes.ValueCodes` reads null and NaN; -0.0 is 0.0), so Beam encodes it deterministically
and it survives the JSON results file. After the run, `ordered_slices` rebuilds the values each column
would decode to in `compare_stream` and orders the cells with `harness.stats.compare.slice_rows`
itself, so slices come in the in-memory order and carry the in-memory values.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ALL", "batch_cells", "cell_from_json", "numeric_columns", "ordered_slices", "slice_value"]

ALL: tuple = (-1, ())
_PLAIN = (str, int, float, bool)


def slice_value(v: Any) -> Any:
    """A slice cell's value: a Python scalar, None for missing; TypeError for a type a cell cannot carry."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType"):
        return None
    if not isinstance(v, _PLAIN):
        raise TypeError(type(v).__name__)
    return v + 0.0 if isinstance(v, float) else v  # -0.0 and 0.0 are one slice value


def batch_cells(columns: dict[str, np.ndarray], specs: Sequence[tuple[str, ...]], n: int):
    """[(cell, rows)] of one batch: ``ALL`` with every row, then each spec's combinations present."""
    import pandas as pd

    out = [(ALL, None)]
    local = {}
    for c in dict.fromkeys(c for cols in specs for c in cols):
        codes, uniques = pd.factorize(np.asarray(columns[c]), use_na_sentinel=False)
        local[c] = (codes.astype(np.int64), [slice_value(u) for u in np.asarray(uniques, dtype=object).tolist()])
    for i, cols in enumerate(specs):
        combined = np.zeros(n, dtype=np.int64)
        for c in cols:
            combined = combined * len(local[c][1]) + local[c][0]
        present, inv = np.unique(combined, return_inverse=True)
        inv = inv.reshape(-1)
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(present.size + 1))
        cells: dict[tuple, list[np.ndarray]] = {}
        for j, code in enumerate(present.tolist()):
            vals = []
            for c in reversed(cols):
                code, r = divmod(code, len(local[c][1]))
                vals.append(local[c][1][r])
            cells.setdefault((i, tuple(reversed(vals))), []).append(order[bounds[j]:bounds[j + 1]])
        out.extend((cell, np.sort(np.concatenate(parts))) for cell, parts in cells.items())
    return out


def numeric_columns(columns: dict[str, np.ndarray]) -> dict[str, bool]:
    """Per slice column of a batch: numeric (as `ValueCodes` decides: numpy kinds b, i, u, f)."""
    return {c: np.asarray(v).dtype.kind in "biuf" for c, v in columns.items()}


def cell_from_json(cell: list) -> tuple:
    return (int(cell[0]), tuple(cell[1]))


def _decoded(values: list[Any], numeric: bool) -> np.ndarray:
    # ValueCodes.decode's table: numeric columns as numbers (NaN for missing), others as objects
    if numeric:
        if any(v is None for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return np.array(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def ordered_slices(specs: Sequence[tuple[str, ...]], counts: dict[tuple, int], numeric: dict[str, bool]) -> list:
    """[(slice, cell)] in `compare_scores`' order, each slice's ``rows`` a stand-in of its row count."""
    from harness.errors import ParityInputError
    from harness.stats import compare as _cmp

    out = []
    for i, cols in enumerate(specs):
        cells = sorted((c for c in counts if c[0] == i), key=repr)
        if not cells:
            continue
        arrays = [_decoded([c[1][j] for c in cells], numeric.get(col, False)) for j, col in enumerate(cols)]
        key = cols[0] if len(cols) == 1 else tuple(cols)
        for sl in _cmp.slice_rows({key: arrays[0] if len(cols) == 1 else tuple(arrays)}, len(cells)):
            if sl.rows.size != 1:  # two cell values that decode to one (a column typed differently per file)
                raise ParityInputError(f"slice {'+'.join(cols)}: values {[cells[r][1] for r in sl.rows]} are one "
                                       "slice value but were read as different values; give the column one type "
                                       "in every file", argument="slices", column=",".join(cols))
            cell = cells[int(sl.rows[0])]
            rows = np.broadcast_to(np.int64(0), (counts[cell],))  # only its size is read (the entry's n)
            out.append((_cmp._Slice(sl.columns, sl.values, rows), cell))
    return out
