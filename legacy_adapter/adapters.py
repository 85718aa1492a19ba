"""Sides the harness scores through when the legacy model is not a Python object we built.

* `SklearnSide`: any fitted (or fittable) scikit-learn estimator behind a featurizer, in process
  (`Columns` is the featurizer for "these numeric columns as they are"; it lives in
  `harness.featurization.columns`, shared with the new platform, and is re-exported here).
* `ScoreFileSide`: a file of precomputed scores keyed by id — the common case where the legacy system
  cannot run in Python at all, only export what it served.
* `ExternalScorerSide`: a program run as a subprocess (CSV or Parquet in, scores out), with a timeout.

The last two return a ``pandas.Series`` indexed by the dataset key. Missing keys stay missing and
duplicates stay duplicated: the runner aligns by key and reports both, so nothing here drops or
de-duplicates rows behind its back.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError, ScorerError
from harness.featurization.columns import Columns

__all__ = ["Columns", "SklearnSide", "ScoreFileSide", "ExternalScorerSide"]

_FORMATS = ("csv", "parquet")
_STDERR_TAIL_CHARS = 2000


def _file_format(path: Path, *, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ParityInputError(f"{what} {str(path)!r}: unknown format {suffix!r}; expected a .csv or .parquet file")


def _read_table(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        # Scores and keys are read as text first, so a non-numeric cell can be reported with its row
        # instead of pandas silently turning the whole column into objects or floats.
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_parquet(path)


def _row_label(fmt: str, i: int) -> str:
    # CSV users open the file in an editor: give the line too (header is line 1).
    return f"row {i} (line {i + 2})" if fmt == "csv" else f"row {i}"


def _numeric_column(frame: pd.DataFrame, column: str, *, fmt: str, where: str, error: type[Exception]) -> np.ndarray:
    """The column as float64, or ``error`` naming the first unparsable or non-finite cell."""
    values = frame[column]
    if fmt == "csv":
        # Python's float() rounds every decimal string correctly; pandas 2.2's to_numeric is off by an ULP
        # on about a third of 17-digit scores, which a parity tool cannot afford. Empty cells become NaN
        # and are reported below as non-finite.
        text = values.astype(str).str.strip().tolist()
        out = np.empty(len(text), dtype=np.float64)
        bad_rows = []
        for i, cell in enumerate(text):
            try:
                out[i] = float(cell) if cell else np.nan
            except ValueError:
                out[i] = np.nan
                bad_rows.append(i)
        if bad_rows:
            i = bad_rows[0]
            raise error(
                f"{where}: column {column!r} must be numeric; {_row_label(fmt, i)} holds {values.iloc[i]!r} "
                f"({len(bad_rows)} unparsable cell(s) in all)"
            )
    elif pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        raise error(f"{where}: column {column!r} must be numeric, found dtype {values.dtype}")
    else:
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        raw = frame[column].iloc[i]
        if isinstance(raw, str):
            shown = "an empty cell" if raw.strip() == "" else repr(raw)
        else:
            shown = repr(float(out[i]))
        raise error(
            f"{where}: column {column!r} must hold finite numbers; {_row_label(fmt, i)} holds {shown} "
            f"({bad.size} non-finite cell(s) in all)"
        )
    return out


def _key_column(frame: pd.DataFrame, column: str, *, fmt: str, where: str, error: type[Exception]) -> pd.Series:
    """Keys as int64 when they are integers (the golden key dtype), else as strings; empty keys refused."""
    values = frame[column]
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        raise error(f"{where}: key column {column!r} is empty at {_row_label(fmt, int(missing[0]))}")
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(np.int64).reset_index(drop=True)
    text = values.astype(str).str.strip()
    empty = np.flatnonzero((text == "").to_numpy())
    if empty.size:
        raise error(f"{where}: key column {column!r} is empty at {_row_label(fmt, int(empty[0]))}")
    if fmt == "csv" and text.str.fullmatch(r"[+-]?\d+").all():
        try:
            # Parsed from the text itself (never through float): an id beyond int64 stays text, not rounded.
            return text.astype(np.int64).reset_index(drop=True)
        except (OverflowError, ValueError):
            pass
    return text.reset_index(drop=True)


def _batch_keys(batch: Any, key: str, *, who: str) -> pd.Series:
    if not isinstance(batch, pd.DataFrame):
        raise ParityInputError(f"{who}: batch must be a pandas DataFrame, got {type(batch).__name__}")
    if key not in batch.columns:
        raise ParityInputError(f"{who}: batch has no key column {key!r}; columns are {list(batch.columns)}")
    return batch[key]


def _check_key_kinds(file_keys: pd.Series, batch_keys: pd.Series, *, fmt: str, where: str) -> None:
    # An int key in the data and a string key in the file would match nothing and look like "all rows
    # missing"; say what is wrong instead, at the first key that differs in kind.
    file_int = pd.api.types.is_integer_dtype(file_keys.dtype)
    batch_int = pd.api.types.is_integer_dtype(batch_keys.dtype)
    if file_int == batch_int:
        return
    batch = f"the batch's key column {batch_keys.name!r} ({batch_keys.dtype})"
    if batch_int:
        text = file_keys.astype(str)
        not_int = np.flatnonzero(~text.str.fullmatch(r"[+-]?\d+").to_numpy())
        i = int(not_int[0]) if not_int.size else 0
        why = ("is not an integer" if not_int.size else "is an integer beyond int64's range") + f", as {batch} is"
        hint = "; write integer keys without a decimal point (a key that went through float is written as 3000.0)" \
            if not_int.size else ""
        raise ParityInputError(f"{where}: key column {file_keys.name!r} at {_row_label(fmt, i)} holds "
                               f"{text.iloc[i]!r}, which {why}; the keys must be of the same kind to align{hint}",
                               column=file_keys.name, row=i, value=text.iloc[i])
    raise ParityInputError(f"{where}: key column {file_keys.name!r} holds integers (at {_row_label(fmt, 0)}: "
                           f"{int(file_keys.iloc[0])}), but {batch} holds text (e.g. {str(batch_keys.iloc[0])!r}); "
                           "the keys must be of the same kind to align", column=file_keys.name, row=0,
                           value=int(file_keys.iloc[0]))


def _series(keys: pd.Series, scores: np.ndarray, key: str, name: str) -> pd.Series:
    index = pd.Index(keys.to_numpy(), name=key)
    return pd.Series(np.asarray(scores, dtype=np.float64), index=index, name=name)


def check_scoring_method(who: str, estimator: Any, proba: bool) -> None:
    """The estimator has what ``proba`` scores with (``predict_proba`` or ``predict``); else an error that
    says which ``proba`` the estimator can take."""
    method = "predict_proba" if proba else "predict"
    if hasattr(estimator, method):
        return
    hint = ("; a regressor, or a model scored by its own predict(), takes proba=False" if proba
            and hasattr(estimator, "predict") else "")
    raise ParityInputError(f"{who}: estimator {type(estimator).__name__} has no {method}() (proba={proba!r}: "
                           f"{'P(positive class) from predict_proba' if proba else 'the scores of predict'}){hint}",
                           argument="proba", value=proba)


class SklearnSide:
    """An in-process scikit-learn estimator behind a featurizer (anything with ``transform(frame)``).

    ``predict`` returns P(positive class) when ``proba`` (the last column of ``predict_proba``), else
    ``estimator.predict``; both as float64 positionally aligned with the batch. ``fit`` needs ``label``.
    """

    def __init__(self, name: str, estimator: Any, featurizer: Any, *, proba: bool = True, label: str | None = None):
        if not hasattr(featurizer, "transform"):
            raise ParityInputError(f"SklearnSide({name!r}): featurizer must have transform(frame), got {type(featurizer).__name__}")
        check_scoring_method(f"SklearnSide({name!r})", estimator, proba)
        self.name = name
        self.estimator = estimator
        self.featurizer = featurizer
        self.proba = proba
        self.label = label

    def feature_names(self) -> list[str] | None:
        from harness.protocol import featurizer_names

        return featurizer_names(self.featurizer)

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.featurizer.transform(batch)

    def fit(self, train: pd.DataFrame) -> SklearnSide:
        if self.label is None:
            raise ParityInputError(f"SklearnSide({self.name!r}): fit needs label=... (the label column)")
        if self.label not in train.columns:
            raise ParityInputError(f"SklearnSide({self.name!r}): training frame has no label column {self.label!r}")
        self.estimator.fit(self.featurize(train), train[self.label].to_numpy())
        return self

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        features = self.featurize(batch)
        if self.proba:
            return np.asarray(self.estimator.predict_proba(features)[:, -1], dtype=np.float64)
        return np.asarray(self.estimator.predict(features), dtype=np.float64)

    def config(self) -> dict[str, Any]:
        from harness.results import jsonable

        params = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                  for k, v in self.estimator.get_params(deep=True).items()}
        return jsonable({"kind": "sklearn", "estimator": type(self.estimator).__qualname__, "params": params,
                         "proba": self.proba})


class ScoreFileSide:
    """Precomputed scores keyed by id, from a Parquet or CSV file; validated once when constructed."""

    def __init__(self, path: str | os.PathLike[str], *, key: str, score: str = "score", name: str | None = None):
        self.path = Path(path)
        self.key = key
        self.score = score
        self.name = name if name is not None else f"scores:{self.path.name}"
        where = f"score file {str(self.path)!r}"
        if not self.path.is_file():
            how = "" if self.path.is_absolute() else (
                f" (a relative path is read from the current directory: {str(Path.cwd() / self.path)!r}; for a file "
                "next to the suite file, pass Path(__file__).parent / ...)")
            raise ParityInputError(f"{where} does not exist or is not a file{how}", file=str(self.path))
        self.format = _file_format(self.path, what="score file")
        try:
            frame = _read_table(self.path, self.format)
        except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
            raise ParityInputError(f"{where}: cannot be read as {self.format}: {exc}") from exc
        missing = [c for c in (key, score) if c not in frame.columns]
        if missing:
            raise ParityInputError(f"{where}: missing column(s) {missing}; found {list(frame.columns)}")
        self._keys = _key_column(frame, key, fmt=self.format, where=where, error=ParityInputError)
        self._scores = _numeric_column(frame, score, fmt=self.format, where=where, error=ParityInputError)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def feature_names(self) -> list[str]:
        return []  # scores only: nothing to featurize

    def featurize(self, batch: Any) -> None:
        return None

    def predict(self, batch: pd.DataFrame) -> pd.Series:
        keys = _batch_keys(batch, self.key, who=f"ScoreFileSide({self.name!r})")
        _check_key_kinds(self._keys, keys, fmt=self.format, where=f"score file {str(self.path)!r}")
        mask = self._keys.isin(keys).to_numpy()
        return _series(self._keys[mask], self._scores[mask], self.key, self.name)

    def config(self) -> dict[str, Any]:
        return {"kind": "score_file", "path": str(self.path), "format": self.format, "key": self.key,
                "score": self.score, "rows": int(len(self._keys)), "sha256": self.sha256}


class ExternalScorerSide:
    """Scores from an external program: the batch's raw rows go in a file, scores come back in a file.

    ``argv`` is the command as a list (never run through a shell); the placeholders ``{input}`` and
    ``{output}`` inside its items are replaced by the temp file paths. Both files use ``input_format``.
    The output must hold the ``key`` and ``score`` columns; keys the program leaves out stay missing.
    """

    def __init__(self, argv: Sequence[str], *, key: str, input_format: str = "csv", timeout: float = 60,
                 score: str = "score", name: str | None = None, env: dict[str, str] | None = None):
        if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence) or not argv:
            raise ParityInputError(
                f"ExternalScorerSide: argv must be a non-empty list of strings (no shell), got {argv!r}"
            )
        if not all(isinstance(a, str) for a in argv):
            raise ParityInputError(f"ExternalScorerSide: every argv item must be a str, got {argv!r}")
        for placeholder in ("{input}", "{output}"):
            if not any(placeholder in a for a in argv):
                raise ParityInputError(
                    f"ExternalScorerSide: argv {list(argv)!r} has no {placeholder} placeholder; "
                    "the program is told where to read rows and write scores through argv"
                )
        if input_format not in _FORMATS:
            raise ParityInputError(f"ExternalScorerSide: input_format must be one of {_FORMATS}, got {input_format!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ParityInputError(f"ExternalScorerSide: timeout must be a positive number of seconds, got {timeout!r}")
        self.argv = list(argv)
        self.key = key
        self.input_format = input_format
        self.timeout = float(timeout)
        self.score = score
        self.env = env
        self.name = name if name is not None else f"external:{Path(argv[0]).name}"

    def feature_names(self) -> list[str]:
        return []  # scores only: nothing to featurize

    def featurize(self, batch: Any) -> None:
        return None

    def predict(self, batch: pd.DataFrame) -> pd.Series:
        keys = _batch_keys(batch, self.key, who=f"ExternalScorerSide({self.name!r})")
        with tempfile.TemporaryDirectory(prefix="parity-scorer-") as tmp:
            inp = Path(tmp) / f"input.{self.input_format}"
            out = Path(tmp) / f"output.{self.input_format}"
            if self.input_format == "csv":
                batch.to_csv(inp, index=False)
            else:
                batch.to_parquet(inp, index=False)
            argv = [a.replace("{input}", str(inp)).replace("{output}", str(out)) for a in self.argv]
            try:
                self._run(argv)
                return self._read_output(out, keys)
            except ScorerError as exc:
                # The temp folder's name is new on every call: said as the placeholders the suite wrote,
                # so that a report of the same failure is the same bytes run after run.
                text = str(exc).replace(str(inp), "{input}").replace(str(out), "{output}")
                raise ScorerError(text.replace(str(tmp), "{temporary folder}")) from exc.__cause__

    def _run(self, argv: list[str]) -> None:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=self.env, start_new_session=(os.name == "posix"))
        except OSError as exc:
            raise ScorerError(f"external scorer {self.name!r}: cannot start {argv[0]!r}: {exc}") from exc
        try:
            _, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise ScorerError(
                f"external scorer {self.name!r} timed out after {self.timeout:g} s and was killed "
                f"(command {argv!r}); raise timeout=... if the program is just slow"
            ) from None
        if proc.returncode != 0:
            tail = stderr.decode("utf-8", errors="replace")[-_STDERR_TAIL_CHARS:].strip()
            how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                   else f"exited with code {proc.returncode}")
            raise ScorerError(
                f"external scorer {self.name!r} {how} (command {argv!r}); stderr tail:\n{tail or '(empty)'}"
            )

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        # The program may have started children that hold our pipes open; kill its whole session (it was
        # started in a new one, so this reaches nothing else), then reap.
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass
        proc.communicate()

    def _read_output(self, out: Path, batch_keys: pd.Series) -> pd.Series:
        where = f"external scorer {self.name!r} output"
        if not out.is_file():
            raise ScorerError(f"{where}: the program exited 0 but wrote no output file (expected {str(out)!r})")
        try:
            frame = _read_table(out, self.input_format)
        except Exception as exc:
            raise ScorerError(f"{where}: cannot be read as {self.input_format}: {exc}") from exc
        missing = [c for c in (self.key, self.score) if c not in frame.columns]
        if missing:
            raise ScorerError(f"{where}: missing column(s) {missing}; found {list(frame.columns)}")
        keys = _key_column(frame, self.key, fmt=self.input_format, where=where, error=ScorerError)
        scores = _numeric_column(frame, self.score, fmt=self.input_format, where=where, error=ScorerError)
        try:
            _check_key_kinds(keys, batch_keys, fmt=self.input_format, where=where)
        except ParityInputError as exc:
            raise ScorerError(str(exc)) from None
        return _series(keys, scores, self.key, self.name)

    def config(self) -> dict[str, Any]:
        return {"kind": "external_scorer", "argv": list(self.argv), "key": self.key, "score": self.score,
                "input_format": self.input_format, "timeout": self.timeout}
