"""pytest plugin (registered through the `pytest11` entry point as `parity`).

Placeholder registered early so the entry point always resolves; options, fixtures and the report are
added by the plugin work (issue 5). Must not import TensorFlow at collection time.
"""
from __future__ import annotations
