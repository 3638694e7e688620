"""The HTML report opened in a real browser (headless Chromium): what a person sees.

The page of a run with every outcome class is loaded from a file:// address; the DOM after the
page's script ran is checked (counts, one row per case, the filter from the address, the inline
crash screenshot decoded by the browser), and a screenshot is kept as a test artefact in
``$CLFS_HARNESS_TEST_ARTEFACTS`` (default ``runs/test-artefacts/``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import chromium
from report_run import EXPECTED, make_run

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("CLFS_HARNESS_TEST_ARTEFACTS", REPO / "runs" / "test-artefacts"))


@pytest.fixture
def report(pytester, monkeypatch) -> Path:
    if chromium.find() is None:
        print("\nSKIP html report in Chromium: chromium is not installed (bash .ci/setup)", file=sys.stderr)
        pytest.skip("chromium is not installed (bash .ci/setup installs Debian's chromium)")
    make_run(pytester, monkeypatch, "--html", "out/report.html")
    return pytester.path / "out" / "report.html"


def rows(dom: str) -> dict[str, tuple[str, bool]]:
    """case -> (outcome, hidden) from the DOM's case rows."""
    found = {}
    for tag in re.findall(r'<tr class="case"[^>]*>', dom):
        case = re.search(r'data-id="([^"]+)"', tag).group(1).split("::", 1)[1]
        found[case] = (re.search(r'data-outcome="([A-Z]+)"', tag).group(1), " hidden" in tag)
    return found


def test_the_browser_shows_every_case_and_filters_by_outcome(report):
    dom = chromium.dump_dom(report.as_uri())
    assert {case: outcome for case, (outcome, _) in rows(dom).items()} == EXPECTED
    assert not any(hidden for _, hidden in rows(dom).values())
    assert '<span id="shown">10</span>' in dom
    assert '<td id="count-FAIL">2</td>' in dom and '<td id="count-BUGCHECK">1</td>' in dom

    # The filter, set from the address: only FAIL and BUGCHECK rows remain visible.
    filtered = chromium.dump_dom(report.as_uri() + "#outcome=FAIL,BUGCHECK")
    visible = {case for case, (_, hidden) in rows(filtered).items() if not hidden}
    assert visible == {"fails", "known_differs", "panics"}
    assert '<span id="shown">3</span>' in filtered
    text_filtered = chromium.dump_dom(report.as_uri() + "#q=passes")
    assert {c for c, (_, hidden) in rows(text_filtered).items() if not hidden} == {"passes[n=1]", "passes[n=2]"}


def test_a_screenshot_of_the_page_is_kept(report):
    shot = chromium.screenshot(report.as_uri() + "#outcome=FAIL,BUGCHECK,HANG,INFRA,XFAIL", ARTEFACTS / "html-report-every-outcome.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    print(f"\nscreenshot: {shot}")
