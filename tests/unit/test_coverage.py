"""`clfs-harness coverage`: documented routines and model rules against the cases that exercise them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.coverage import routines, table
from harness.coverage.rules import MODEL_SOURCE, read_rules
from harness.scenario.ops import OPS

FLUSH_CASE = """\
name: flush
description: d
steps:
  - create_log: {name: log}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64]}
    save: {first: lsn}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
"""


def test_the_shipped_routines_are_the_reference_folders_pages():
    folder = routines.reference_folder()
    if not folder.is_dir():
        pytest.skip(f"reference folder {folder} absent (set {routines.REFERENCE_ENV} or check out ../shared)")
    assert routines.shipped_routines() == routines.routines_in(folder), \
        "run: clfs-harness coverage --write-routines"
    assert "ClfsFreeReservedLog" not in routines.shipped_routines()  # a researcher's note, not a page


def test_the_data_path_is_made_of_documented_routines():
    assert routines.DATA_PATH <= set(routines.shipped_routines())


def test_every_rule_of_the_model_source_is_read_with_the_ops_that_reach_it():
    rules = read_rules()
    assert len(rules) == MODEL_SOURCE.read_text().count("RULE:")
    by_id = {r.id: r for r in rules}
    # The IRQL rule sits above irql_ok, which every op of the driver calls: every such op reaches it
    # (a test-only op, such as corrupt_record, is the model's own and has no IRQL to check).
    # The LSN arithmetic routines run at "Any level" (ClfsLsn*.md, req.irql): their ops do not check.
    any_irql = {name for name, op in OPS.items() if op.api.startswith("ClfsLsn")}
    assert any_irql == {"create_lsn", "inspect_lsn"}
    assert by_id["irql_ok#1"].ops == {name for name, op in OPS.items() if not op.test_only} - any_irql
    assert by_id["op_flush_to_lsn#1"].ops == {"flush_to_lsn"}
    assert "ClfsFlushToLsn.md" in by_id["op_flush_to_lsn#1"].pages
    # A rule in a helper belongs to the ops that call it, through the call graph.
    # container_size_for is called by add_containers and by resize (a management resize or an auto-grow
    # while appending): the ops of both reach it.
    assert by_id["container_size_for#1"].ops == {
        "add_container", "add_container_set", "set_log_file_size", "set_log_file_size_as_client",
        "handle_log_file_full", "reserve_and_append", "reserve_and_append_aligned", "fill_log", "append_burst"}
    for op in (name for name, spec in OPS.items() if not spec.test_only):
        assert any(op in r.ops for r in rules), f"{op} reaches no model rule"


def test_rules_are_parsed_from_designated_initializers_and_call_chains(tmp_path):
    source = tmp_path / "m.c"
    source.write_text("""\
/* header: no rule here, even with { braces } and RULE words later */
static const char *s = "RULE: in a string { is not a rule";

/* RULE: above a function: belongs to it (a.md). */
static int leaf(int x) { return x + 1; }

static int middle(int x)
{
    if (x) { /* RULE: nested block (b.md). Second sentence. */ }
    return leaf(x);
}

static int op_read(void *ctx) { return middle(1); }
static int op_write(void *ctx) { return leaf(2); }
static int unused(void) { /* RULE: nobody calls it (c.md). */ return 0; }

static const op_fn table[] = {
    [CT_OP_READ_LOG_RECORD] = op_read,
    [CT_OP_WRITE_RESTART_AREA] = op_write,
};
""")
    rules = {r.id: r for r in read_rules(source)}
    assert set(rules) == {"leaf#1", "middle#1", "unused#1"}
    assert rules["leaf#1"].ops == {"read_log_record", "write_restart_area"}
    assert rules["middle#1"].ops == {"read_log_record"} and rules["middle#1"].text == "nested block (b.md)."
    assert rules["unused#1"].ops == set() and rules["unused#1"].line == 15


def test_a_data_path_routine_without_a_case_makes_the_coverage_incomplete():
    rules = read_rules()
    # ClfsNoOpCallsThis: a documented routine no op calls yet (a page Microsoft adds later).
    names = ["ClfsFlushToLsn", "ClfsCreateMarshallingAreaEx", "ClfsNoOpCallsThis"]
    done = table.compute({"c1": {"flush_to_lsn"}}, names, rules)
    rows = {r.name: r for r in done.routines}
    assert rows["ClfsFlushToLsn"].cases == ("c1",) and rows["ClfsFlushToLsn"].data_path
    assert rows["ClfsCreateMarshallingAreaEx"].cases == () and rows["ClfsCreateMarshallingAreaEx"].data_path
    assert not rows["ClfsNoOpCallsThis"].data_path
    assert not done.complete(data_path_only=True)
    assert "ClfsCreateMarshallingAreaEx" in [r.name for r in done.missing(data_path_only=True)]
    assert "ClfsNoOpCallsThis" not in [r.name for r in done.missing(data_path_only=True)]
    assert "ClfsNoOpCallsThis" in [r.name for r in done.missing()]
    text = table.render_text(done)
    assert re.search(r"^ClfsCreateMarshallingAreaEx +yes +0  create_marshalling_area_ex$", text, re.M)
    assert re.search(r"^ClfsNoOpCallsThis +0  \(no op calls it\)$", text, re.M)
    assert "Routines not exercised: ClfsCreateMarshallingAreaEx (data path), ClfsNoOpCallsThis." in text


def test_the_command_exits_1_while_a_data_path_routine_has_no_case(tmp_path, capsys):
    (tmp_path / "f.scenario.yaml").write_text(FLUSH_CASE)
    assert main(["coverage", str(tmp_path), "--data-path-only"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^ClfsFlushToLsn +yes +1  flush_to_lsn$", out, re.M)
    assert re.search(r"^op_flush_to_lsn#1 +yes +1  ", out, re.M)
    assert "Incomplete:" in out


def test_the_command_exits_0_when_every_data_path_routine_and_rule_has_a_case(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(table, "DATA_PATH", frozenset({"ClfsFlushToLsn"}))
    (tmp_path / "f.scenario.yaml").write_text(FLUSH_CASE)
    assert main(["coverage", str(tmp_path), "--markdown", "--data-path-only"]) == 0
    out = capsys.readouterr().out
    assert "| `ClfsFlushToLsn` | yes | 1 | `flush_to_lsn` |" in out
    # ... but the whole surface is not covered: without --data-path-only the same catalogue fails
    assert main(["coverage", str(tmp_path), "--markdown"]) == 1


# A small world for the exit code of the whole surface (issue 15, item 6): two documented routines
# (a reference folder of two pages) and a model source of two rules, so the test does not depend on
# which routines the real catalogue reaches yet.
SMALL_MODEL = """/* RULE: flushing (ClfsFlushToLsn.md). */
static int op_flush_to_lsn(void *ctx) { return 0; }
/* RULE: closing (ClfsCloseLogFileObject.md). */
static int op_close_log(void *ctx) { return 0; }
static const op_fn table[] = {
    [CT_OP_FLUSH_TO_LSN] = op_flush_to_lsn,
    [CT_OP_CLOSE_LOG] = op_close_log,
};
"""


def _small_world(tmp_path, steps: str):
    ref = tmp_path / "ref"
    ref.mkdir()
    for page in ("ClfsFlushToLsn.md", "ClfsCloseLogFileObject.md", "ClfsFreeReservedLog.NOT_DOCUMENTED.md"):
        (ref / page).write_text("page")
    (tmp_path / "m.c").write_text(SMALL_MODEL)
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "f.scenario.yaml").write_text(FLUSH_CASE + steps)
    return ["coverage", str(cases), "--reference", str(ref), "--model-source", str(tmp_path / "m.c")]


def test_the_command_exits_0_when_every_documented_routine_and_rule_has_a_case(tmp_path, capsys):
    assert main(_small_world(tmp_path, "  - close_log: {log: log}\n")) == 0
    out = capsys.readouterr().out
    assert "2 of 2 documented routines and 2 of 2 model rules are exercised by 1 cases." in out
    assert "Every documented routine and every model rule has a case." in out


def test_the_command_exits_1_when_one_documented_routine_has_no_case(tmp_path, capsys):
    argv = _small_world(tmp_path, "")   # nothing closes the log: ClfsCloseLogFileObject and its rule unexercised
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "Routines not exercised: ClfsCloseLogFileObject." in out
    assert "Rules not exercised: op_close_log#1." in out
    assert "Incomplete: 1 documented routine(s) and 1 model rule(s) without a case, 0 of them on the data path." in out
    # neither is on the data path: the narrower gate passes
    assert main(argv + ["--data-path-only"]) == 0


def test_a_missing_reference_folder_is_a_one_line_usage_error(tmp_path, capsys):
    assert main(["coverage", str(tmp_path), "--reference", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere: no such reference folder (give --reference DIR" in err[0]


def test_the_run_summary_section_counts_only_what_ran():
    records = [{"id": "a", "steps": [{"op": "flush_to_lsn"}]}, {"id": "skipped", "steps": []}]
    markdown = table.markdown_for_run(records)
    assert markdown.startswith("### Coverage of the documented routines and the model's rules (2 cases)")
    assert "| `ClfsFlushToLsn` | yes | 1 | `flush_to_lsn` |" in markdown
    assert "| `ClfsCreateLogFile` |  | 0 | `create_log` |" in markdown


def test_run_passes_coverage_to_pytest():
    from harness.cli import build_parser
    from harness.commands.run import pytest_args

    assert "--coverage" in pytest_args(build_parser().parse_args(["run", "--coverage"]))


def test_an_op_exercises_every_routine_it_also_calls():
    """inspect_lsn calls seven LSN routines (ops.Op.also_calls): a case using it exercises each."""
    names = ["ClfsLsnContainer", "ClfsLsnLess", "ClfsLsnGreater", "ClfsLsnCreate"]
    done = table.compute({"c1": {"inspect_lsn"}}, names, read_rules())
    rows = {r.name: r for r in done.routines}
    for name in ("ClfsLsnContainer", "ClfsLsnLess", "ClfsLsnGreater"):
        assert rows[name].cases == ("c1",) and rows[name].ops == ("inspect_lsn",)
    assert rows["ClfsLsnCreate"].cases == () and rows["ClfsLsnCreate"].ops == ("create_lsn",)


def test_write_routines_lists_the_pages_and_the_shipped_list_reads_back_the_same(tmp_path, capsys, monkeypatch):
    ref = tmp_path / "ref"
    ref.mkdir()
    for page in ("ClfsFlushToLsn.md", "ClfsCloseLogFileObject.md", "ClfsFreeReservedLog.NOT_DOCUMENTED.md",
                 "KERNEL_CONTRACT_EVIDENCE.md"):
        (ref / page).write_text("page")
    shipped = tmp_path / "documented_routines.txt"
    monkeypatch.setattr(routines, "ROUTINES_PATH", shipped)
    monkeypatch.setenv(routines.REFERENCE_ENV, str(ref))       # no --reference: the environment names it
    assert main(["coverage", "--write-routines"]) == 0
    assert capsys.readouterr().out == f"wrote {shipped} (2 routines)\n"
    text = shipped.read_text()
    assert text.startswith("# The CLFS routines Microsoft documents")
    assert text.endswith("\nClfsCloseLogFileObject\nClfsFlushToLsn\n")
    assert routines.shipped_routines() == ["ClfsCloseLogFileObject", "ClfsFlushToLsn"]
    # --reference wins over the environment
    assert routines.reference_folder(str(tmp_path)) == tmp_path
    monkeypatch.delenv(routines.REFERENCE_ENV)
    # ... and without either, the reference material checked out beside the repository (../shared)
    beside = Path(__file__).resolve().parents[3] / "shared" / "reference" / "clfs"
    assert routines.reference_folder() == beside


def test_a_reference_folder_without_routine_pages_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "README.md").write_text("no pages")
    assert main(["coverage", str(tmp_path), "--reference", str(tmp_path)]) == 2
    assert f"{tmp_path}: no Clfs*.md routine pages in the reference folder" in capsys.readouterr().err


def test_the_text_table_lists_the_rules_under_their_own_heading(tmp_path, capsys):
    assert main(_small_world(tmp_path, "  - close_log: {log: log}\n")) == 0
    lines = capsys.readouterr().out.splitlines()
    heading = lines.index(f"{'model rule':<34} {'data path':<9} {'cases':>5}  rule")
    assert re.match(r"^op_flush_to_lsn#1 +yes +1  flushing \(ClfsFlushToLsn\.md\)\.", lines[heading + 1])


def test_the_markdown_table_lists_the_rules_in_a_folded_section_and_ends_with_the_summary(tmp_path, capsys):
    assert main(_small_world(tmp_path, "  - close_log: {log: log}\n") + ["--markdown"]) == 0
    out = capsys.readouterr().out
    rules_at = out.index("<details><summary>model rules</summary>")
    assert out.index("| `ClfsFlushToLsn` | yes | 1 | `flush_to_lsn` |") < rules_at
    assert "| `op_close_log#1` |  | 1 | closing (ClfsCloseLogFileObject.md). (ClfsCloseLogFileObject.md) |" \
        in out[rules_at:]
    assert out.endswith("</details>\n\n2 of 2 documented routines and 2 of 2 model rules are exercised by 1 cases.\n"
                        "Every documented routine and every model rule has a case.\n\n")


def test_a_routine_without_a_case_is_incomplete_even_when_every_rule_has_one(tmp_path, capsys):
    argv = _small_world(tmp_path, "  - close_log: {log: log}\n")
    (tmp_path / "ref" / "ClfsNoOpCallsThis.md").write_text("page")
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "Incomplete: 1 documented routine(s) and 0 model rule(s) without a case, 0 of them on the data path." in out
    assert "Every documented routine" not in out


def test_a_run_summary_without_a_readable_model_source_says_coverage_is_unavailable(tmp_path, monkeypatch):
    from harness.coverage import rules
    monkeypatch.setattr(rules.read_rules, "__defaults__", (tmp_path / "gone.c",))
    markdown = table.markdown_for_run([{"id": "a", "steps": [{"op": "flush_to_lsn"}]}])
    assert markdown.startswith("### Coverage\n\nCoverage unavailable: ")
    assert "gone.c: cannot read the model source" in markdown


def test_rules_at_the_edges_of_functions_and_long_rule_texts(tmp_path):
    long = "x" * 95 + "."
    exact = "y" * 89 + "."                     # 90 characters: kept whole
    source = tmp_path / "m.c"
    source.write_text(f"""
static int op_read_log_record(void *ctx) {{ return 0; }}/* RULE:tight after a brace (a.md). */
static int op_write_restart_area(void *ctx)
{{
    /* RULE: {long} */
    /* RULE: {exact} */
    return 0;
}}
/* RULE: after every function: nobody reaches it. */
""")
    rules = {r.id: r for r in read_rules(source)}
    assert set(rules) == {"op_write_restart_area#1", "op_write_restart_area#2", "op_write_restart_area#3"}
    first = rules["op_write_restart_area#1"]     # right after the brace of op_read_log_record: above the next one
    assert (first.line, first.text, first.ops) == (2, "tight after a brace (a.md).", {"write_restart_area"})
    assert rules["op_write_restart_area#2"].text == "x" * 89 + "…" and rules["op_write_restart_area#3"].text == exact
    # A source cut off inside a function (an edit in progress) still gives that function's rule.
    source.write_text("static int op_flush_to_lsn(void *ctx)\n{\n    /* RULE: cut off (b.md). */\n    return 0;\n")
    assert [(r.id, r.ops) for r in read_rules(source)] == [("op_flush_to_lsn#1", {"flush_to_lsn"})]


def test_a_model_source_without_rules_or_not_there_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "f.scenario.yaml").write_text(FLUSH_CASE)
    (tmp_path / "m.c").write_text("static int op_read(void *ctx) { return 0; }\n")
    assert main(["coverage", str(tmp_path), "--model-source", str(tmp_path / "m.c")]) == 2
    assert "m.c: no 'RULE:' comments found in the model source" in capsys.readouterr().err
    assert main(["coverage", str(tmp_path), "--model-source", str(tmp_path / "gone.c")]) == 2
    assert "gone.c: cannot read the model source: No such file or directory" in capsys.readouterr().err
