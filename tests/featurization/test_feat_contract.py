"""The shared featurization contract lives in harness.featurization: the new platform works with the legacy
code unimportable, the legacy paths re-export the very same objects, and the package stays light."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A meta-path finder placed first refuses legacy_adapter and all its submodules, as if it were not installed.
BLOCK_LEGACY = """
import sys
class _BlockLegacy:
    def find_spec(self, name, path=None, target=None):
        if name == "legacy_adapter" or name.startswith("legacy_adapter."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _BlockLegacy())
try:
    import legacy_adapter
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the blocker did not block legacy_adapter")
"""

USE_NEW_PLATFORM_WITHOUT_TF = """
import new_platform, new_platform.export, new_platform.serving, new_platform.sides, new_platform.training
from harness.featurization import Columns, FeatureSpec, Standardization, fit_spec, spec_summary
import pandas as pd
train = pd.DataFrame({
    "position": [1, 2, 3, 1, 2], "shop_id": ["s1", "s2", "s1", "s3", None], "category": ["c1"] * 5,
    "device": ["mobile", "desktop", "mobile", "mobile", "tablet"], "country": ["US"] * 5,
    "price": [1.0, 2.0, 3.0, None, 5.0], "listing_age_days": [1.0, 2.0, 3.0, 4.0, 5.0],
    "hist_ctr": [0.1, None, 0.3, 0.2, 0.1], "query": ["Red shoes", "", None, "a b", "x"],
})
spec = fit_spec(train, min_count=1)
assert FeatureSpec.from_dict(spec.to_dict()) == spec
assert spec_summary(spec)["spec_version"] == spec.version
print(any(m.split(".")[0] == "legacy_adapter" for m in sys.modules), sorted(m for m in ("tensorflow", "sklearn") if m in sys.modules))
"""

USE_NEW_PLATFORM_WITH_TF = USE_NEW_PLATFORM_WITHOUT_TF + """
import numpy as np
from new_platform.featurizer import TFFeaturizer
from new_platform.models import keras_logistic_regression
from new_platform.sides import KerasSide
features = TFFeaturizer(spec).transform(train)
assert list(features.columns) == list(spec.feature_names) and len(features) == 5
standardization = Standardization.fit(features, spec.numeric_features)
model = keras_logistic_regression(spec, standardization)
assert model is not None
side = KerasSide("k", lambda x, training=False: np.zeros(len(x)), ["price", "position"])
assert side.predict(train.fillna(0.0)).shape == (5,)
print(any(m.split(".")[0] == "legacy_adapter" for m in sys.modules))
"""


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", BLOCK_LEGACY + code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip().splitlines()


def test_new_platform_imports_and_fits_a_spec_without_legacy_adapter():
    assert _run(USE_NEW_PLATFORM_WITHOUT_TF) == ["False []"]


@pytest.mark.tf
def test_new_platform_featurizes_and_builds_models_without_legacy_adapter():
    pytest.importorskip("tensorflow")
    lines = _run(USE_NEW_PLATFORM_WITH_TF)
    assert lines[0].startswith("False") and lines[-1] == "False", lines


def test_no_new_platform_module_imports_legacy_adapter():
    """Also the imports inside functions, which an import-time test does not reach."""
    offenders = []
    for path in sorted((ROOT / "new_platform").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}:{node.lineno}: {n}" for n in names if n.split(".")[0] == "legacy_adapter"]
    assert offenders == []


def test_legacy_paths_re_export_the_same_objects():
    import harness.featurization as shared
    from harness.featurization import hashing, spec, standardization, strings
    from legacy_adapter import _strings, adapters, featurizer, models
    from legacy_adapter import hashing as legacy_hashing

    assert featurizer.FeatureSpec is shared.FeatureSpec is spec.FeatureSpec
    assert featurizer.fit_spec is shared.fit_spec and featurizer.clean_raw is shared.clean_raw
    for name in ("SPEC_VERSION", "RAW_COLUMNS", "STRING_COLUMNS", "FLOAT_COLUMNS", "INT_COLUMNS", "VOCAB_COLUMNS",
                 "NUMERIC_FEATURES", "CATEGORICAL_FEATURES", "DEFAULT_HASH_KEY", "DEFAULT_PRICE_BOUNDARIES",
                 "DEFAULT_LISTING_AGE_BOUNDARIES"):
        assert getattr(featurizer, name) is getattr(spec, name), name
    for name in ("siphash24", "hash_bucket", "hash_strings", "MAX_KEY_WORD"):
        assert getattr(legacy_hashing, name) is getattr(hashing, name), name
    assert _strings.factorize_exact is strings.factorize_exact
    assert models.Standardization is standardization.Standardization and models.spec_summary is shared.spec_summary
    assert adapters.Columns is shared.Columns


def test_importing_harness_or_the_contract_stays_light():
    code = (
        "import sys; import harness; light = 'harness.featurization' not in sys.modules; "
        "import harness.featurization; "
        "print(light, sorted(m for m in ('tensorflow', 'sklearn', 'keras', 'legacy_adapter', 'new_platform') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT)
    assert out.stdout.strip() == "True []", out.stdout + out.stderr
