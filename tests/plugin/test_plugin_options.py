"""Option validation: mistakes are usage errors (exit 4) with a message that says what to do."""
from __future__ import annotations

import pytest

USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--parity-update-baseline"], "--parity-update-baseline needs --parity-reason", id="update-without-reason"),
        pytest.param(["--parity-update-baseline", "--parity-reason", "  "], "needs --parity-reason", id="blank-reason"),
        pytest.param(["--parity-reason", "why"], "only used with --parity-update-baseline", id="reason-without-update"),
        pytest.param(["--parity-sample", "0"], "--parity-sample must be a positive number of rows, got 0", id="sample-zero"),
    ],
)
def test_bad_options_are_usage_errors(project, args, expected):
    r = project.run(*args)
    assert r.rc == USAGE_ERROR, r.text
    assert expected in r.text
