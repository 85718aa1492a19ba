"""Comparisons of two comparison results the scale tests share (loaded once by tests/scale/conftest.py as
the module ``scale_docs``): a streamed or Beam run against the in-memory one, numbers within 1e-12."""
from __future__ import annotations

import math

NUMBERS = ("legacy", "new", "diff", "ci", "ci_two_sided", "ci_adjusted", "se", "mdd")
P_VALUES = ("p_value", "p_adjusted", "p_difference")
HOLM_LEVEL = "ci_adjusted_level"  # Holm's level, computed from p: as close as the p-values


def close(x, y, tol):
    if x is None or y is None:
        return x is y
    if isinstance(x, list):
        return len(x) == len(y) and all(close(u, v, tol) for u, v in zip(x, y))
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol * max(1.0, abs(x))
    return x == y


def assert_close(streamed, in_memory, *, p_tol, p_values=P_VALUES):
    """The same verdicts, metrics and slices in the same order; ``NUMBERS`` within 1e-12 (relative above
    1), ``p_values`` within ``p_tol``, everything else equal."""
    assert streamed.verdict is in_memory.verdict
    s_rows, m_rows = streamed.to_dict()["metrics"], in_memory.to_dict()["metrics"]
    assert len(s_rows) == len(m_rows)
    for s, m in zip(s_rows, m_rows):
        assert s["name"] == m["name"] and s["slice"] == m["slice"]
        for k in s:
            tol = 1e-12 if k in NUMBERS else p_tol if k in p_values else 0
            assert close(s[k], m[k], tol), (s["name"], s["slice"], k, s[k], m[k])


def assert_same(got, ref, path="$"):
    """Two documents equal, floats within 1e-12 (relative; absolute 1e-12 on the AUC scale for limits and
    differences; p-values to the root search's tolerance, 1e-11)."""
    if isinstance(ref, dict):
        assert got.keys() == ref.keys(), path
        for k in ref:
            assert_same(got[k], ref[k], f"{path}.{k}")
    elif isinstance(ref, (list, tuple)):
        assert len(got) == len(ref), path
        for i, (u, v) in enumerate(zip(got, ref)):
            assert_same(u, v, f"{path}[{i}]")
    elif isinstance(ref, float) and not isinstance(got, bool):
        tol = 1e-11 if path.rsplit(".", 1)[-1].startswith("p_") else 1e-12
        assert math.isclose(got, ref, rel_tol=1e-12, abs_tol=tol), (path, got, ref)
    else:
        assert got == ref, path
