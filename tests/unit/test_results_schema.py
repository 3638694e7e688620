"""The results JSON schema is strict: every outcome class validates, formats are checked, a
tampered file is refused at every level."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from harness.report.results import SCHEMA_PATH
from report_run import EXPECTED, make_run


def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    # date-time is checked only when rfc3339-validator is installed (the [test] extra): make sure.
    pytest.importorskip("rfc3339_validator", reason="rfc3339-validator (the [test] extra) checks date-time")
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
def results(pytester, monkeypatch) -> dict:
    make_run(pytester, monkeypatch)
    return json.loads((pytester.path / "out" / "results.json").read_text())


def test_a_run_with_every_outcome_class_is_valid(results):
    errors = list(validator().iter_errors(results))
    assert errors == []
    outcomes = {c["id"].split("::", 1)[1]: c["outcome"] for c in results["cases"]}
    assert outcomes == EXPECTED
    assert results["summary"]["XFAIL"] == 1 and results["summary"]["XPASS"] == 1 and results["summary"]["CONTRACT"] == 0


def _tamper(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _first_with_steps(results: dict) -> int:
    return next(i for i, c in enumerate(results["cases"]) if c["steps"])


TAMPERED = [
    ("started not a date-time", ("started",), "yesterday"),
    ("an unknown top-level key", ("extra",), 1),
    ("an unknown key in tool", ("tool", "extra"), 1),
    ("an unknown key in target", ("target", "extra"), 1),
    ("an unknown identity key", ("target", "identity", "colour"), "red"),
    ("an unknown summary key", ("summary", "MAYBE"), 1),
    ("an unknown key in a host", ("lab", "hosts", 0, "extra"), 1),
    ("an unknown key in a case", ("cases", "CASE", "extra"), 1),
    ("an unknown outcome", ("cases", "CASE", "outcome"), "FLAKY"),
    ("an unknown key in a step", ("cases", "CASE", "steps", 0, "extra"), 1),
    ("an unknown key in a mismatch", ("cases", "FAIL", "steps", 1, "mismatches", 0, "extra"), 1),
    ("an unknown cleanup counter", ("cases", "CASE", "cleanup", "leaks"), 1),
    ("an unknown key in artefacts", ("cases", "CASE", "artefacts", "extra"), 1),
]


def test_a_tampered_file_is_refused_at_every_level(results):
    results["lab"]["hosts"] = results["lab"]["hosts"] or [{"uri": "qemu:///system", "capacity": 1}]
    case = _first_with_steps(results)
    failed = next(i for i, c in enumerate(results["cases"]) if c["outcome"] == "FAIL")
    check = validator()
    assert list(check.iter_errors(results)) == [], "the untampered file must be valid"
    accepted = []
    for what, path, value in TAMPERED:
        path = tuple(case if p == "CASE" else failed if p == "FAIL" else p for p in path)
        if not list(check.iter_errors(_tamper(results, path, value))):
            accepted.append(what)
    assert accepted == []


def test_every_target_kind_s_identity_is_known_to_the_schema(results):
    """The identities the targets write (harness/targets/*.py) pass the strict identity definition."""
    identities = [
        {"target": "model", "model": True, "model_sha256": "a" * 64, "protocol_version": 1},
        {"target": "smoke", "model": True, "image": "linux-smoke", "image_sha256": "b" * 64, "accel": "tcg",
         "model_sha256": "c" * 64, "protocol_version": 1},
        {"target": "windows", "windows_build": 26100, "windows_revision": 4061, "edition": "Professional",
         "product_name": "Windows 11 Pro", "display_version": "24H2", "image": "win11", "image_sha256": "d" * 64,
         "driver_sha256": "e" * 64, "client_sha256": "f" * 64, "driver_build": "1", "verifier": True,
         "accel": "kvm", "clfs_authentication": "enforcing"},
        {"target": "wine", "model": True, "standin": True, "wine_version": "wine-8.0", "driver_sha256": "0" * 64,
         "standin_sha256": "1" * 64, "protocol_version": 1, "not_checked": "x", "wine_start_s": 1.5,
         "name": "wine-8.0-standin-111111111111"},
    ]
    check = validator()
    for identity in identities:
        results["target"]["identity"] = identity
        assert [e.message for e in check.iter_errors(results)] == [], identity["target"]
