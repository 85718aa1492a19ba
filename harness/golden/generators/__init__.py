"""Committed, seeded generators of golden datasets.

A manifest's ``provenance.generator`` names its entry point ("harness.golden.generators.ads_ctr:generate");
regeneration only imports entry points inside this package, so a manifest (which is data) cannot make
the harness import arbitrary code.
"""
from __future__ import annotations

__all__ = ["GENERATORS", "ENTRY_POINT_PREFIX"]

ENTRY_POINT_PREFIX = "harness.golden.generators."

# dataset name -> generator entry point
GENERATORS: dict[str, str] = {
    "ads_ctr": "harness.golden.generators.ads_ctr:generate",
    "ads_ctr_large": "harness.golden.generators.ads_ctr_large:generate",
    "breast_cancer": "harness.golden.generators.breast_cancer:generate",
}
