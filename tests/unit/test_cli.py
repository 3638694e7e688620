"""The clfs-harness command line: summaries, exit codes, one line per problem and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_check_prints_a_summary_of_the_catalogue(repo, capsys):
    assert main(["check", str(repo / "scenarios")]) == 0
    out = capsys.readouterr().out
    files, scenarios, cases = (int(out.split()[i]) for i in (0, 2, 4))
    assert files >= 5 and scenarios >= 20 and cases >= 25
    assert out.rstrip().endswith("all valid")


def test_check_reports_each_problem_on_one_line_and_exits_2(tmp_path):
    (tmp_path / "x.scenario.yaml").write_text(
        "name: a\ndescription: d\nsteps:\n  - create_log: {name: log}\n"
        "  - add_container: {log: lg, size: 1}\n  - flush_buffers: {area: ma}\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "x.scenario.yaml:5:26: scenario 'a', step 2 (add_container): log: undefined name 'lg': no log of that name "
        "is created before this step (did you mean log?)",
        "x.scenario.yaml:6:27: scenario 'a', step 3 (flush_buffers): area: undefined name 'ma': no marshalling area "
        "of that name is created before this step",
        "clfs-harness: 2 problem(s) found",
    ]
    assert "Traceback" not in proc.stderr


def test_missing_path_is_a_one_line_usage_error(tmp_path):
    proc = run_cli("check", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr == f"clfs-harness: error: {tmp_path / 'nope'}: no such file or directory\n"


def test_list_prints_ids_and_tags(repo, capsys):
    assert main(["list", str(repo / "scenarios")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "marshalling/create.scenario.yaml::valid_buffer_sizes_and_pools[buffer=512,pool=paged]" in lines[-50:][0] \
        or any(line.startswith("marshalling/create.scenario.yaml::valid_buffer_sizes_and_pools[buffer=512,pool=paged] ")
               for line in lines)
    tagged = [line for line in lines if line.startswith("marshalling/create.scenario.yaml::no_containers ")]
    assert tagged and tagged[0].split()[1:] == ["marshalling", "create", "containers"]


def test_schema_prints_the_json_schema(capsys):
    assert main(["schema"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["title"] == "clfs-harness scenario"
    assert "alloc_reserved_log" in document["$defs"]


def test_run_is_a_front_for_pytest_with_the_same_options():
    from harness.cli import build_parser
    from harness.commands.run import pytest_args

    args = build_parser().parse_args(["run", "scenarios/x", "--target", "model", "--workers", "2", "-m", "alloc",
                                      "--shard", "1/2", "--results-json", "r.json", "--lab", "lab.yaml",
                                      "--infra-retries", "0", "--record-baseline"])
    # "--flag=value": an existing path after an option pytest does not know yet would move its rootdir.
    assert pytest_args(args) == ["scenarios/x", "-p", "no:cacheprovider", "-v", "--target=model", "-n", "2",
                                 "--shard=1/2", "-m", "alloc", "--results-json=r.json", "--lab=lab.yaml",
                                 "--infra-retries=0", "--record-baseline"]
    quiet = build_parser().parse_args(["run", "-q"])
    assert pytest_args(quiet)[:4] == ["scenarios", "-p", "no:cacheprovider", "-q"]


def test_run_refuses_a_malformed_shard_with_one_line(tmp_path):
    proc = run_cli("run", "--shard", "half")
    assert proc.returncode == 2
    assert proc.stderr == "clfs-harness: error: bad --shard: 'half', want I/N such as 1/4\n"
