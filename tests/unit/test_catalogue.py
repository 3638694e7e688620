"""The shipped catalogue and schema: every file checks clean, and the schema agrees with the checker."""

from __future__ import annotations

import json

import jsonschema
import pytest

from harness.scenario import schema
from harness.scenario.load import discover, load_file, load_paths
from harness.scenario.yamlsrc import load_documents


def test_every_catalogue_file_checks_clean(repo):
    files = discover([repo / "scenarios"])
    assert len(files) >= 5
    for file in files:
        cases, problems = load_file(file.path, file.file_id)
        assert problems == [], problems
        assert cases


def test_catalogue_has_at_least_25_cases_each_quoting_the_docs(repo):
    cases = load_paths([repo / "scenarios"])
    assert len(cases) >= 25
    for case in cases:
        assert '"' in case.description, f"{case.id}: the description must quote the documented sentence"


def test_catalogue_covers_the_issue_s_rules(repo):
    names = {c.scenario for c in load_paths([repo / "scenarios"])}
    for required in ("no_containers", "one_container", "alloc_callback_without_free", "free_callback_without_alloc",
                     "buffer_not_sector_multiple", "alloc_record_count_differs_from_align", "alloc_negative_adjustment",
                     "align_negative_record_size", "zero_buffer_size", "alloc_adjustment_not_from_align",
                     "reserve_then_append", "delete_area_with_reservations_outstanding"):
        assert required in names


def test_shipped_schema_is_the_generated_one():
    assert schema.shipped_schema_text() == schema.schema_text(), "run: clfs-harness schema --write"


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(schema.shipped_schema_text()))


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(schema.build_schema())


def test_schema_accepts_every_catalogue_document(repo, validator):
    for file in discover([repo / "scenarios"]):
        for doc in load_documents(file.path.read_text()):
            errors = list(validator.iter_errors(doc.data))
            assert errors == [], f"{file.path} document {doc.index}: {errors[0].message}"


@pytest.mark.parametrize("broken", [
    {"steps": [{"create_log": {"name": "l"}}], "description": "d"},                         # no name
    {"name": "a", "description": "d", "steps": [{"crate_log": {"name": "l"}}]},             # unknown step
    {"name": "a", "description": "d", "steps": [{"create_log": {"name": "l"}, "add_container": {}}]},
    {"name": "a", "description": "d", "steps": [{"add_container": {"log": "l", "size": "512KB"}}]},
    {"name": "a", "description": "d", "steps": [{"alloc_reserved_log": {"area": "a", "records": "two",
                                                                        "adjustment": 1}}]},
    {"name": "a", "description": "d", "steps": [{"create_marshalling_area": {
        "name": "m", "log": "l", "buffer_size": 1 << 32}}]},
    {"name": "a", "description": "d", "stpes": [], "steps": [{"create_log": {"name": "l"}}]},
    {"name": "a", "description": "d", "expect_bugcheck": "some", "steps": [{"create_log": {"name": "l"}}]},
    {"name": "a", "description": "d", "expect_bugcheck": [0xA, 0], "steps": [{"create_log": {"name": "l"}}]},
    {"name": "a", "description": "d", "expect_bugcheck": [], "steps": [{"create_log": {"name": "l"}}]},
    {"name": "a", "description": "d", "matrix": {"n": [1, 1]}, "steps": [{"create_log": {"name": "l"}}]},
    {"name": "a", "description": "d", "steps": [{"add_container_set": {"log": "l", "count": -2, "size": 1}}]},
    {"name": "a", "description": "d", "steps": [{"add_container_set": {"log": "l", "count": 0, "size": 1}}]},
    {"name": "a", "description": "d", "steps": [{"create_marshalling_area": {
        "name": "m", "log": "l", "buffer_size": "8GiB"}}]},
    {"name": "a", "description": "d", "timeout": "soon", "steps": [{"create_log": {"name": "l"}}]},
    {"name": "a", "description": "d", "known_issues": [{"link": "x"}], "steps": [{"create_log": {"name": "l"}}]},
])
def test_schema_rejects_what_the_checker_rejects_structurally(validator, broken):
    assert list(validator.iter_errors(broken)), "the editor schema must flag this too"
