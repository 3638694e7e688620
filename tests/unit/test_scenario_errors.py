"""Bad scenario input: each problem reported once, with the exact file:line:col and message."""

from __future__ import annotations

import pytest

from harness.scenario.load import load_file

HEADER = "name: basic\ndescription: d\nsteps:\n"
LOG = "  - create_log: {name: log}\n"
CONTAINERS = "  - add_container_set: {log: log, count: 2, size: 512KiB}\n"
AREA = "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}\n"


def problems_of(tmp_path, content: bytes | str) -> list[str]:
    path = tmp_path / "x.scenario.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    cases, problems = load_file(path, display="x.scenario.yaml")
    assert not cases, "a file with problems must yield no cases"
    return problems


CASES = {
    "malformed_yaml": (
        HEADER + "  - create_log: {name: log\n",
        ["x.scenario.yaml:5:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping)"],
    ),
    "tab_indentation": (
        "name: basic\ndescription: d\nsteps:\n\t- create_log: {name: log}\n",
        ["x.scenario.yaml:4:1: tab character in indentation; YAML indents with spaces only"],
    ),
    "unknown_step": (
        HEADER + LOG + "  - crate_log: {name: other}\n",
        # the vocabulary in its declared order (ops.py): every branch that adds ops changes the tail
        ["x.scenario.yaml:5:5: scenario 'basic', step 2: unknown step 'crate_log' (did you mean create_log?); "
         "steps are: create_log, add_container, add_container_set, create_marshalling_area, align_reserved_log, "
         "alloc_reserved_log, free_reserved_log, reserve_and_append, flush_buffers, flush_to_lsn, "
         "delete_marshalling_area, close_log, delete_log, query_log_info, read_log_record, read_next_log_record, "
         "terminate_read, write_restart_area, read_restart_area, read_previous_restart_area, advance_log_base, "
         "set_archive_tail, set_end_of_log, close_and_reset_log, delete_log_by_pointer, reserve_and_append_aligned, "
         "remove_container, remove_container_set, create_scan_context, scan_containers, reinit_scan_context, "
         "get_container_name, "
         "get_io_statistics, set_log_info, create_marshalling_area_ex, "
         "register_managed_client, deregister_managed_client, install_policy, query_policy, remove_policy, "
         "set_log_file_size, set_log_file_size_as_client, handle_log_file_full, tail_advance_failure, fill_log, "
         "append_burst, read_burst, create_lsn, inspect_lsn, corrupt_record"],
    ),
    "wrong_type": (
        HEADER + LOG + CONTAINERS + AREA + "  - alloc_reserved_log: {area: ma, records: two, adjustment: 512}\n",
        ["x.scenario.yaml:7:45: scenario 'basic', step 4 (alloc_reserved_log): records: expected an integer >= 1, "
         "got 'two'"],
    ),
    "missing_field": (
        "name: basic\ndescription: d\n",
        ["x.scenario.yaml:1:1: scenario 'basic': missing required field 'steps'"],
    ),
    "missing_parameter": (
        HEADER + LOG + "  - add_container: {log: log}\n",
        ["x.scenario.yaml:5:5: scenario 'basic', step 2 (add_container): missing required parameter 'size'"],
    ),
    "bad_unit": (
        HEADER + LOG + "  - add_container: {log: log, size: 512KB}\n",
        ["x.scenario.yaml:5:37: scenario 'basic', step 2 (add_container): size: unknown unit 'KB'; "
         "use B, KiB, MiB, GiB or TiB (did you mean KiB? units are binary: 1 KiB = 1024 bytes)"],
    ),
    "undefined_name": (
        HEADER + LOG + "  - add_container: {log: lg, size: 512KiB}\n",
        ["x.scenario.yaml:5:26: scenario 'basic', step 2 (add_container): log: undefined name 'lg': no log of "
         "that name is created before this step (did you mean log?)"],
    ),
    "duplicate_object_name": (
        HEADER + LOG + "  - create_log: {name: log}\n",
        ["x.scenario.yaml:5:24: scenario 'basic', step 2 (create_log): name: duplicate name 'log': step 1 "
         "already created a log of that name"],
    ),
    "duplicate_scenario_name": (
        HEADER + LOG + "---\n" + HEADER + LOG,
        ["x.scenario.yaml:6:7: scenario 'basic': duplicate scenario name (document 1 already uses it)"],
    ),
    "duplicate_key": (
        "name: basic\nname: other\ndescription: d\nsteps:\n" + LOG,
        ["x.scenario.yaml:2:1: duplicate key 'name' (first given at line 1)"],
    ),
    "empty_file": (
        "# nothing but a comment\n",
        ["x.scenario.yaml:1:1: file holds no scenario (it is empty or only comments)"],
    ),
    "integer_beyond_64_bits": (
        HEADER + LOG + "  - add_container: {log: log, size: 36893488147419103232}\n",
        ["x.scenario.yaml:5:37: scenario 'basic', step 2 (add_container): size: 36893488147419103232 is out of "
         "range: ULONGLONG takes 0 to 18446744073709551615"],
    ),
    "not_utf8": (
        b"name: basic\ndescription: caf\xe9\nsteps:\n" + LOG.encode(),
        ["x.scenario.yaml:2:17: byte 0xe9 is not valid UTF-8; scenario files must be UTF-8 text"],
    ),
    "alias_bomb": (
        "a: &a [" + ",".join(['"lol"'] * 9) + "]\n"
        + "".join(f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcde", "bcdef")),
        ["x.scenario.yaml:6:1: document expands to more than 100000 nodes (aliases multiply: an alias bomb?)"],
    ),
    "python_object_tag": (
        "name: !!python/object/apply:os.system ['true']\ndescription: d\nsteps:\n" + LOG,
        ["x.scenario.yaml:1:7: tag !!python/object/apply:os.system is not allowed: scenario files are plain data "
         "(no language-specific tags)"],
    ),
    "document_is_a_list": (
        "- create_log: {name: log}\n",
        ["x.scenario.yaml:1:1: document 1: expected a mapping (one scenario) at the top of the document, got a list"],
    ),
    "saved_value_before_save": (
        HEADER + LOG + CONTAINERS + AREA + "  - alloc_reserved_log: {area: ma, records: 1, adjustment: '${aligned}'}\n",
        ["x.scenario.yaml:7:60: scenario 'basic', step 4 (alloc_reserved_log): adjustment: undefined name "
         "'${aligned}': not a matrix value, a value saved by an earlier step, or ${scratch}"],
    ),
    "expect_bugcheck_not_a_code": (
        "name: basic\ndescription: d\nexpect_bugcheck: some\nsteps:\n" + LOG,
        ["x.scenario.yaml:3:18: scenario 'basic': expect_bugcheck: expected a bugcheck code such as 0xA, any, or a "
         "list of codes such as [0xA, 0xD1, 0xC4], got 'some'"],
    ),
    "expect_bugcheck_bad_item_in_set": (
        "name: basic\ndescription: d\nexpect_bugcheck: [0xA, 0, 0xA]\nsteps:\n" + LOG,
        ["x.scenario.yaml:3:24: scenario 'basic': expect_bugcheck[1]: expected a bugcheck code from 0x1 to "
         "0xFFFFFFFF, got 0",
         "x.scenario.yaml:3:27: scenario 'basic': expect_bugcheck[2]: 0xA is listed twice"],
    ),
    "dispatch_without_bugcheck": (
        HEADER + LOG + "    context: dispatch\n",
        ["x.scenario.yaml:5:14: scenario 'basic', step 1 (create_log): context: dispatch is above APC_LEVEL, where "
         "the CLFS routines must not be called; a scenario runs it only when it declares expect_bugcheck"],
    ),
    "alloc_count_differs_from_align": (
        HEADER + LOG + CONTAINERS + AREA
        + "  - align_reserved_log: {area: ma, record_sizes: [100, 200]}\n    save: {aligned: aligned_size}\n"
        + "  - alloc_reserved_log: {area: ma, records: 3, adjustment: '${aligned}'}\n",
        ["x.scenario.yaml:9:45: scenario 'basic', step 5 (alloc_reserved_log): records: 3 differs from the 2 "
         "record(s) aligned at step 4; ClfsAllocReservedLog's cRecords must match ClfsAlignReservedLog's (to test "
         "that on purpose, expect failure, any or a status)"],
    ),
    "record_over_the_drivers_cap": (
        HEADER + LOG + CONTAINERS + AREA + "  - reserve_and_append: {area: ma, records: [4294967295]}\n",
        ["x.scenario.yaml:7:46: scenario 'basic', step 4 (reserve_and_append): records[0]: 4294967295 is more "
         "than 1048576: the driver allocates record payloads from nonpaged pool and takes at most 1 MiB per record"],
    ),
    "record_entries_add_up_over_the_cap": (
        HEADER + LOG + CONTAINERS + AREA + "  - reserve_and_append: {area: ma, records: [1MiB, 1]}\n",
        ["x.scenario.yaml:7:45: scenario 'basic', step 4 (reserve_and_append): records: the write entries form one "
         "record of 1048577 bytes, more than 1048576: the driver allocates record payloads from nonpaged pool and "
         "takes at most 1 MiB per record"],
    ),
    "records_of_a_case_over_the_request_cap": (
        HEADER + LOG + CONTAINERS + AREA + "  - reserve_and_append: {area: ma, records: [1MiB]}\n" * 17,
        ["x.scenario.yaml:23:45: scenario 'basic', step 20 (reserve_and_append): records: the records up to this "
         "step add up to 17825792 bytes, more than the 16777216 (16 MiB) one case may append"],
    ),
    "empty_container_set": (
        HEADER + LOG + "  - add_container_set: {log: log, count: 0, size: 512KiB}\n",
        ["x.scenario.yaml:5:42: scenario 'basic', step 2 (add_container_set): count: 0 is out of range: "
         "count takes 1 to 65535 (a USHORT)"],
    ),
    "size_out_of_range_for_ulong": (
        HEADER + LOG + CONTAINERS + "  - create_marshalling_area: {name: ma, log: log, buffer_size: 8GiB}\n",
        ["x.scenario.yaml:6:64: scenario 'basic', step 3 (create_marshalling_area): buffer_size: 8589934592 is out "
         "of range: ULONG takes 0 to 4294967295"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_reported_at_its_place(tmp_path, name):
    content, expected = CASES[name]
    assert problems_of(tmp_path, content) == expected


def test_ten_megabyte_file_is_refused_without_reading_it(tmp_path):
    content = HEADER + LOG + "# " + "x" * (10 * 1024 * 1024) + "\n"
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:1:1: file is 10.0 MiB; a scenario file is at most 1 MiB (split it, or generate cases "
        "with a matrix)"]


def test_every_problem_in_a_file_is_reported_in_one_run(tmp_path):
    content = (
        "name: basic\ndescription: d\nstpes: []\nsteps:\n" + LOG
        + "  - add_container: {log: lg, size: 512KB}\n"
        + "  - create_marshalling_area: {name: ma, log: log, buffer_size: -1, pool: papged}\n"
        + "---\nname: second\ndescription: d\nsteps: [{flush_buffers: {area: nowhere}}]\n"
    )
    problems = problems_of(tmp_path, content)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "x.scenario.yaml:3:1", "x.scenario.yaml:6:26", "x.scenario.yaml:6:36", "x.scenario.yaml:7:64",
        "x.scenario.yaml:7:74", "x.scenario.yaml:11:32"]
    assert "unknown field 'stpes' (did you mean steps?)" in problems[0]
    assert "pool: expected one of nonpaged, paged, nonpaged_nx, got 'papged' (did you mean paged?)" in problems[4]


def test_one_mistake_is_reported_once_not_at_every_later_use(tmp_path):
    content = (
        "name: basic\ndescription: d\ncontext: dispatch\nsteps:\n"
        "  - create_log: {name: log, disposition: sometimes}\n"
        "  - add_container_set: {log: log, count: 2, size: 512KiB}\n"
        "  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KB}\n"
        "  - align_reserved_log: {area: ma, record_sizes: [100]}\n    save: {aligned: aligned_size}\n"
        "  - alloc_reserved_log: {area: ma, records: 1, adjustment: '${aligned}'}\n"
    )
    assert problems_of(tmp_path, content) == [
        "x.scenario.yaml:3:10: scenario 'basic': context: dispatch is above APC_LEVEL, where the CLFS routines "
        "must not be called; a scenario runs it only when it declares expect_bugcheck",
        "x.scenario.yaml:5:42: scenario 'basic', step 1 (create_log): disposition: expected one of open_always, "
        "create_new, open_existing, got 'sometimes'",
        "x.scenario.yaml:7:64: scenario 'basic', step 3 (create_marshalling_area): buffer_size: unknown unit 'KB'; "
        "use B, KiB, MiB, GiB or TiB (did you mean KiB? units are binary: 1 KiB = 1024 bytes)",
    ]
