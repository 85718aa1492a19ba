"""Importing the golden package (and its CLI module) stays light: no TensorFlow, scikit-learn, pandas or
pyarrow until data is touched, so `parity --help` and `import harness` stay fast."""
from __future__ import annotations

import json
import subprocess
import sys


def test_golden_import_is_light():
    code = ("import sys, json, harness.golden, harness.cli.golden; "
            "print(json.dumps({m: m in sys.modules for m in "
            "['tensorflow', 'sklearn', 'pandas', 'pyarrow', 'keras']}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == {"tensorflow": False, "sklearn": False, "pandas": False,
                                      "pyarrow": False, "keras": False}
