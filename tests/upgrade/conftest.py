"""tests/ is not a package (--import-mode=importlib), so the real-install tests' shared venv helpers
(_venvs.py) are loaded here once, by path, as the module ``upgrade_venvs``: pytest imports this conftest
before any test module of this folder, which then imports ``upgrade_venvs`` by name."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "upgrade_venvs" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("upgrade_venvs", Path(__file__).with_name("_venvs.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["upgrade_venvs"] = _module
    _spec.loader.exec_module(_module)
