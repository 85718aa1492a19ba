"""Margins and three-way verdicts: equivalence (TOST) and non-inferiority on a paired difference.

The question a release review asks is "is the new model accuracy-neutral?". "No significant difference"
cannot answer it (a tiny golden set never shows a significant difference); an equivalence test can: it
asks whether the whole confidence interval of ``diff = new - legacy`` lies inside ``(-m, +m)`` for a
margin ``m`` agreed in advance.

Conventions used throughout (and by `harness.stats.compare`):

- ``diff`` is always ``new - legacy`` in the metric's own units.
- A margin is *absolute* (``auc=0.002``: m = 0.002) or *relative* (``logloss=1%``: m = 0.01 x |legacy
  metric|). Relative margins scale with the legacy metric measured on the same rows (and slice), so a
  1 % log-loss margin is 1 % of the legacy log loss, never of the new one: the legacy system is the
  reference the migration must match.
- Decisions use the two-sided ``(1 - 2*alpha)`` interval. Its bounds are one-sided level-``alpha``
  bounds, so "interval inside the margins" is exactly the two one-sided tests (Schuirmann 1987) at level
  ``alpha``, and its worse-side bound is the one-sided non-inferiority bound.
- Equivalence: EQUIVALENT iff ``-m < lo`` and ``hi < m``; NOT_EQUIVALENT iff the whole interval lies
  outside (``lo >= m`` or ``hi <= -m``); INCONCLUSIVE otherwise (it straddles a margin: the data are too
  few to decide).
- Non-inferiority: only the "worse" side matters (negative diffs when higher is better, positive ones when
  lower is better). EQUIVALENT (non-inferior) iff the worse-side bound is inside the margin;
  NOT_EQUIVALENT iff the whole interval is beyond the margin on the worse side; else INCONCLUSIVE.
- The TOST p-value (``tost_p_value``) is the larger of the two one-sided p-values under the normal
  approximation ``diff ~ N(true, se^2)``; for non-inferiority it is the worse-side one-sided p-value. With
  a normal interval ``diff -/+ z_{1-alpha} se`` it agrees exactly with the interval rule: p < alpha iff
  EQUIVALENT.

Sample-size helpers (`minimum_detectable_difference`, `n_required_planning`, `n_required`) treat ``se`` as
``sigma / sqrt(n)``, which holds for every paired estimator used here (DeLong, mean of per-row
differences, bootstrap); they are the normal-approximation power formulas of the same tests.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from scipy import stats as _st
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri  # the normal cdf / quantile without scipy.stats' per-call overhead

from harness.errors import ParityInputError
from harness.verdicts import Verdict

__all__ = [
    "Margin",
    "parse_margins",
    "as_margin",
    "decide",
    "tost_p_value",
    "decision_power",
    "minimum_detectable_difference",
    "n_required",
    "n_required_planning",
    "KINDS",
    "TESTS",
]

KINDS = ("absolute", "relative")
TESTS = ("equivalence", "non_inferiority")


@dataclass(frozen=True)
class Margin:
    """How far ``new - legacy`` may move for one metric, and in which direction "better" lies.

    ``value`` is in metric units for ``kind="absolute"`` and a fraction of |legacy metric| for
    ``kind="relative"`` (0.01 means 1 %). ``higher_is_better`` matters for non-inferiority (which side is
    "worse") and is reported with every verdict.
    """

    metric: str
    value: float
    kind: str = "absolute"
    higher_is_better: bool = True
    test: str = "equivalence"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ParityInputError(f"Margin.metric must be a non-empty string, got {self.metric!r}")
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise ParityInputError(
                f"Margin {self.metric!r}: value must be a positive number, got {self.value!r}"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise ParityInputError(
                f"Margin {self.metric!r}: value must be a finite number > 0, got {self.value!r} "
                "(a zero margin can never be shown: equivalence needs some tolerance)"
            )
        object.__setattr__(self, "value", value)
        if self.kind not in KINDS:
            raise ParityInputError(f"Margin {self.metric!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.test not in TESTS:
            raise ParityInputError(f"Margin {self.metric!r}: test must be one of {TESTS}, got {self.test!r}")
        if not isinstance(self.higher_is_better, bool):
            raise ParityInputError(
                f"Margin {self.metric!r}: higher_is_better must be True or False, got {self.higher_is_better!r}"
            )

    def absolute_value(self, legacy: float | None = None) -> float:
        """The margin in metric units: ``value`` or ``value * |legacy|`` for a relative margin."""
        if self.kind == "absolute":
            return self.value
        if legacy is None or not math.isfinite(float(legacy)):
            raise ParityInputError(
                f"Margin {self.metric!r} is relative ({self.value:g} x |legacy|) and needs the legacy metric "
                f"value, got legacy={legacy!r}"
            )
        m = self.value * abs(float(legacy))
        if m <= 0:
            raise ParityInputError(
                f"Margin {self.metric!r} is relative but the legacy {self.metric} is 0, so the margin would be 0; "
                "use an absolute margin for this metric"
            )
        return m

    def to_dict(self, legacy: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "value": self.value,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "test": self.test,
        }
        try:
            d["absolute_value"] = self.absolute_value(legacy)
        except ParityInputError:
            d["absolute_value"] = None
        return d


_PIECE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_@.\-]*)\s*=\s*([^=%\s]+)\s*(%?)\s*$")


def parse_margins(text: str) -> dict[str, tuple[float, str]]:
    """Parse ``"auc=0.002,logloss=1%"`` into ``{"auc": (0.002, "absolute"), "logloss": (0.01, "relative")}``.

    A trailing ``%`` makes the margin relative to |legacy metric| and divides the number by 100. Each bad
    piece is named in the error.
    """
    if not isinstance(text, str):
        raise ParityInputError(f"margins must be text like 'auc=0.002,logloss=1%', got {text!r}")
    out: dict[str, tuple[float, str]] = {}
    if not text.strip():
        return out
    for piece in text.split(","):
        if not piece.strip():
            raise ParityInputError(f"margin text {text!r} has an empty piece (two commas or a trailing comma)")
        m = _PIECE.match(piece)
        if not m:
            raise ParityInputError(
                f"margin piece {piece.strip()!r} is not METRIC=NUMBER or METRIC=NUMBER%, e.g. 'auc=0.002' or 'logloss=1%'"
            )
        name, number, pct = m.group(1), m.group(2), m.group(3)
        try:
            value = float(number)
        except ValueError:
            raise ParityInputError(f"margin piece {piece.strip()!r}: {number!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ParityInputError(f"margin piece {piece.strip()!r}: the margin must be a finite number > 0")
        if name in out:
            raise ParityInputError(f"margin piece {piece.strip()!r}: metric {name!r} is given twice")
        out[name] = (value / 100.0, "relative") if pct else (value, "absolute")
    return out


def as_margin(metric: str, spec: Any, *, higher_is_better: bool, test: str | None = None) -> Margin:
    """Normalize a margin given as a `Margin`, a float (absolute) or a ``(value, kind)`` tuple.

    ``higher_is_better`` comes from the metric's definition unless ``spec`` is a full `Margin`; ``test``
    defaults to equivalence.
    """
    if isinstance(spec, Margin):
        if spec.metric != metric:
            raise ParityInputError(f"margin for {metric!r} is a Margin for metric {spec.metric!r}")
        if test is not None and spec.test != test:
            return Margin(metric, spec.value, spec.kind, spec.higher_is_better, test)
        return spec
    test = test or "equivalence"
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ParityInputError(f"margin for {metric!r} must be (value, kind), got {spec!r}")
        return Margin(metric, spec[0], spec[1], higher_is_better, test)
    if isinstance(spec, bool) or not isinstance(spec, (int, float)):
        raise ParityInputError(
            f"margin for {metric!r} must be a Margin, a number (absolute) or a (value, kind) tuple, got {spec!r}"
        )
    return Margin(metric, float(spec), "absolute", higher_is_better, test)


def _resolve(margin: Margin | float, legacy: float | None, test: str | None,
             higher_is_better: bool | None) -> tuple[float, str, bool]:
    if isinstance(margin, Margin):
        m = margin.absolute_value(legacy)
        return m, test or margin.test, margin.higher_is_better if higher_is_better is None else higher_is_better
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin <= 0:
        raise ParityInputError(f"margin must be a Margin or a finite number > 0, got {margin!r}")
    test = test or "equivalence"
    if test not in TESTS:
        raise ParityInputError(f"test must be one of {TESTS}, got {test!r}")
    return float(margin), test, True if higher_is_better is None else bool(higher_is_better)


def _finite(name: str, x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ParityInputError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(v):
        raise ParityInputError(f"{name} must be finite, got {x!r} (the metric or its interval could not be computed)")
    return v


def decide(diff: float, ci_low: float, ci_high: float, margin: Margin | float, *, legacy: float | None = None,
           test: str | None = None, higher_is_better: bool | None = None) -> Verdict:
    """Three-way verdict from the ``(1 - 2*alpha)`` interval ``[ci_low, ci_high]`` of ``diff = new - legacy``.

    ``margin`` is a `Margin` (a relative one needs ``legacy``) or an absolute number; ``test`` and
    ``higher_is_better`` override the Margin's (or default to equivalence / higher is better for a number).
    Boundaries: touching the margin is not inside it, so an interval ending exactly at ``m`` is not
    EQUIVALENT; an interval starting exactly at ``m`` is NOT_EQUIVALENT.
    """
    _finite("diff", diff)
    lo, hi = _finite("ci_low", ci_low), _finite("ci_high", ci_high)
    if lo > hi:
        raise ParityInputError(f"ci_low must be <= ci_high, got [{ci_low!r}, {ci_high!r}]")
    m, test, hib = _resolve(margin, legacy, test, higher_is_better)
    if test == "equivalence":
        if -m < lo and hi < m:
            return Verdict.EQUIVALENT
        if lo >= m or hi <= -m:
            return Verdict.NOT_EQUIVALENT
        return Verdict.INCONCLUSIVE
    # non-inferiority: only the worse side counts
    if hib:  # worse = negative diff
        if lo > -m:
            return Verdict.EQUIVALENT
        if hi <= -m:
            return Verdict.NOT_EQUIVALENT
        return Verdict.INCONCLUSIVE
    if hi < m:  # lower is better: worse = positive diff
        return Verdict.EQUIVALENT
    if lo >= m:
        return Verdict.NOT_EQUIVALENT
    return Verdict.INCONCLUSIVE


def tost_p_value(diff: float, se: float, margin: Margin | float, *, legacy: float | None = None,
                 test: str | None = None, higher_is_better: bool | None = None, df: int | None = None) -> float:
    """p-value of the equivalence (TOST) or non-inferiority test under ``diff ~ N(true, se^2)``.

    TOST: H0 is "|true| >= m"; p = max(P(Z >= (diff + m)/se), P(Z <= (diff - m)/se)). Non-inferiority:
    the worse-side one-sided p-value only. Small p supports equivalence (non-inferiority). With ``df``
    the Student-t distribution replaces the normal (for a paired t interval).
    """
    d = _finite("diff", diff)
    s = _finite("se", se)
    if s < 0:
        raise ParityInputError(f"se must be >= 0, got {se!r}")
    m, test, hib = _resolve(margin, legacy, test, higher_is_better)
    if s == 0:  # a degenerate interval: the test is decided by the point alone
        inside_low, inside_high = d > -m, d < m
        p_low, p_high = (0.0 if inside_low else 1.0), (0.0 if inside_high else 1.0)
    else:
        if df is None:
            p_low, p_high = float(ndtr(-(d + m) / s)), float(ndtr((d - m) / s))  # H0: true <= -m / >= +m
        else:
            p_low, p_high = float(_st.t.sf((d + m) / s, df)), float(_st.t.cdf((d - m) / s, df))
    if test == "equivalence":
        return max(p_low, p_high)
    return p_low if hib else p_high


def decision_power(true_diff: float, se: float, margin: float, *, alpha: float = 0.05,
                   test: str = "equivalence", higher_is_better: bool = True,
                   outcome: Verdict | str = Verdict.EQUIVALENT) -> float:
    """Probability that `decide` returns ``outcome`` when the truth is ``true_diff`` and the estimate is
    ``N(true_diff, se^2)`` with the normal ``(1 - 2*alpha)`` interval ``diff -/+ z_{1-alpha} se``.
    """
    outcome = Verdict(outcome)
    z = float(ndtri(1 - alpha))
    d, s, m = float(true_diff), float(se), float(margin)
    if s <= 0:
        raise ParityInputError(f"se must be > 0, got {se!r}")
    if test == "non_inferiority":
        sign = 1.0 if higher_is_better else -1.0
        d = sign * d  # now "worse" is negative
        if outcome is Verdict.EQUIVALENT:  # lo = diff - z s > -m
            return float(_nsf((-m - d) / s + z))
        if outcome is Verdict.NOT_EQUIVALENT:  # hi = diff + z s <= -m
            return float(ndtr((-m - d) / s - z))
        return 1.0 - decision_power(true_diff, se, margin, alpha=alpha, test=test,
                                    higher_is_better=higher_is_better, outcome=Verdict.EQUIVALENT) \
            - decision_power(true_diff, se, margin, alpha=alpha, test=test,
                             higher_is_better=higher_is_better, outcome=Verdict.NOT_EQUIVALENT)
    if outcome is Verdict.EQUIVALENT:  # -m < diff - z s and diff + z s < m
        return max(0.0, float(ndtr((m - d) / s - z) - ndtr((-m - d) / s + z)))
    if outcome is Verdict.NOT_EQUIVALENT:  # diff - z s >= m or diff + z s <= -m
        return float(_nsf((m - d) / s + z) + ndtr((-m - d) / s - z))
    eq = decision_power(true_diff, se, margin, alpha=alpha, test=test, outcome=Verdict.EQUIVALENT)
    ne = decision_power(true_diff, se, margin, alpha=alpha, test=test, outcome=Verdict.NOT_EQUIVALENT)
    return max(0.0, 1.0 - eq - ne)


def minimum_detectable_difference(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """``(z_{1-alpha} + z_{power}) * se``: the classic minimum detectable difference of a one-sided
    level-``alpha`` z-test, i.e. how far a true difference must lie from a margin for the one-sided bound
    on that side to land on the right side of it with probability ``power``.

    What it means for the verdicts at this n (normal approximation, `decision_power`):

    - One margin at a time: EQUIVALENT with probability >= ``power`` needs ``|true diff| <= m - mdd``
      (non-inferiority: exactly; equivalence: approximately, the far margin rarely matters), and
      NOT_EQUIVALENT needs ``|true diff| >= m + mdd``.
    - If the models are identical (true diff 0) and the margin equals ``mdd``, equivalence comes out with
      probability ``2 * power - 1`` (0.6 for power 0.8; measured 0.59 in simulation), not 0: both bounds
      must land inside. The margin that gives ``power`` at a true diff of 0 is
      ``(z_{1-alpha} + z_{(1+power)/2}) * se`` (2.93 se for alpha 0.05, power 0.8), see
      `n_required_planning`.
    - No margin at or below ``z_{1-alpha} * se`` can ever be shown EQUIVALENT at this n.
    """
    s = _finite("se", se)
    _check_alpha_power(alpha, power)
    return (float(ndtri(1 - alpha)) + float(ndtri(power))) * s


def _nsf(x: float) -> float:
    return float(ndtr(-x))


def _check_alpha_power(alpha: float, power: float) -> None:
    if not 0 < alpha < 0.5:
        raise ParityInputError(f"alpha must be in (0, 0.5), got {alpha!r}")
    if not 0 < power < 1:
        raise ParityInputError(f"power must be in (0, 1), got {power!r}")


def n_required_planning(se: float, n: int, margin: float, *, alpha: float = 0.05, power: float = 0.8,
                        test: str = "equivalence") -> int | None:
    """Rows for EQUIVALENT (non-inferior) with probability ``power`` if the true difference is 0: the
    planning number for a golden set, which does not chase the noise of the observed difference.

    With ``se(N) = se * sqrt(n / N)`` and a true difference of 0 the power of the interval rule is
    ``2 * Phi(m / se(N) - z_{1-alpha}) - 1`` for equivalence and ``Phi(m / se(N) - z_{1-alpha})`` for
    non-inferiority (`decision_power`), so ``N = n * ((z_{1-alpha} + z_{(1+power)/2}) * se / m)^2``
    (``z_{power}`` for non-inferiority), rounded up. None when ``se`` is 0 (nothing to plan). Never less
    than 1.
    """
    s, m = _finite("se", se), _finite("margin", margin)
    _check_alpha_power(alpha, power)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParityInputError(f"n must be a positive integer, got {n!r}")
    if m <= 0:
        raise ParityInputError(f"margin must be > 0, got {margin!r}")
    if test not in TESTS:
        raise ParityInputError(f"test must be one of {TESTS}, got {test!r}")
    if s <= 0:
        return None
    z_power = float(ndtri((1 + power) / 2)) if test == "equivalence" else float(ndtri(power))
    need = n * ((float(ndtri(1 - alpha)) + z_power) * s / m) ** 2
    return max(1, math.ceil(need * (1 - 1e-12)))  # a hair of slack so an exact integer is not bumped up


def n_required(diff: float, se: float, n: int, margin: float, *, alpha: float = 0.05, power: float = 0.8,
               test: str = "equivalence", higher_is_better: bool = True) -> int | None:
    """Rows needed to decide with probability ``power`` if the true difference were the observed ``diff``
    ("at the observed difference"; not a planning number: near the margin it explodes, e.g. tens of
    millions of rows for an observed difference a hair inside it; plan with `n_required_planning`).

    With ``se(N) = se * sqrt(n / N)`` the target is EQUIVALENT when ``diff`` is inside the margin and
    NOT_EQUIVALENT when it is outside. First guess (one-sided, the nearer margin):
    ``N = n * ((z_{1-alpha} + z_{power}) * se / (m - |diff|))^2``; then solved exactly for the normal
    power of the two-sided rule (`decision_power`), which only differs near ``diff = 0``. Returns None
    when the observed diff sits on the margin (no n decides it). Never less than 1.
    """
    d, s, m = _finite("diff", diff), _finite("se", se), _finite("margin", margin)
    _check_alpha_power(alpha, power)
    if not isinstance(n, (int,)) or n < 1:
        raise ParityInputError(f"n must be a positive integer, got {n!r}")
    if s <= 0 or m <= 0:
        return None
    if test == "equivalence":
        gap = m - abs(d)
    else:  # distance of the worse-side estimate from -m, positive when inside
        gap = m + (d if higher_is_better else -d)
    if gap == 0:
        return None
    target = Verdict.EQUIVALENT if gap > 0 else Verdict.NOT_EQUIVALENT
    zsum = float(ndtri(1 - alpha)) + float(ndtri(power))
    guess = n * (zsum * s / abs(gap)) ** 2

    def f(log_n: float) -> float:
        se_n = s * math.sqrt(n / math.exp(log_n))
        return decision_power(d, se_n, m, alpha=alpha, test=test, higher_is_better=higher_is_better,
                              outcome=target) - power

    lo_n, hi_n = max(guess / 16, 1.0), max(guess * 16, 2.0)
    if f(math.log(lo_n)) >= 0:
        return max(1, math.ceil(lo_n)) if lo_n <= 1.0 else _shrink(f, lo_n)
    while f(math.log(hi_n)) < 0:
        hi_n *= 16
        if hi_n > 1e18:
            return None
    root = brentq(f, math.log(lo_n), math.log(hi_n), xtol=1e-10)
    return max(1, math.ceil(math.exp(root) - 1e-9))


def _shrink(f: Any, lo_n: float) -> int:
    # power already reached at the lower bracket: walk down until it is not (or n = 1)
    hi_n = lo_n
    while lo_n > 1.0 and f(math.log(lo_n)) >= 0:
        hi_n, lo_n = lo_n, max(lo_n / 16, 1.0)
    if f(math.log(lo_n)) >= 0:
        return 1
    return max(1, math.ceil(math.exp(brentq(f, math.log(lo_n), math.log(hi_n), xtol=1e-10)) - 1e-9))
