"""Snapshots: what a ProbeSet produced in one environment, stored exactly and compactly.

Every output is stored with its dtype, shape, the sha256 of its little-endian bytes and summary
statistics. The values themselves are stored exactly (never as decimal text, which would round):

* up to ``inline_max_bytes`` (default 8 KiB, e.g. 1024 float64): base64 of the little-endian bytes,
  inline in the JSON — metrics, coefficients, losses per epoch, iteration counts;
* up to ``npz_max_bytes`` (default 4 MiB): in a compressed ``.npz`` next to the JSON (read back with
  ``allow_pickle=False``) — per-row predictions and features of a golden sample;
* larger: digest and summary only. Bitwise identity is still decided exactly (the digest); a
  difference can only be sized from the summaries, and the finding says so.

JSON outputs (strings, configuration dicts) are stored as canonical JSON with their digest.
"""
from __future__ import annotations

import base64
import hashlib
import json
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import ParityError, ParityInputError
from harness.upgrade.configs import to_config_json
from harness.upgrade.probes import Probe, ProbeSet

__all__ = ["INLINE_MAX_BYTES", "NPZ_MAX_BYTES", "SNAPSHOT_SCHEMA", "NumericNoise", "Output", "ProbeRecord", "Snapshot",
           "encode_output", "measure_noise", "take_snapshot"]

INLINE_MAX_BYTES = 8 * 1024
NPZ_MAX_BYTES = 4 * 1024 * 1024
_QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)
_ARRAY_KINDS = "biufcUS"  # what encode_output stores; anything else in a file was not written by us

_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "sha256"],
    "properties": {"kind": {"enum": ["json", "array"]}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
    "if": {"properties": {"kind": {"const": "json"}}},
    "then": {"required": ["value"]},
    "else": {
        "required": ["dtype", "shape", "storage"],
        "properties": {
            "dtype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "summary": {"type": "object"},
            "storage": {"enum": ["inline", "npz", "summary"]},
        },
        "allOf": [
            {"if": {"properties": {"storage": {"const": "inline"}}}, "then": {"required": ["data"], "properties": {"data": {"type": "string"}}}},
            {"if": {"properties": {"storage": {"const": "npz"}}}, "then": {"required": ["npz_key"], "properties": {"npz_key": {"type": "string"}}}},
        ],
    },
}

# The JSON layout `Snapshot.to_dict` writes (and parity_suites/baselines/README.md describes); reading a
# baseline validates against it first, so a malformed file is one message naming where, not a KeyError.
SNAPSHOT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["suite", "probes"],
    "properties": {
        "suite": {"type": "string"},
        "probes": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["category", "packages", "tolerance", "seeds", "runs"],
            "properties": {
                "category": {"type": "string"},
                "packages": {"type": "array", "items": {"type": "string"}},
                "tolerance": {"type": "object", "properties": {
                    "ulps": {"type": "integer", "minimum": 0}, "rtol": {"type": "number", "minimum": 0},
                    "atol": {"type": "number", "minimum": 0}}},
                "seeds": {"type": "array"},
                "error": {"type": ["string", "null"]},
                "executed": {"type": ["array", "null"], "items": {"type": "string"}},
                "declared_packages": {"type": "boolean"},
                # Optional (baselines before it compare as they did): see `NumericNoise`.
                "numeric_noise": {"type": "object", "required": ["perturbations", "bands"], "properties": {
                    "perturbations": {"type": "array", "items": {"type": "string"}},
                    "bands": {"type": "object", "additionalProperties": _OUTPUT_SCHEMA},
                    "varies": {"type": "array", "items": {"type": "string"}},
                    "inputs": {"type": "array", "items": {"type": "string"}}}},
                "runs": {"type": "array", "items": {
                    "type": "object", "required": ["seed", "outputs"],
                    "properties": {"outputs": {"type": "object", "additionalProperties": _OUTPUT_SCHEMA}}}},
            },
        }},
    },
}


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _le_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return np.ascontiguousarray(arr).tobytes()


def _array_digest(arr: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(f"{arr.dtype.newbyteorder('<').str}|{list(arr.shape)}|".encode())
    h.update(_le_bytes(arr))
    return h.hexdigest()


def _summary(arr: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(arr.size)}
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        return out
    x = arr.astype(np.float64, copy=False).ravel()
    finite = np.isfinite(x)
    out["n_nan"] = int(np.isnan(x).sum())
    out["n_inf"] = int(np.isinf(x).sum())
    if finite.any():
        xf = x[finite]
        out["mean"] = float(xf.mean())
        out["std"] = float(xf.std())
        out["quantiles"] = {str(q): float(v) for q, v in zip(_QUANTILES, np.quantile(xf, _QUANTILES))}
    return out


@dataclass
class Output:
    """One named output of one probe run. ``array`` is None when only digest and summary were stored."""

    kind: str  # "array" | "json"
    sha256: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    array: np.ndarray | None = None
    value: Any = None  # for kind == "json"

    def to_dict(self, *, npz_key: str, npz: dict[str, np.ndarray], inline_max_bytes: int, npz_max_bytes: int) -> dict[str, Any]:
        if self.kind == "json":
            return {"kind": "json", "sha256": self.sha256, "value": self.value}
        d: dict[str, Any] = {"kind": "array", "dtype": self.dtype, "shape": list(self.shape or ()), "sha256": self.sha256,
                             "summary": self.summary}
        if self.array is None:
            d["storage"] = "summary"
        elif self.array.nbytes <= inline_max_bytes:
            d["storage"] = "inline"
            d["data"] = base64.b64encode(_le_bytes(self.array)).decode("ascii")
        elif self.array.nbytes <= npz_max_bytes:
            d["storage"] = "npz"
            d["npz_key"] = npz_key
            npz[npz_key] = self.array.astype(self.array.dtype.newbyteorder("<"), copy=False)
        else:
            d["storage"] = "summary"
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, npz: Mapping[str, np.ndarray] | None, where: str) -> Output:
        try:
            if d["kind"] == "json":
                return cls(kind="json", sha256=d["sha256"], value=d["value"])
            dtype, shape = np.dtype(d["dtype"]), tuple(d["shape"])
            if dtype.kind not in _ARRAY_KINDS:
                raise ParityInputError(f"{where}: dtype {d['dtype']!r} is not a numeric, bool or string dtype")
            array = None
            if d["storage"] == "inline":
                array = np.frombuffer(base64.b64decode(d["data"]), dtype=dtype).reshape(shape).copy()
            elif d["storage"] == "npz":
                if npz is None or d["npz_key"] not in npz:
                    raise ParityInputError(f"{where}: array {d['npz_key']!r} missing from the baseline's .npz file")
                array = np.asarray(npz[d["npz_key"]])
                if array.dtype.kind not in _ARRAY_KINDS:
                    raise ParityInputError(f"{where}: array {d['npz_key']!r} in the .npz has dtype {array.dtype}")
            out = cls(kind="array", sha256=d["sha256"], dtype=d["dtype"], shape=shape, summary=dict(d.get("summary", {})),
                      array=array)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ParityInputError):
                raise
            raise ParityInputError(f"{where}: malformed stored output ({type(exc).__name__}: {exc})") from None
        if out.array is not None and _array_digest(out.array) != out.sha256:
            raise ParityInputError(f"{where}: stored values do not match their sha256 (file edited or corrupted)")
        return out


def encode_output(value: Any, *, where: str) -> Output:
    """Turn one probe output (array, number, string, JSON-able dict/list) into an `Output`."""
    if isinstance(value, (list, tuple)):
        try:  # a list of numbers (Keras history, losses per iteration) is an array; anything else is JSON
            as_array = np.asarray(value)
        except (ValueError, TypeError):
            as_array = None
        if as_array is not None and as_array.dtype.kind in "biuf" and as_array.size:
            value = as_array
    if isinstance(value, (str, Mapping, list, tuple)):
        canon = to_config_json(value)
        return Output(kind="json", sha256=hashlib.sha256(_canonical_json(canon).encode()).hexdigest(), value=canon)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001
        raise ParityInputError(f"{where}: cannot convert {type(value).__name__} to an array ({exc})") from None
    if arr.dtype.kind not in "biufcUS":
        raise ParityInputError(
            f"{where}: outputs must be numeric/bool/string arrays, numbers, strings or JSON-able dicts; "
            f"got an array of dtype {arr.dtype} (convert objects to numbers or to a dict first)"
        )
    arr = np.ascontiguousarray(arr)
    return Output(kind="array", sha256=_array_digest(arr), dtype=arr.dtype.newbyteorder("<").str, shape=tuple(arr.shape),
                  summary=_summary(arr), array=arr)


@dataclass
class NumericNoise:
    """How far the first seed's outputs moved under numerics-only perturbations (`harness.upgrade.perturb`):
    ``bands[output]`` is, per element, max |perturbed - base| over the ``perturbations`` run (float64;
    0 where nothing moved); ``varies`` names outputs whose shape or type changed under a perturbation,
    or that moved by more than `MAX_RELATIVE_BAND` of their magnitude (no band: the perturbation changed
    what the probe computes, not just its last bits); ``inputs`` is
    what the input perturbations changed (``"jitter(X)"``, ``"permute(X, y)"``, ``"jitter"`` for the
    helper), empty when the probe declared no inputs and called no helper (then only the thread-count
    run could move it), None in baselines recorded before it was kept."""

    perturbations: list[str]
    bands: dict[str, Output]
    varies: list[str] = field(default_factory=list)
    inputs: list[str] | None = None

    def band(self, output: str) -> np.ndarray | None:
        b = self.bands.get(output)
        return None if b is None else b.array


@dataclass
class ProbeRecord:
    """One probe's runs: ``runs`` maps each seed (None for unseeded probes) to its outputs."""

    name: str
    category: str
    packages: tuple[str, ...]
    tolerance: dict[str, Any]
    seeds: list[Any]
    runs: list[tuple[Any, dict[str, Output]]] = field(default_factory=list)
    error: str | None = None  # "ExceptionType: message" when the probe raised
    # Distributions whose code the (first) run executed; None when not watched (older baselines).
    executed: list[str] | None = None
    declared_packages: bool = False  # ``packages`` was given by the suite, not the category's defaults
    noise: NumericNoise | None = None  # measured by a baseline; None in a check and in older baselines

    def outputs(self, seed: Any) -> dict[str, Output]:
        for s, outs in self.runs:
            if s == seed:
                return outs
        raise KeyError(seed)


@dataclass
class Snapshot:
    suite: str
    probes: dict[str, ProbeRecord]

    def to_dict(self, *, inline_max_bytes: int = INLINE_MAX_BYTES, npz_max_bytes: int = NPZ_MAX_BYTES
                ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The JSON document and the arrays that go into the .npz (empty dict when none)."""
        from harness.results import jsonable

        npz: dict[str, np.ndarray] = {}
        probes = {}
        for name, rec in sorted(self.probes.items()):
            runs = []
            for i, (seed, outs) in enumerate(rec.runs):
                runs.append({"seed": jsonable(seed), "outputs": {
                    out_name: out.to_dict(npz_key=f"{name}.{i}.{out_name}", npz=npz, inline_max_bytes=inline_max_bytes,
                                          npz_max_bytes=npz_max_bytes)
                    for out_name, out in sorted(outs.items())}})
            probes[name] = {"category": rec.category, "packages": list(rec.packages), "tolerance": rec.tolerance,
                            "seeds": jsonable(rec.seeds), "error": rec.error, "runs": runs}
            if rec.executed is not None:
                probes[name].update(executed=list(rec.executed), declared_packages=rec.declared_packages)
            if rec.noise is not None:
                probes[name]["numeric_noise"] = {
                    "perturbations": list(rec.noise.perturbations), "varies": sorted(rec.noise.varies),
                    **({} if rec.noise.inputs is None else {"inputs": list(rec.noise.inputs)}),
                    "bands": {o: b.to_dict(npz_key=f"{name}.noise.{o}", npz=npz, inline_max_bytes=inline_max_bytes,
                                           npz_max_bytes=npz_max_bytes) for o, b in sorted(rec.noise.bands.items())}}
        return {"suite": self.suite, "probes": probes}, npz

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, npz: Mapping[str, np.ndarray] | None = None, where: str = "snapshot") -> Snapshot:
        try:
            probes = {}
            for name, p in d["probes"].items():
                runs = [(r["seed"], {o: Output.from_dict(od, npz=npz, where=f"{where}: probe {name!r} output {o!r}")
                                     for o, od in r["outputs"].items()}) for r in p["runs"]]
                probes[name] = ProbeRecord(name=name, category=p["category"], packages=tuple(p["packages"]),
                                           tolerance=dict(p["tolerance"]), seeds=list(p["seeds"]), runs=runs,
                                           error=p.get("error"), executed=p.get("executed"),
                                           declared_packages=bool(p.get("declared_packages", False)))
                if p.get("numeric_noise") is not None:
                    nn = p["numeric_noise"]
                    probes[name].noise = NumericNoise(
                        perturbations=list(nn["perturbations"]), varies=list(nn.get("varies", [])),
                        inputs=None if nn.get("inputs") is None else list(nn["inputs"]),
                        bands={o: Output.from_dict(od, npz=npz, where=f"{where}: probe {name!r} noise band {o!r}")
                               for o, od in nn["bands"].items()})
            return cls(suite=d["suite"], probes=probes)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParityInputError(f"{where}: not a snapshot document (missing or malformed {exc})") from None


def _run_probe(probe: Probe, seeds: Iterable[Any], *, raise_errors: bool) -> ProbeRecord:
    from harness.upgrade.evidence import watch

    rec = ProbeRecord(name=probe.name, category=probe.category, packages=tuple(probe.packages),
                      tolerance=probe.tolerance.to_dict(), seeds=list(probe.seeds),
                      declared_packages=probe.declared_packages)
    for i, seed in enumerate(seeds):
        evidence = None
        try:
            if i == 0:  # the check runs the first seed only; the other seeds run the same code
                with watch() as evidence:
                    raw = probe.run(seed)
                rec.executed = evidence.distributions()
            else:
                raw = probe.run(seed)
            outs = {name: encode_output(value, where=f"probe {probe.name!r} (seed {seed!r}) output {name!r}")
                    for name, value in raw.items()}
        except ParityInputError:
            raise  # a malformed probe is the user's bug in any environment: say so, don't record it
        except Exception as exc:  # noqa: BLE001 - in a check, "it raises now" is itself a behaviour change
            if raise_errors:  # recording: a probe that cannot run here means no baseline can be made
                raise ParityError(f"probe {probe.name!r} (seed {seed!r}) raised {type(exc).__name__}: {exc}") from exc
            if evidence is not None:  # what it ran before raising is still evidence
                rec.executed = evidence.distributions()
            last = traceback.extract_tb(exc.__traceback__)[-1]
            rec.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''} ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
            rec.runs = []
            return rec
        rec.runs.append((seed, outs))
    return rec


NOISE_CATEGORIES = ("learning", "inference")


def _band(base: Output, other: Output) -> np.ndarray | None:
    """Per element |other - base| as float64 (NaN on both sides: 0; on one: inf); None when the two are
    not comparable numbers of one layout."""
    if (base.kind != "array" or other.kind != "array" or base.dtype != other.dtype or base.shape != other.shape
            or base.array is None or other.array is None or np.dtype(base.dtype).kind not in "biuf"):
        return None
    a, b = base.array.astype(np.float64), other.array.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(b - a)
    both_nan = np.isnan(a) & np.isnan(b)
    return np.where(both_nan | (a == b), 0.0, np.where(np.isnan(d), np.inf, d))


# A 1-ULP input change or a reordered sum moves a fit by what its conditioning makes of ~1e-16; more
# than this share of the output's largest magnitude is not that: the output follows a permuted input's
# row order (scores on the permuted training rows), or a tie flipped a discrete choice. Such a band would
# hide real changes, so the output gets none.
MAX_RELATIVE_BAND = 1e-4


def _beyond_numerics(base: Output, band: np.ndarray) -> bool:
    if base.array is None or np.dtype(base.dtype).kind != "f" or not band.size:
        return False
    mag = np.abs(base.array.astype(np.float64))
    finite = np.isfinite(mag)
    scale = float(mag[finite].max()) if finite.any() else 0.0
    top = float(np.max(band))
    return not np.isfinite(top) or (top > 0 and top > MAX_RELATIVE_BAND * scale)


def measure_noise(probe: Probe, rec: ProbeRecord) -> NumericNoise | None:
    """Re-run the probe's first seed under each numerics-only perturbation (`perturb.perturbations`) and
    keep, per output, the largest move from the recorded run. Input perturbations after the first are
    skipped when the probe neither declared inputs nor used the `perturb.current()` helpers (they would
    re-run it unchanged)."""
    from harness.upgrade import perturb

    if probe.category not in NOISE_CATEGORIES or rec.error is not None or not rec.runs:
        return None
    seed, base = rec.runs[0]
    bands: dict[str, np.ndarray] = {}
    varies: set[str] = set()
    names: list[str] = []
    inputs_used: bool | None = None
    touched: list[str] = []
    for p in perturb.perturbations():
        if p.seed is not None and inputs_used is False:
            continue
        try:
            with perturb.perturbed(p):
                raw = probe.run(seed)
            outs = {n: encode_output(v, where=f"probe {probe.name!r} ({p.name}) output {n!r}") for n, v in raw.items()}
        except ParityInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a probe that only runs unperturbed cannot have a band
            raise ParityError(f"probe {probe.name!r} (seed {seed!r}) raised {type(exc).__name__} when re-run under "
                              f"the numerics-only perturbation {p.name}: {exc}") from exc
        if p.seed is not None:
            inputs_used = bool(p.used)
            touched += [u for u in p.used if u not in touched]
        names.append(p.name)
        for out, b in base.items():
            d = _band(b, outs[out]) if out in outs else None
            if d is None:
                if b.kind == "array" and b.array is not None and not (out in outs and outs[out].sha256 == b.sha256):
                    varies.add(out)
                continue
            bands[out] = d if out not in bands else np.maximum(bands[out], d)
    for out, band in bands.items():
        if _beyond_numerics(base[out], band):
            varies.add(out)
    for out in varies:
        bands.pop(out, None)
    return NumericNoise(perturbations=names, varies=sorted(varies), inputs=touched,
                        bands={o: encode_output(np.ascontiguousarray(a), where=f"noise band {o!r}") for o, a in bands.items()})


def take_snapshot(probeset: ProbeSet, *, seeds: str = "all", probes: Iterable[str] | None = None,
                  raise_errors: bool = False, noise: bool = False) -> Snapshot:
    """Run the probes (``seeds="all"``: every seed, as the baseline does; ``"first"``: the first seed only).

    A probe that raises is recorded with ``error`` set (or re-raised when ``raise_errors``). ``noise``
    (a baseline): also measure each learning and inference probe's numerical noise (`measure_noise`).
    """
    if not isinstance(probeset, ProbeSet):
        raise ParityInputError(f"take_snapshot: expected a harness.upgrade.ProbeSet, got {type(probeset).__name__}")
    if seeds not in ("all", "first"):
        raise ParityInputError(f"take_snapshot: seeds must be 'all' or 'first', got {seeds!r}")
    chosen = [probeset[n] for n in probes] if probes is not None else list(probeset)
    records = {}
    for probe in chosen:
        run_seeds = probe.seeds if seeds == "all" else probe.seeds[:1]
        records[probe.name] = _run_probe(probe, run_seeds, raise_errors=raise_errors)
        if noise:
            records[probe.name].noise = measure_noise(probe, records[probe.name])
    return Snapshot(suite=probeset.suite, probes=records)
