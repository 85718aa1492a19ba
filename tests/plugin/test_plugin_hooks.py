"""The plugin's hooks validate against pytest's own hook specifications alone: a session without
pytest-xdist (``-p no:xdist``, or xdist not installed) must load it. Its xdist hooks are optional; a
decorator moved off one of them failed every such session with "unknown hook"."""
from __future__ import annotations

import pluggy
from _pytest import hookspec


def test_the_plugin_registers_without_xdist_hook_specifications():
    import harness.pytest_plugin as plugin

    pm = pluggy.PluginManager("pytest")
    pm.add_hookspecs(hookspec)
    pm.register(plugin)
    pm.check_pending()  # raises PluginValidationError for a non-optional hook pytest does not define
    optional = {"pytest_xdist_make_scheduler", "pytest_testnodedown"}
    for name in optional:
        impl = getattr(plugin, name)
        assert getattr(impl, "pytest_impl", {}).get("optionalhook"), name
