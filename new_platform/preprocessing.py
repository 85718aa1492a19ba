"""A new side whose featurization is Keras preprocessing (or a ``tf.function``), scored as it is served.

* `KerasPreprocessingSide`: exports the model once (a SavedModel in a temporary directory, with a
  ``serving_default`` and a ``featurize`` signature over one 1-D tensor per raw column), then scores
  and featurizes through the loaded signatures, so what is compared is what would be served. The
  features are the outputs of a named preprocessing sub-model (or of a separate preprocessing model /
  ``tf.function``).
* `keras_preprocessing_from_column_transformer(ct)`: the Keras preprocessing model of a fitted
  `ColumnTransformer`, one output per ``ct.get_feature_names_out()`` name, so a suite can prove the port
  feature by feature.
"""
from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import ParityInputError, ScorerError
from new_platform.sides import one_score_per_row

__all__ = ["KerasPreprocessingSide", "feature_matrix", "keras_preprocessing_from_column_transformer"]

_DTYPES = ("string", "float16", "float32", "float64", "int32", "int64", "bool")


def feature_matrix(features: Mapping[str, Any], names: list[str] | None = None, *, dtype: str = "float32") -> Any:
    """The features (a dict of 1-D or 2-D tensors, Keras or TF) as one ``(rows, columns)`` matrix of
    ``dtype``, in ``names`` order (default: the dict's): the usual input of a dense model."""
    import keras

    parts = []
    for name in names if names is not None else list(features):
        t = keras.ops.cast(features[name], dtype)
        parts.append(keras.ops.expand_dims(t, -1) if len(t.shape) == 1 else t)
    return keras.ops.concatenate(parts, axis=-1)


def _input_dtype(tensor: Any) -> str:
    dtype = getattr(tensor.dtype, "name", tensor.dtype)
    return str(dtype)


class KerasPreprocessingSide:
    """A `harness.protocol.ModelSide` over raw columns, through an exported serving signature.

    Two shapes of model:

    * ``preprocessing`` is a layer name: ``model`` takes the raw columns (a dict of named inputs) and
      contains the sub-model ``model.get_layer(preprocessing)`` whose outputs are the features;
    * ``preprocessing`` is a Keras model or a callable (a ``tf.function``) from a dict of raw 1-D
      tensors to a dict of features, and ``model`` takes those features: a dict of the same names, or
      one matrix (`feature_matrix` of every feature in `feature_outputs` order: a Keras model's output
      order, else sorted by name; in the model's input dtype). A plain callable needs
      ``raw_inputs={column: dtype}`` (or a ``tf.function`` input signature of one dict).

    Features come back under their output names; a feature of width k > 1 (a one-hot) becomes the
    columns ``name_0 .. name_{k-1}``. Dtypes are kept as served (a float32 feature is compared in
    float32 ULPs). Scores are float64, one per row; with several output units ``output_index`` picks one.
    """

    def __init__(self, name: str, model: Any, preprocessing: str | Callable[..., Any] = "preprocessing", *,
                 raw_inputs: Mapping[str, str] | None = None, output_index: int | None = None,
                 batch_size: int = 65536):
        import keras

        self.who = f"KerasPreprocessingSide({name!r})"
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParityInputError(f"{self.who}: batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(model, keras.Model):
            raise ParityInputError(f"{self.who}: model must be a keras.Model, got {type(model).__name__}")
        self.name, self.model, self.output_index, self.batch_size = name, model, output_index, batch_size
        if isinstance(preprocessing, str):
            try:
                self.preprocessing = model.get_layer(preprocessing)
            except ValueError:
                raise ParityInputError(
                    f"{self.who}: the model has no layer {preprocessing!r}; its layers are "
                    f"{[layer.name for layer in model.layers]}") from None
            self.end_to_end, self._model_input = True, None
            self._raw = self._inputs_of(model, "model")
            self._prep_raw = self._inputs_of(self.preprocessing, f"sub-model {preprocessing!r}")
        elif callable(preprocessing):
            self.preprocessing, self.end_to_end = preprocessing, False
            self._raw = (self._inputs_of(preprocessing, "preprocessing") if raw_inputs is None
                         and isinstance(preprocessing, keras.Model) else self._declared(raw_inputs, preprocessing))
            self._prep_raw = self._raw if isinstance(preprocessing, keras.Model) else None
            try:
                structured = model.input
            except AttributeError:  # a Sequential declares inputs but has no .input before a call
                structured = None
            # dict inputs take the features by name; one input takes them as one matrix of its dtype
            if isinstance(structured, dict):
                self._model_input = None
            elif len(model.inputs) == 1:
                self._model_input = _input_dtype(model.inputs[0])
            else:
                raise ParityInputError(f"{self.who}: the model must take the features as a dict of named inputs or "
                                       f"as one matrix; it has {len(model.inputs)} inputs")
        else:
            raise ParityInputError(f"{self.who}: preprocessing must be a layer name or a callable, "
                                   f"got {type(preprocessing).__name__}")
        self._path: Path | None = None
        self._loaded: Any = None
        self._stored: dict[str, Any] | None = None  # set on a side loaded from its pickle (`_reload_exported`)

    def _inputs_of(self, model: Any, what: str) -> dict[str, tuple[str, int]]:
        inputs = model.input
        if not isinstance(inputs, dict):
            raise ParityInputError(f"{self.who}: the {what}'s inputs must be a dict of named raw columns "
                                   "(keras.Input(shape=(), name=column, dtype=...) per column)")
        out = {}
        for col, tensor in inputs.items():
            rank = len(tensor.shape)
            if rank > 2 or (rank == 2 and tensor.shape[1] != 1):
                raise ParityInputError(f"{self.who}: input {col!r} has shape {tensor.shape}; a raw column is "
                                       "one value per row (shape () or (1,))")
            out[col] = (_input_dtype(tensor), rank)
        return out

    def _declared(self, raw_inputs: Mapping[str, str] | None, fn: Any) -> dict[str, tuple[str, int]]:
        if raw_inputs is None:
            spec = getattr(fn, "input_signature", None)
            if spec and isinstance(spec[0], dict):
                raw_inputs = {col: s.dtype.name for col, s in spec[0].items()}
            else:
                raise ParityInputError(f"{self.who}: a preprocessing callable needs raw_inputs={{column: dtype}} "
                                       "(or a tf.function with an input_signature of one dict)")
        bad = {c: d for c, d in raw_inputs.items() if d not in _DTYPES}
        if bad:
            raise ParityInputError(f"{self.who}: raw_inputs dtypes must be among {_DTYPES}, got {bad}")
        return {col: (dtype, 1) for col, dtype in raw_inputs.items()}

    # -- export -------------------------------------------------------------------------------------
    def _module(self) -> Any:
        import tensorflow as tf

        raw = self._raw
        signature = {col: tf.TensorSpec([None], tf.as_dtype(dtype), name=col) for col, (dtype, _) in raw.items()}
        side = self

        def shaped(batch, inputs):  # the 1-D serving tensors in the shapes the Keras inputs were declared with
            return {col: (tf.expand_dims(batch[col], -1) if rank == 2 else batch[col])
                    for col, (_, rank) in inputs.items()}

        def features(batch):
            prep_raw = side._prep_raw
            out = side.preprocessing(dict(batch)) if prep_raw is None else side.preprocessing(shaped(batch, prep_raw))
            if not isinstance(out, dict):
                out = {getattr(side.preprocessing, "name", "features"): out}
            return dict(out)

        def score(batch):
            if side.end_to_end:
                return side.model(shaped(batch, raw), training=False)
            feats = features(batch)
            if side._model_input is None:
                return side.model(feats, training=False)
            return side.model(feature_matrix(feats, side.feature_outputs(feats), dtype=side._model_input),
                              training=False)

        class Serving(tf.Module):
            def __init__(self) -> None:
                super().__init__(name="parity_keras_preprocessing")
                self.model = side.model
                self.preprocessing = side.preprocessing

            @tf.function(input_signature=[signature])
            def serve(self, batch):
                return {"score": score(batch)}

            @tf.function(input_signature=[signature])
            def featurize(self, batch):
                return features(batch)

        return Serving()

    def _export(self) -> Any:
        if self._loaded is None:
            import tensorflow as tf

            # Outside the source tree, once per side, removed with it: the export is a cache of the model.
            self._path = Path(tempfile.mkdtemp(prefix="parity-keras-preprocessing-"))
            weakref.finalize(self, shutil.rmtree, str(self._path), True)
            module = self._module()
            try:
                tf.saved_model.save(module, str(self._path / "model"),
                                    signatures={"serving_default": module.serve, "featurize": module.featurize})
            except Exception as exc:  # TF raises many types for an untraceable model
                raise ScorerError(f"{self.who}: the model could not be exported as a SavedModel: {exc}") from exc
            self._loaded = tf.saved_model.load(str(self._path / "model"))
        return self._loaded

    @property
    def path(self) -> Path:
        """The exported SavedModel's folder (exported on first use): what `parity serve-bench --serve`
        puts behind its local server, and what the artifact size is read from."""
        self._export()
        return Path(self._stored["path"]) if self._stored is not None else self._path / "model"

    def serving_inputs(self) -> list[str]:
        """The raw columns the SavedModel's serving signature takes (a server is sent these alone)."""
        return list(self._raw)

    # -- pickling: what a serving process of its own loads (harness.serving.process_rss) ------------------
    def __reduce__(self) -> tuple[Any, ...]:
        # A Keras model that went through a SavedModel does not pickle (its restored objects are local
        # classes); the side is sent as its exported SavedModel, which is what it scores through anyway.
        # The unpickled side scores and featurizes through the same signatures; it holds no Keras model.
        self._export()
        state = {"who": self.who, "name": self.name, "output_index": self.output_index, "batch_size": self.batch_size,
                 "_raw": self._raw, "outputs": self.feature_outputs() if self._stored is None else self._stored["outputs"],
                 "feature_names": self.feature_names(), "config": self.config()}
        return (_reload_exported, (str(self._path / "model") if self._stored is None else self._stored["path"], state))

    # -- the side -----------------------------------------------------------------------------------
    def _tensors(self, batch: pd.DataFrame) -> list[dict[str, Any]]:
        import tensorflow as tf

        if not isinstance(batch, pd.DataFrame):
            raise ParityInputError(f"{self.who}: batch must be a pandas DataFrame, got {type(batch).__name__}")
        missing = [c for c in self._raw if c not in batch.columns]
        if missing:
            raise ParityInputError(f"{self.who}: the batch has no column(s) {missing}; it has {sorted(batch.columns)}")
        arrays = {col: _raw_array(batch[col], col, dtype, self.who) for col, (dtype, _) in self._raw.items()}
        return [{col: tf.constant(a[start:start + self.batch_size], dtype=tf.as_dtype(self._raw[col][0]))
                 for col, a in arrays.items()}
                for start in range(0, max(len(batch), 1), self.batch_size)]

    def _call(self, signature: str, tensors: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        try:
            return self._export().signatures[signature](**tensors)
        except tf.errors.InvalidArgumentError as exc:  # an in-graph check, e.g. an unknown category refused
            raise ScorerError(f"{self.who}: the served model refused the batch ({signature}): {exc.message}") from None

    def featurize(self, batch: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, list[np.ndarray]] = {}
        for tensors in self._tensors(batch):
            for key, value in self._call("featurize", tensors).items():
                parts.setdefault(key, []).append(value.numpy())
        columns: dict[str, np.ndarray] = {}
        for key in self.feature_outputs(parts):
            value = np.concatenate(parts[key])
            if value.ndim == 2 and value.shape[1] == 1:
                value = value[:, 0]
            if value.ndim == 1:
                columns[key] = value
            elif value.ndim == 2:
                columns.update({f"{key}_{j}": value[:, j] for j in range(value.shape[1])})
            else:
                raise ScorerError(f"{self.who}: feature {key!r} has shape {value.shape}; expected one value or one "
                                  "vector per row")
        if any(isinstance(v.flat[0], bytes) for v in columns.values() if v.size):
            columns = {k: (v.astype(str).astype(object) if v.dtype.kind in "SO" else v) for k, v in columns.items()}
        return pd.DataFrame(columns)

    def feature_names(self) -> list[str] | None:
        """The columns `featurize` returns, read from the preprocessing model's named outputs without
        exporting or calling anything (a width-k output is ``name_0 .. name_{k-1}``); None for a
        ``tf.function`` or an output of unknown width, whose names are known only once it has run."""
        if self._stored is not None:
            return self._stored["feature_names"]
        output = getattr(self.preprocessing, "output", None)
        if not isinstance(output, dict):
            return None
        names: list[str] = []
        for key, tensor in output.items():
            shape = tuple(tensor.shape)
            if len(shape) <= 1 or (len(shape) == 2 and shape[1] == 1):
                names.append(key)
            elif len(shape) == 2 and isinstance(shape[1], int):
                names += [f"{key}_{j}" for j in range(shape[1])]
            else:
                return None
        return names

    def feature_outputs(self, parts: Mapping[str, Any] | None = None) -> list[str]:
        """The preprocessing's output names: a Keras model's in its order, a callable's sorted by name
        (TensorFlow returns a dict of outputs sorted)."""
        if self._stored is not None and self._stored["outputs"]:
            return list(self._stored["outputs"])
        output = getattr(self.preprocessing, "output", None)
        if isinstance(output, dict):
            return list(output)
        return sorted(parts) if parts is not None else []

    def predict(self, batch: pd.DataFrame) -> np.ndarray:
        out = []
        for tensors in self._tensors(batch):
            y = self._call("serving_default", tensors)["score"].numpy()
            out.append(one_score_per_row(y, self.output_index, self.who))
        scores = np.concatenate(out)
        if scores.shape[0] != len(batch):
            raise ScorerError(f"{self.who}: {scores.shape[0]} scores for {len(batch)} rows")
        return scores

    def config(self) -> dict[str, Any]:
        from harness.results import jsonable

        if self._stored is not None:
            return self._stored["config"]
        prep = self.preprocessing
        return jsonable({"side": "KerasPreprocessingSide", "raw_inputs": {c: d for c, (d, _) in self._raw.items()},
                         "model": self.model.get_config(),
                         "preprocessing": prep.get_config() if hasattr(prep, "get_config") else repr(prep),
                         "end_to_end": self.end_to_end})


def _reload_exported(path: str, state: dict[str, Any]) -> KerasPreprocessingSide:
    """A pickled `KerasPreprocessingSide`: its exported SavedModel loaded again, scored and featurized
    through the same signatures (the exporting side's folder must still exist: it is removed with that
    side, so a pickle serves a process the side's own run started)."""
    import tensorflow as tf

    side = KerasPreprocessingSide.__new__(KerasPreprocessingSide)
    side.who, side.name = state["who"], state["name"]
    side.output_index, side.batch_size, side._raw = state["output_index"], state["batch_size"], state["_raw"]
    side.model = side.preprocessing = None
    side._path = None
    side._stored = {"path": path, **{k: state[k] for k in ("outputs", "feature_names", "config")}}
    if not Path(path).is_dir():
        raise ScorerError(f"{side.who}: its exported SavedModel {path} is gone (removed with the side that exported it)")
    side._loaded = tf.saved_model.load(path)
    return side


def _raw_array(values: pd.Series, col: str, dtype: str, who: str) -> np.ndarray:
    """One raw column as the serving input dtype; nothing coerced that the model would not see."""
    if dtype == "string":
        missing = np.flatnonzero(values.isna().to_numpy())
        if missing.size:
            raise ParityInputError(f"{who}: string column {col!r} is missing at row {int(missing[0])} "
                                   f"({missing.size} missing in all); a string input has no missing value")
        bad = [i for i, v in enumerate(values.tolist()) if not isinstance(v, str)]
        if bad:
            raise ParityInputError(f"{who}: column {col!r} must hold strings; "
                                   f"row {bad[0]} holds {values.iloc[bad[0]]!r}")
        return np.asarray(values.tolist(), dtype=object)
    kind = values.dtype.kind
    if dtype.startswith("float") and kind in "fiub" or dtype.startswith("int") and kind in "iub" \
            or dtype == "bool" and kind == "b":
        return values.to_numpy().astype(dtype)
    raise ParityInputError(f"{who}: column {col!r} has dtype {values.dtype}; the model's input {col!r} is {dtype}")


# -- ColumnTransformer -> Keras preprocessing ----------------------------------------------------------
_SUPPORTED = ("StandardScaler", "MinMaxScaler", "KBinsDiscretizer", "OneHotEncoder", "SimpleImputer",
              "Pipeline of these", "'passthrough'", "'drop'")


def keras_preprocessing_from_column_transformer(ct: Any, *, name: str = "preprocessing",
                                                raw_dtypes: Mapping[str, str] | None = None) -> Any:
    """A Keras model computing a fitted `ColumnTransformer`'s features from its raw columns.

    Inputs: one ``keras.Input(shape=(), name=column)`` per raw column the transformer reads, of dtype
    ``raw_dtypes[column]`` or, by default, ``string`` (``int64``) for OneHotEncoder columns with string
    (integer) categories and ``float64`` otherwise. Outputs: a dict with one 1-D tensor per name of
    ``ct.get_feature_names_out()``, computed in float64 with scikit-learn's operations in its order,
    so the suite can demand exact (0 ULP) parity. Supported: StandardScaler (Normalization),
    MinMaxScaler (Rescaling), KBinsDiscretizer (any strategy and encoding), OneHotEncoder
    (StringLookup / IntegerLookup one-hot; ``drop``; ``handle_unknown`` "ignore" or "error", which
    then fails the call), SimpleImputer (``missing_values=nan``, any strategy), Pipelines of these,
    ``"passthrough"`` and ``"drop"``. Anything else is refused naming the transformer.
    """
    import keras
    from sklearn.compose import ColumnTransformer

    if not isinstance(ct, ColumnTransformer):
        raise ParityInputError(f"keras_preprocessing_from_column_transformer: expected a fitted ColumnTransformer, "
                               f"got {type(ct).__name__}")
    if not hasattr(ct, "transformers_") or not hasattr(ct, "feature_names_in_"):
        raise ParityInputError("keras_preprocessing_from_column_transformer: the ColumnTransformer must be fitted on "
                               "a pandas DataFrame (its raw columns are read by name)")
    names_out = [str(n) for n in ct.get_feature_names_out()]
    plan = [(tname, trans, _column_names(ct, cols)) for tname, trans, cols in ct.transformers_]
    plan = [(t, tr, cols) for t, tr, cols in plan if cols and not (isinstance(tr, str) and tr == "drop")]
    dtypes = _raw_dtypes(plan, raw_dtypes)
    inputs = {col: keras.Input(shape=(), name=col, dtype=dtypes[col]) for col in dtypes}
    outputs: list[Any] = []
    for tname, trans, cols in plan:
        outputs += _translate(trans, [inputs[c] for c in cols], where=f"transformer {tname!r}")
    if len(outputs) != len(names_out):
        raise ParityInputError(f"keras_preprocessing_from_column_transformer: built {len(outputs)} outputs for the "
                               f"{len(names_out)} features {names_out}")
    return keras.Model(inputs, dict(zip(names_out, outputs)), name=name)


def _column_names(ct: Any, cols: Any) -> list[str]:
    names = np.asarray(ct.feature_names_in_, dtype=object)
    if isinstance(cols, str):
        return [cols]
    if isinstance(cols, slice) or (len(cols) and not isinstance(np.asarray(cols).flat[0], str)):
        return [str(c) for c in names[cols]]
    return [str(c) for c in cols]


def _raw_dtypes(plan: list, declared: Mapping[str, str] | None) -> dict[str, str]:
    declared = dict(declared or {})
    bad = {c: d for c, d in declared.items() if d not in _DTYPES}
    if bad:
        raise ParityInputError(f"keras_preprocessing_from_column_transformer: raw_dtypes must be among {_DTYPES}, "
                               f"got {bad}")
    inferred: dict[str, str] = {}
    for _, trans, cols in plan:
        encoder = _first_step(trans)
        for j, col in enumerate(cols):
            dtype = "float64"
            if type(encoder).__name__ == "OneHotEncoder":
                kind = np.asarray(encoder.categories_[j]).dtype.kind
                dtype = "string" if kind in "OUS" else ("int64" if kind in "iub" else "float64")
            if col in inferred and inferred[col] != dtype and col not in declared:
                raise ParityInputError(f"keras_preprocessing_from_column_transformer: column {col!r} is read as "
                                       f"{inferred[col]} and as {dtype}; give raw_dtypes={{{col!r}: ...}}")
            inferred.setdefault(col, dtype)
    unread = sorted(set(declared) - set(inferred))
    if unread:
        raise ParityInputError(f"keras_preprocessing_from_column_transformer: raw_dtypes names column(s) {unread} "
                               f"the transformer does not read (it reads {sorted(inferred)})")
    return {col: declared.get(col, dtype) for col, dtype in inferred.items()}


def _first_step(trans: Any) -> Any:
    return trans.steps[0][1] if type(trans).__name__ == "Pipeline" else trans


def _c64(value: Any) -> np.ndarray:
    # A float64 0-d array, not a Python float: Normalization and Rescaling turn Python floats into
    # float32 tensors before casting them to the layer's dtype, rounding the constants even in a float64
    # layer (mean 0.3 becomes 0.30000001192092896).
    return np.asarray(value, dtype=np.float64)


def _f64(t: Any) -> Any:
    import keras

    return t if _input_dtype(t) == "float64" else keras.ops.cast(t, "float64")


def _translate(trans: Any, tensors: list[Any], *, where: str) -> list[Any]:
    """The Keras outputs of one fitted transformer applied to one tensor per input column."""
    import keras

    kind = type(trans).__name__
    if isinstance(trans, str) and trans == "passthrough" or (
            kind == "FunctionTransformer" and trans.func is None):  # how remainder="passthrough" is fitted
        return list(tensors)
    if kind == "Pipeline":
        for step_name, step in trans.steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            tensors = _translate(step, tensors, where=f"{where}, step {step_name!r}")
        return tensors
    if kind == "SimpleImputer":
        if not (isinstance(trans.missing_values, float) and np.isnan(trans.missing_values)):
            raise ParityInputError(f"{where}: SimpleImputer(missing_values={trans.missing_values!r}) is not supported; "
                                   "only missing_values=np.nan")
        if trans.add_indicator:
            raise ParityInputError(f"{where}: SimpleImputer(add_indicator=True) is not supported")
        try:  # a constant fill_value leaves statistics_ as objects
            stats = np.asarray(trans.statistics_, dtype=np.float64)
        except (TypeError, ValueError):
            stats = np.array([np.nan])
        if np.isnan(stats).any():
            raise ParityInputError(f"{where}: SimpleImputer's statistics {list(trans.statistics_)} must be numbers "
                                   "(a string imputer or an all-missing column is not supported)")
        return [keras.ops.where(keras.ops.isnan(_f64(t)), _c64(v), _f64(t)) for t, v in zip(tensors, stats)]
    if kind == "StandardScaler":
        n = len(tensors)
        mean = np.asarray(trans.mean_) if trans.with_mean else np.zeros(n)
        scale = np.asarray(trans.scale_) if trans.with_std else np.ones(n)
        out = []
        for t, m, s in zip(tensors, mean, scale):
            # Normalization divides by max(sqrt(variance), 1e-7): give it scale**2 only where its sqrt
            # gives scale back exactly and no floor applies; otherwise the same two operations by hand.
            if np.sqrt(s * s) == s and s >= keras.config.epsilon():
                out.append(keras.layers.Normalization(mean=_c64(m), variance=_c64(s * s), axis=None,
                                                      dtype="float64")(_f64(t)))
            else:
                out.append(_standardize_layer()(float(m), float(s))(_f64(t)))
        return out
    if kind == "MinMaxScaler":
        out = []
        for t, s, m in zip(tensors, trans.scale_, trans.min_):
            y = keras.layers.Rescaling(scale=_c64(s), offset=_c64(m), dtype="float64")(_f64(t))  # x*s + m, as sklearn
            out.append(keras.ops.clip(y, *map(float, trans.feature_range)) if trans.clip else y)  # floats stay float64
        return out
    if kind == "KBinsDiscretizer":
        if trans.dtype not in (None, np.float64):
            raise ParityInputError(f"{where}: KBinsDiscretizer(dtype={trans.dtype!r}) is not supported; use float64")
        out = []
        for t, edges, n_bins in zip(tensors, trans.bin_edges_, trans.n_bins_):
            # Not Discretization: it buckets in float32 (its boundaries are a float32 attribute), so rows
            # within a float32 rounding of an edge land in the other bin. searchsorted in float64 is
            # scikit-learn's own rule (bins closed on the left, the last one on both sides).
            inner = keras.ops.convert_to_tensor(np.asarray(edges[1:-1], dtype=np.float64))
            index = keras.ops.cast(keras.ops.searchsorted(inner, _f64(t), side="right"), "int64")
            if trans.encode == "ordinal":
                out.append(keras.ops.cast(index, "float64"))
            else:
                out += [keras.ops.cast(keras.ops.equal(index, j), "float64") for j in range(int(n_bins))]
        return out
    if kind == "OneHotEncoder":
        return _one_hot(trans, tensors, where=where)
    raise ParityInputError(f"{where}: {kind} has no Keras translation; supported: {', '.join(_SUPPORTED)}")


def _one_hot(enc: Any, tensors: list[Any], *, where: str) -> list[Any]:
    import keras

    if getattr(enc, "infrequent_categories_", None) is not None and any(
            c is not None for c in enc.infrequent_categories_):
        raise ParityInputError(f"{where}: OneHotEncoder with infrequent categories (min_frequency/max_categories) "
                               "is not supported")
    if enc.handle_unknown not in ("ignore", "error", "infrequent_if_exist"):
        raise ParityInputError(f"{where}: OneHotEncoder(handle_unknown={enc.handle_unknown!r}) is not supported")
    dtype = np.dtype(enc.dtype).name
    drop = enc.drop_idx_ if enc.drop_idx_ is not None else [None] * len(tensors)
    out = []
    for t, cats, dropped in zip(tensors, enc.categories_, drop):
        cats = np.asarray(cats)
        if cats.dtype.kind in "OUS":
            if not all(isinstance(c, str) for c in cats):
                raise ParityInputError(f"{where}: OneHotEncoder categories {cats.tolist()} mix strings and other "
                                       "values (a missing-value category is not supported)")
            lookup = keras.layers.StringLookup(vocabulary=[str(c) for c in cats], num_oov_indices=1,
                                               output_mode="one_hot")
        elif cats.dtype.kind in "iub":
            lookup = keras.layers.IntegerLookup(vocabulary=[int(c) for c in cats], num_oov_indices=1,
                                                output_mode="one_hot", vocabulary_dtype="int64")
        else:
            raise ParityInputError(f"{where}: OneHotEncoder categories of dtype {cats.dtype} are not supported "
                                   "(strings or integers)")
        onehot = lookup(t)  # column 0 is the out-of-vocabulary bucket, then the categories in order
        if enc.handle_unknown == "error":
            onehot = _RefuseUnknown(str(getattr(t, "name", "column")))(onehot)
        out += [keras.ops.cast(onehot[:, 1 + j], dtype) for j in range(len(cats))
                if dropped is None or j != int(dropped)]
    return out


def _standardize_layer() -> type:
    import keras

    class Standardize(keras.layers.Layer):
        """``(x - mean) / scale`` in float64 with mean and scale held as weights: a division by a graph
        constant is rewritten by TensorFlow's graph optimizer into a multiplication by its reciprocal,
        which is 1 ULP off on ~40 % of rows."""

        def __init__(self, mean: float, scale: float, **kwargs: Any) -> None:
            super().__init__(dtype="float64", **kwargs)
            self.mean_value, self.scale_value = mean, scale
            # not keras.initializers.Constant, which rounds its value through float32
            self.mean = self.add_weight(shape=(), initializer=lambda shape, dtype=None: _c64(mean), trainable=False,
                                        dtype="float64", name="mean")
            self.scale = self.add_weight(shape=(), initializer=lambda shape, dtype=None: _c64(scale), trainable=False,
                                         dtype="float64", name="scale")

        def call(self, x):
            return keras.ops.divide(keras.ops.subtract(x, self.mean), self.scale)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "mean": self.mean_value, "scale": self.scale_value}

    return Standardize


def _refuse_unknown_layer() -> type:
    import keras
    import tensorflow as tf

    class RefuseUnknown(keras.layers.Layer):
        """Fails the call when a row holds a category outside the vocabulary, as OneHotEncoder's
        ``handle_unknown="error"`` does, instead of serving it as all zeros."""

        def __init__(self, column: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.column = column

        def call(self, onehot):
            check = tf.debugging.assert_equal(tf.reduce_sum(tf.cast(onehot[:, 0], tf.int64)), tf.constant(0, tf.int64),
                                              message=f"unknown category in column {self.column}")
            with tf.control_dependencies([check]):
                return tf.identity(onehot)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "column": self.column}

    return RefuseUnknown


def _RefuseUnknown(column: str) -> Any:  # noqa: N802 (a layer factory: TF is imported only when one is built)
    return _refuse_unknown_layer()(column)
