"""JUnit XML that every CI's reader takes: the Jenkins schema, one-line messages, INFRA as error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from report_run import EXPECTED, LINK, make_run

# jenkinsci/xunit-plugin, src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd
# (see tests/data/junit/README.md for the commit).
XSD = Path(__file__).resolve().parents[1] / "data" / "junit" / "junit-10.xsd"


def jenkins_schema():
    etree = pytest.importorskip("lxml.etree", reason="lxml (the [test] extra) validates against the XSD")
    return etree, etree.XMLSchema(etree.parse(str(XSD)))


def cases(pytester) -> dict[str, ET.Element]:
    root = ET.parse(pytester.path / "out" / "junit.xml").getroot()
    return {tc.get("name"): tc for tc in root.iter("testcase")}


def test_a_run_with_every_outcome_class_is_valid_against_the_jenkins_junit_schema(pytester, monkeypatch):
    etree, schema = jenkins_schema()
    result = make_run(pytester, monkeypatch)
    result.assert_outcomes(passed=2, failed=4, skipped=1, errors=1, xfailed=1, xpassed=1)
    doc = etree.parse(str(pytester.path / "out" / "junit.xml"))
    ok = schema.validate(doc)
    print(f"junit-10.xsd: {len(EXPECTED)} cases, outcomes {sorted(set(EXPECTED.values()))}: "
          f"{'valid' if ok else schema.error_log}")
    assert ok, schema.error_log


def test_the_schema_copy_refuses_what_the_plugin_used_to_write(pytester, monkeypatch):
    """The check can fail: <properties> inside <testcase> (the old user_properties) is refused."""
    etree, schema = jenkins_schema()
    make_run(pytester, monkeypatch)
    doc = etree.parse(str(pytester.path / "out" / "junit.xml"))
    case = doc.find(".//testcase")
    props = etree.SubElement(case, "properties")
    etree.SubElement(props, "property", name="outcome", value="PASS")
    assert not schema.validate(doc)
    assert "properties" in str(schema.error_log)


def test_every_consumer_reads_the_outcome_class_and_a_one_line_message(pytester, monkeypatch):
    make_run(pytester, monkeypatch)
    tc = cases(pytester)
    kinds = {name: [c.tag for c in el if c.tag in ("failure", "error", "skipped")] for name, el in tc.items()}
    assert kinds == {"passes[n=1]": [], "passes[n=2]": [], "fails": ["failure"], "skipped": ["skipped"],
                     "panics": ["failure"], "hangs": ["failure"], "lab_breaks": ["error"],
                     "known_fails": ["skipped"], "known_fixed": [], "known_differs": ["failure"]}
    failure = tc["fails"].find("failure")
    assert failure.get("message") == ("FAIL: step 2 add_container: status expected STATUS_INVALID_PARAMETER "
                                      "(0xC000000D), observed STATUS_SUCCESS (0x00000000)")
    assert "FAIL step 2 add_container" in failure.text and "!= observed STATUS_SUCCESS" in failure.text
    for name, word in (("panics", "BUGCHECK: "), ("hangs", "HANG: "), ("known_differs", "FAIL: ")):
        message = tc[name].find("failure").get("message")
        assert message.startswith(word) and "\n" not in message, message
    assert "fails otherwise than known issue" in tc["known_differs"].find("failure").text
    error = tc["lab_breaks"].find("error")
    assert "\n" not in error.get("message") and "INFRA" in error.get("message")
    skipped = tc["skipped"].find("skipped")
    assert skipped.get("message") == "scenario 'skipped' lists target 'scripted' in skip_targets"
    xfail = tc["known_fails"].find("skipped")
    assert xfail.get("type") == "pytest.xfail" and LINK in xfail.get("message")


def test_the_target_and_its_identity_are_suite_properties(pytester, monkeypatch):
    make_run(pytester, monkeypatch)
    root = ET.parse(pytester.path / "out" / "junit.xml").getroot()
    suite = root.find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["clfs.target"] == "scripted" and props["clfs.target.model"] == "false"
    assert props["clfs.identity.protocol_version"] == "1"
    assert root.find(".//testcase/properties") is None


def test_stand_in_results_say_so_in_the_suite_properties():
    from harness.report.junit import suite_properties

    wine = {"target": {"name": "wine", "kind": "wine", "model": True,
                       "identity": {"target": "wine", "model": True, "standin": True}}}
    props = dict(suite_properties(wine))
    assert props["clfs.results_of"] == "the CLFS.SYS stand-in under Wine, not Windows"
    assert "clfs.note" not in props
