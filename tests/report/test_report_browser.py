"""report.html in a real browser: headless Chromium loads it from file://, with no script error, every
plot in the DOM, and screenshots at a narrow (phone) and a wide (desktop) viewport saved as test
artifacts ($PARITY_ARTIFACTS_DIR or tmp_path) for a person to look at.

Chromium missing is a failure in CI (``CI`` set, as .ci/run runs, which installs the Debian package
`chromium` first) and whenever PARITY_REQUIRE_BROWSER=1; on a developer's machine without it the test is
skipped with a message saying how to install it, so the README's test command works with only Python.
PARITY_SKIP_BROWSER=1 skips it on request.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report import build_report, write_report

pytestmark = pytest.mark.browser

TIMEOUT_S = 120
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
]


def _chromium() -> str:
    if os.environ.get("PARITY_SKIP_BROWSER") == "1":
        pytest.skip("PARITY_SKIP_BROWSER=1: browser check skipped on request")
    for name in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        path = shutil.which(name)
        if path:
            return path
    message = "headless Chromium not found: install it (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() not in ("", "0", "false") or os.environ.get("PARITY_REQUIRE_BROWSER") == "1":
        pytest.fail(message + "; CI must check the HTML report in a real browser")
    pytest.skip(message + " to check the HTML report in a real browser (required in CI)")


def _browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def test_report_opens_in_headless_chromium(suite_results, tmp_path):
    chromium = _chromium()
    artifacts = Path(os.environ.get("PARITY_ARTIFACTS_DIR") or tmp_path / "artifacts") / "report-browser"
    artifacts.mkdir(parents=True, exist_ok=True)
    paths = write_report(build_report(suite_results), artifacts)
    url = paths["html"].resolve().as_uri()

    dom = _browse(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    # Set by the page's own script after DOMContentLoaded; 'error' if window.onerror saw anything.
    assert 'data-loaded="ok"' in body.group(1), body.group(1)
    assert 'data-plots="9"' in body.group(1), body.group(1)  # forest + 4 plots for each of 2 suites
    for plot_id in ("forest-plot", "hexbin-s0-ctr_logreg", "score-hist-s1-ctr_gbdt", "calibration-s1-ctr_gbdt",
                    "diff-by-score-s0-ctr_logreg"):
        assert f'id="{plot_id}"' in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "Uncaught" in line or ":CONSOLE(" in line]
    assert not console, console

    shot = artifacts / "report.png"
    run = _browse(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,4000", url)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.mark.parametrize(("name", "width", "height"), [("narrow", 390, 3200), ("wide", 1600, 2400)],
                         ids=["narrow-390px", "wide-1600px"])
def test_screenshot_at_viewport(suite_results, tmp_path, name, width, height):
    """A phone-width and a desktop-width screenshot of a partial run (the case whose banner must not read
    as a pass). What can be asserted is asserted (it renders, at that size, with content); how it reads
    is for the person who opens the PNGs, which is why they are kept as artifacts."""
    chromium = _chromium()
    artifacts = Path(os.environ.get("PARITY_ARTIFACTS_DIR") or tmp_path / "artifacts") / f"report-{name}"
    artifacts.mkdir(parents=True, exist_ok=True)
    selection = {"partial": True, "keyword": "ctr", "markexpr": None, "deselected": 2, "planned": 18, "ran": 16,
                 "not_run": {"ctr_gbdt": ["distribution/psi"]}}
    paths = write_report(build_report(suite_results, selection=selection), artifacts)
    shot = artifacts / f"report-{name}.png"
    run = _browse(chromium, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={width},{height}",
                  "--hide-scrollbars", paths["html"].resolve().as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert _png_size(shot) == (width, height)
    assert shot.stat().st_size > 20_000  # not a blank page
    print(f"screenshot: {shot}")


def test_the_error_marker_catches_a_script_error(suite_results, tmp_path):
    # The check above is only worth something if a broken page is seen as broken.
    chromium = _chromium()
    paths = write_report(build_report(suite_results), tmp_path)
    broken = tmp_path / "broken.html"
    html = paths["html"].read_text(encoding="utf-8")
    broken.write_text(html.replace("</body>", "<script>undefinedFunction();</script></body>"), encoding="utf-8")
    dom = _browse(chromium, tmp_path / "profile", "--dump-dom", broken.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-loaded="error"' in re.search(r"<body([^>]*)>", dom.stdout).group(1)
    assert any("Uncaught" in line for line in dom.stderr.splitlines()), dom.stderr[-2000:]
