"""Parity checks: pure functions from arrays to `harness.results.CheckResult`."""
