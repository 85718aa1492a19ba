"""Statistics core: exact metrics, paired intervals, equivalence verdicts, distribution parity.

Only numpy and scipy here: never TensorFlow, never scikit-learn (tests compare against scikit-learn).
Import from the submodules: `harness.stats.metrics`, `.delong`, `.bootstrap`, `.equivalence`,
`.multiple`, `.distribution`, `.compare`.
"""
