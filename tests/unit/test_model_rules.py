"""Every rule of the documented-rules model names the reference page it comes from."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "driver_src" / "model" / "ct_model.c"
REFERENCE = ROOT.parent / "shared" / "reference" / "clfs"   # present on the project's machines


def _rules() -> list[str]:
    text = MODEL.read_text()
    return [m.group(1) for m in re.finditer(r"/\*\s*RULE:(.*?)\*/", text, re.S)]


def test_every_rule_cites_a_page():
    rules = _rules()
    assert len(rules) >= 15
    for rule in rules:
        pages = re.findall(r"[\w./-]+\.md", rule)
        assert pages, f"rule without a page: {rule.strip()[:80]}"
        if REFERENCE.is_dir():
            for page in pages:
                assert (REFERENCE / page).exists(), f"cited page {page} not in the reference set"
