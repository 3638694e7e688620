"""The scenario checker as an author meets it: what a scenario's header turns into (timeout,
expected bugcheck, requirements, tags), the limits on steps and matrix size at their boundary,
and the one-line problems for each kind of bad header or matrix.

Each test is something an author would notice if the checker got it wrong (a ``timeout:``
silently ignored, a 2,000-case matrix let through); found by tools/mutation.py.
"""

from __future__ import annotations

import pytest

from harness.scenario.check import case_id
from harness.scenario.load import load_file
from harness.scenario.model import BugcheckExpectation

pytestmark = pytest.mark.timeout(20)

LOG = "  - create_log: {name: log}\n"
MAX_STEPS = 128                  # steps per scenario (the driver takes 256 per request)
MAX_CASES_PER_SCENARIO = 1024    # cases one scenario's matrix may expand to


def load(tmp_path, text: str):
    path = tmp_path / "x.scenario.yaml"
    path.write_text(text)
    return load_file(path, file_id="area/x.scenario.yaml", display="x.scenario.yaml")


def one_case(tmp_path, header: str = ""):
    cases, problems = load(tmp_path, "name: basic\ndescription: d\n" + header + "steps:\n" + LOG)
    assert problems == []
    assert len(cases) == 1
    return cases[0]


def problems(tmp_path, text: str) -> list[str]:
    cases, found = load(tmp_path, text)
    assert cases == [], "a file with problems yields no cases"
    return found


def header_problems(tmp_path, header: str) -> list[str]:
    return problems(tmp_path, "name: basic\ndescription: d\n" + header + "steps:\n" + LOG)


# ---- what the header becomes -----------------------------------------------------------------

def test_a_scenario_timeout_is_the_case_timeout(tmp_path):
    assert one_case(tmp_path, "timeout: 2m\n").timeout_s == 120.0
    assert one_case(tmp_path, "timeout: 30s\n").timeout_s == 30.0
    assert one_case(tmp_path, "timeout: 1h\n").timeout_s == 3600.0
    assert one_case(tmp_path).timeout_s == 120.0  # the documented default


def test_a_bad_timeout_is_reported_at_its_line(tmp_path):
    assert header_problems(tmp_path, "timeout: 2 weeks\n") == [
        "x.scenario.yaml:3:10: scenario 'basic': timeout: expected a duration such as 30s, 2m or 1h, "
        "got '2 weeks'"]
    assert header_problems(tmp_path, "timeout: 0s\n") == [
        "x.scenario.yaml:3:10: scenario 'basic': timeout: 0 s is out of range: a timeout takes 1 s to 24 h"]


def test_the_header_is_carried_into_every_case(tmp_path):
    case = one_case(tmp_path, "description: '  padded  '\n".replace("description", "tags: [slow, io_1]\n"
                                                                    "skip_targets: [model, wine]\n#"))
    assert case.tags == ("slow", "io_1")
    assert case.skip_targets == frozenset({"model", "wine"})
    assert case.description == "d"
    assert case.expect_bugcheck is None and case.requires.min_windows_build is None
    assert case.id == "area/x.scenario.yaml::basic" and case.params == {}
    assert (case.loc.line, case.loc.col) == (1, 1)
    assert case.objects == {"log": "log"}


def test_a_description_is_stripped_and_must_not_be_blank(tmp_path):
    cases, found = load(tmp_path, "name: basic\ndescription: '  the rule  '\nsteps:\n" + LOG)
    assert found == [] and cases[0].description == "the rule"
    assert problems(tmp_path, "name: basic\ndescription: '   '\nsteps:\n" + LOG) == [
        "x.scenario.yaml:2:14: scenario 'basic': description: expected text, got '   '"]


@pytest.mark.parametrize("code, kept", [("0xA", 0xA), ("1", 1), ("0xFFFFFFFF", 0xFFFFFFFF)])
def test_an_expected_bugcheck_code_is_kept(tmp_path, code, kept):
    assert one_case(tmp_path, f"expect_bugcheck: {code}\n").expect_bugcheck == BugcheckExpectation((kept,))


@pytest.mark.parametrize("code", ["0", "0x100000000", "true", "-1", "'0xA'"])
def test_an_expected_bugcheck_that_is_no_bugcheck_code_is_refused(tmp_path, code):
    found = header_problems(tmp_path, f"expect_bugcheck: {code}\n")
    assert len(found) == 1 and "expect_bugcheck: expected a bugcheck code such as 0xA" in found[0], found


def test_a_dispatch_context_is_allowed_with_an_expected_bugcheck(tmp_path):
    case = one_case(tmp_path, "context: dispatch\nexpect_bugcheck: 0xA\n")
    assert case.steps[0].context == "dispatch" and case.expect_bugcheck == BugcheckExpectation((0xA,))


def test_requires_sets_the_minimum_windows_build(tmp_path):
    assert one_case(tmp_path, "requires: {min_windows_build: 22621}\n").requires.min_windows_build == 22621
    assert one_case(tmp_path, "requires: {min_windows_build: 0}\n").requires.min_windows_build == 0


@pytest.mark.parametrize("requires, message", [
    ("[22621]", "3:11: scenario 'basic': requires: expected a mapping such as {min_windows_build: 22621}, "
                "got a list"),
    ("{min_build: 22621}", "3:12: scenario 'basic': requires: unknown requirement 'min_build' "
                           "(known: min_windows_build)"),
    ("{min_windows_build: -1}", "3:31: scenario 'basic': requires.min_windows_build: expected a Windows build "
                                "number such as 22621, got -1"),
    ("{min_windows_build: 4294967296}", "3:31: scenario 'basic': requires.min_windows_build: expected a "
                                        "Windows build number such as 22621, got 4294967296"),
    ("{min_windows_build: true}", "3:31: scenario 'basic': requires.min_windows_build: expected a Windows "
                                  "build number such as 22621, got True"),
])
def test_bad_requirements_are_reported_at_their_place(tmp_path, requires, message):
    assert header_problems(tmp_path, f"requires: {requires}\n") == [f"x.scenario.yaml:{message}"]


@pytest.mark.parametrize("field, value, message", [
    ("tags", "slow", "3:7: scenario 'basic': tags: expected a list of names, got 'slow'"),
    ("tags", "[Slow]", "3:8: scenario 'basic': tags[0]: expected a name of lower-case letters, digits and '_', "
                       "got 'Slow'"),
    ("tags", "[slow, slow]", "3:14: scenario 'basic': tags[1]: 'slow' is listed twice"),
    ("skip_targets", "[model, 'no way']", "3:23: scenario 'basic': skip_targets[1]: expected a name of letters, "
                                          "digits and '_', got 'no way'"),
])
def test_bad_tag_and_target_lists_are_reported_per_item(tmp_path, field, value, message):
    assert header_problems(tmp_path, f"{field}: {value}\n") == [f"x.scenario.yaml:{message}"]


def test_upper_case_target_names_are_fine_where_tags_must_be_lower_case(tmp_path):
    assert one_case(tmp_path, "skip_targets: [Win11]\n").skip_targets == frozenset({"Win11"})


# ---- names and fields ------------------------------------------------------------------------

def test_a_bad_scenario_name_is_reported_and_the_document_is_named_by_its_index(tmp_path):
    assert problems(tmp_path, "name: 'two words'\ndescription: d\nsteps:\n" + LOG) == [
        "x.scenario.yaml:1:7: document 1: name: expected letters, digits, '_', '-' or '.', starting with a letter "
        "or '_', got 'two words'"]


def test_names_with_dashes_and_dots_are_scenario_names(tmp_path):
    cases, found = load(tmp_path, "name: create-log.v2\ndescription: d\nsteps:\n" + LOG)
    assert found == [] and cases[0].id == "area/x.scenario.yaml::create-log.v2"


def test_unknown_and_missing_top_fields_are_all_reported(tmp_path):
    assert problems(tmp_path, "name: basic\ntimout: 2m\nsteps:\n" + LOG) == [
        "x.scenario.yaml:1:1: scenario 'basic': missing required field 'description'",
        "x.scenario.yaml:2:1: scenario 'basic': unknown field 'timout' (did you mean timeout?)",
    ]


def test_a_bad_context_is_reported_with_the_known_ones(tmp_path):
    assert header_problems(tmp_path, "context: passiv\n") == [
        "x.scenario.yaml:3:10: scenario 'basic': context: expected one of passive, apc, guarded, critical, "
        "dispatch, got 'passiv' (did you mean passive?)"]


# ---- steps -----------------------------------------------------------------------------------

def test_a_scenario_takes_max_steps_steps_and_not_one_more(tmp_path):
    body = LOG + "  - query_log_info: {log: log}\n" * (MAX_STEPS - 1)
    cases, found = load(tmp_path, "name: basic\ndescription: d\nsteps:\n" + body)
    assert found == [] and len(cases[0].steps) == MAX_STEPS
    found = problems(tmp_path, "name: basic\ndescription: d\nsteps:\n" + body + "  - close_log: {log: log}\n")
    assert found == [f"x.scenario.yaml:4:3: scenario 'basic': steps: {MAX_STEPS + 1} steps; a scenario has at "
                     f"most {MAX_STEPS}"]


def test_an_empty_step_list_is_refused(tmp_path):
    assert problems(tmp_path, "name: basic\ndescription: d\nsteps: []\n") == [
        "x.scenario.yaml:3:8: scenario 'basic': steps: expected a non-empty list of steps, got a list"]


# ---- matrix ----------------------------------------------------------------------------------

def matrix_scenario(matrix: str) -> str:
    return "name: grid\ndescription: d\nmatrix:\n" + matrix + "steps:\n" + LOG


def test_a_matrix_expands_to_the_limit_and_not_one_case_more(tmp_path):
    side = 32
    assert side * side == MAX_CASES_PER_SCENARIO
    values = ", ".join(str(i) for i in range(side))
    cases, found = load(tmp_path, matrix_scenario(f"  a: [{values}]\n  b: [{values}]\n"))
    assert found == [] and len(cases) == MAX_CASES_PER_SCENARIO
    found = problems(tmp_path, matrix_scenario(f"  a: [{values}]\n  b: [{values}]\n  c: [1, 2]\n"))
    assert found == [f"x.scenario.yaml:4:3: scenario 'grid': matrix: {2 * MAX_CASES_PER_SCENARIO} combinations; "
                     f"a scenario expands to at most {MAX_CASES_PER_SCENARIO} cases"]
    values = ", ".join(str(i) for i in range(MAX_CASES_PER_SCENARIO + 1))
    found = problems(tmp_path, matrix_scenario(f"  a: [{values}]\n"))
    assert found[0].endswith(f"matrix: {MAX_CASES_PER_SCENARIO + 1} combinations; a scenario expands to at most "
                             f"{MAX_CASES_PER_SCENARIO} cases")


@pytest.mark.parametrize("matrix, message", [
    ("  scratch: [a]\n", "4:3: scenario 'grid': matrix: 'scratch' cannot be a matrix name (letters, digits and "
                         "'_'; not scratch)"),
    ("  two-words: [a]\n", "4:3: scenario 'grid': matrix: 'two-words' cannot be a matrix name (letters, digits "
                           "and '_'; not scratch)"),
    ("  a: []\n", "4:6: scenario 'grid': matrix.a: expected a non-empty list of values, got a list"),
    ("  a: 4096\n", "4:6: scenario 'grid': matrix.a: expected a non-empty list of values, got 4096"),
    ("  a: [1, [2]]\n", "4:10: scenario 'grid': matrix.a[1]: expected a number, text or true/false, got a list"),
    ("  a: [1, {b: 2}]\n", "4:10: scenario 'grid': matrix.a[1]: expected a number, text or true/false, "
                           "got a mapping"),
    ("  a: [1, null]\n", "4:10: scenario 'grid': matrix.a[1]: expected a number, text or true/false, "
                         "got nothing (null)"),
    ("  a: [1, 2, 1]\n", "4:6: scenario 'grid': matrix.a: a value is listed twice"),
])
def test_bad_matrix_axes_are_reported_at_their_place(tmp_path, matrix, message):
    assert problems(tmp_path, matrix_scenario(matrix)) == [f"x.scenario.yaml:{message}"]


def test_a_matrix_that_is_not_a_mapping_is_refused(tmp_path):
    assert problems(tmp_path, "name: grid\ndescription: d\nmatrix: [1, 2]\nsteps:\n" + LOG) == [
        "x.scenario.yaml:3:9: scenario 'grid': matrix: expected a mapping of names to lists of values, got a list"]
    empty = problems(tmp_path, "name: grid\ndescription: d\nmatrix: {}\nsteps:\n" + LOG)
    assert len(empty) == 1
    assert empty[0].startswith("x.scenario.yaml:3:9: scenario 'grid': matrix: expected a mapping of names to lists")


def test_one_and_true_are_different_matrix_values(tmp_path):
    cases, found = load(tmp_path, matrix_scenario("  a: [1, true, '1']\n"))
    assert found == [] and [c.id for c in cases] == [
        "area/x.scenario.yaml::grid[a=1]", "area/x.scenario.yaml::grid[a=true]", "area/x.scenario.yaml::grid[a=1]"]


def test_case_ids_show_booleans_as_yaml_writes_them():
    assert case_id("f.scenario.yaml", "s", {}) == "f.scenario.yaml::s"
    assert case_id("f.scenario.yaml", "s", {"a": True, "b": False, "c": 4096}) == \
        "f.scenario.yaml::s[a=true,b=false,c=4096]"


def test_problems_are_listed_in_file_order_and_each_once(tmp_path):
    found = problems(tmp_path, "name: basic\nzzz: 1\ndescription: d\naaa: 2\nsteps:\n"
                               "  - create_log: {name: log, bogus: 1}\n")
    assert found == [
        "x.scenario.yaml:2:1: scenario 'basic': unknown field 'zzz'",
        "x.scenario.yaml:4:1: scenario 'basic': unknown field 'aaa'",
        "x.scenario.yaml:6:29: scenario 'basic', step 1 (create_log): unknown parameter 'bogus'; create_log takes "
        "name, path, disposition",
    ]


@pytest.mark.parametrize("text, message", [
    ("name: 5\ndescription: d\nsteps:\n" + LOG,
     "x.scenario.yaml:1:7: document 1: name: expected letters, digits, '_', '-' or '.', starting with a letter or "
     "'_', got 5"),
    ("description: d\nsteps:\n" + LOG, "x.scenario.yaml:1:1: document 1: missing required field 'name'"),
    ("name: basic\ndescription: 5\nsteps:\n" + LOG, "x.scenario.yaml:2:14: scenario 'basic': description: "
                                                    "expected text, got 5"),
    ("name: basic\ndescription: d\nsteps: 5\n", "x.scenario.yaml:3:8: scenario 'basic': steps: expected a "
                                                "non-empty list of steps, got 5"),
])
def test_a_header_of_the_wrong_type_is_one_problem_not_a_crash(tmp_path, text, message):
    assert problems(tmp_path, text) == [message]


def test_the_largest_windows_build_number_is_a_requirement(tmp_path):
    case = one_case(tmp_path, "requires: {min_windows_build: 0xFFFFFFFF}\n")
    assert case.requires.min_windows_build == 0xFFFFFFFF


def test_a_step_list_over_the_limit_is_one_problem_not_one_per_step(tmp_path):
    body = "  - bogus_step: {}\n" * (MAX_STEPS + 1)
    assert problems(tmp_path, "name: basic\ndescription: d\nsteps:\n" + body) == [
        f"x.scenario.yaml:4:3: scenario 'basic': steps: {MAX_STEPS + 1} steps; a scenario has at most {MAX_STEPS}"]


@pytest.mark.parametrize("matrix", ["  two-words: [1]\n", "  n: []\n", "  n: [[1]]\n", "  n: [1, 1]\n"])
def test_a_bad_matrix_axis_is_one_problem_not_one_per_use(tmp_path, matrix):
    # The steps use the axis; its mistake is reported at the matrix, not again at every use in every case.
    text = ("name: grid\ndescription: d\nmatrix:\n" + matrix + "steps:\n"
            "  - create_log: {name: log, path: '${scratch}/${n}'}\n"
            "  - add_container: {log: log, size: '${n}'}\n")
    text = text.replace("${n}", "${two-words}") if "two-words" in matrix else text
    found = problems(tmp_path, text)
    assert len(found) == 1 and "matrix" in found[0], found
