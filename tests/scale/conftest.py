"""tests/ is not a package (--import-mode=importlib), so the scale tests' shared result comparisons
(_docs.py) are loaded here once, by path, as the module ``scale_docs``: pytest imports this conftest
before any test module of this folder, which then imports ``scale_docs`` by name."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "scale_docs" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("scale_docs", Path(__file__).with_name("_docs.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["scale_docs"] = _module
    _spec.loader.exec_module(_module)
