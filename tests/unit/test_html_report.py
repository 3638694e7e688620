"""The HTML page of a run (--html): self-contained, every outcome counted, steps and diffs shown."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from report_run import EXPECTED, LINK, make_run


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.rows: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href", "action", "data"):
            if attrs.get(key):
                self.urls.append(attrs[key])
        if tag == "tr" and "case" in (attrs.get("class") or "").split():
            self.rows.append(attrs)


def page(pytester, monkeypatch) -> tuple[str, dict]:
    make_run(pytester, monkeypatch, "--html", "out/report.html")
    text = (pytester.path / "out" / "report.html").read_text()
    return text, json.loads((pytester.path / "out" / "results.json").read_text())


def test_the_page_fetches_nothing_from_the_network(pytester, monkeypatch):
    text, _ = page(pytester, monkeypatch)
    parser = _Links()
    parser.feed(text)
    fetched = [u for u in parser.urls if not u.startswith(("#", "data:")) and "://" in u]
    # The one absolute link is the known issue's address, an <a> the reader may follow, not a fetch.
    assert set(fetched) == {LINK}
    assert "default-src 'none'" in text
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"https?:", text)


def test_the_page_has_every_case_with_its_outcome_and_the_counts(pytester, monkeypatch):
    text, results = page(pytester, monkeypatch)
    parser = _Links()
    parser.feed(text)
    assert {r["data-id"].split("::", 1)[1]: r["data-outcome"] for r in parser.rows} == EXPECTED
    for outcome, count in results["summary"].items():
        if outcome != "total":
            assert f'<td id="count-{outcome}">{count}</td>' in text
    # A FAIL shows its steps, the mismatch and the diff; the crash screenshot is inline.
    assert "add_container: status expected STATUS_INVALID_PARAMETER (0xC000000D), observed STATUS_SUCCESS" in text
    assert "STATUS_SUCCESS (0x00000000)" in text and "PASSIVE_LEVEL" in text and "container_size=524288" in text
    assert 'alt="screenshot-crash.png" src="data:image/png;base64,' in text
    assert 'href="../runs/' in text or "console.log" in text
    assert f'known issue <a href="{LINK}">{LINK}</a>' in text
