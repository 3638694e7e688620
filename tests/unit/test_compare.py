"""clfs-harness compare: baselines of several target identities side by side."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main


def step(index, op, status="STATUS_SUCCESS", irql=0, **outputs):
    return {"index": index, "op": op, "disposition": "ran", "status": status, "irql": irql, "outputs": outputs}


def write(folder: Path, identity: dict, cases: dict) -> Path:
    path = folder / "logs" / "create.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"identity": identity, "cases": cases}))
    return folder


OPEN = "logs/create.scenario.yaml::reopen"
SIZE = "logs/create.scenario.yaml::size"


def two_builds(tmp_path: Path) -> list[Path]:
    old = write(tmp_path / "windows-22631.4890", {"target": "windows", "windows_build": 22631, "windows_revision": 4890},
                {OPEN: [step(1, "create_log"), step(2, "create_log")],
                 SIZE: [step(1, "create_log"), step(2, "add_container", container_size=524288)]})
    new = write(tmp_path / "windows-26100.4061-clfsauth-enforcing",
                {"target": "windows", "windows_build": 26100, "windows_revision": 4061, "clfs_authentication": "enforcing"},
                {OPEN: [step(1, "create_log"), step(2, "create_log", "STATUS_LOG_METADATA_CORRUPT")],
                 SIZE: [step(1, "create_log"), step(2, "add_container", container_size=524288)]})
    return [old, new]


def test_compare_prints_the_matrix_and_the_steps_that_differ(tmp_path, capsys):
    folders = two_builds(tmp_path)
    code = main(["compare", *map(str, folders), "--markdown", str(tmp_path / "c.md"), "--html", str(tmp_path / "c.html")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "CLFS across 2 target identities: 2 cases, 1 differ" in out
    assert "clfs_authentication=enforcing" in out and "windows_build=22631" in out
    lines = out.splitlines()
    assert any(line.strip().startswith(OPEN) and " A    B " in line and "differs" in line for line in lines), out
    assert any(line.strip().startswith(SIZE) and " A    A " in line for line in lines), out
    i = lines.index("    step 2 create_log")
    assert "STATUS_SUCCESS, PASSIVE_LEVEL" in lines[i + 1] and "windows-22631.4890" in lines[i + 1]
    assert "STATUS_LOG_METADATA_CORRUPT, PASSIVE_LEVEL" in lines[i + 2]
    assert "step 1" not in out.split("Steps that differ:")[1]   # equal steps are not listed
    md = (tmp_path / "c.md").read_text()
    assert f"| `{OPEN}` | 2 create_log | STATUS_SUCCESS, PASSIVE_LEVEL | STATUS_LOG_METADATA_CORRUPT, PASSIVE_LEVEL |" in md
    page = (tmp_path / "c.html").read_text()
    assert '<tr class="differs"><td><code>' + OPEN in page and "default-src 'none'" in page


def test_identical_baselines_exit_0_and_a_missing_case_is_shown_absent(tmp_path, capsys):
    a = write(tmp_path / "model-proto1", {"target": "model", "model": True, "protocol_version": 1},
              {SIZE: [step(1, "create_log")]})
    b = write(tmp_path / "smoke", {"target": "smoke", "model": True, "protocol_version": 1},
              {SIZE: [step(1, "create_log")]})
    assert main(["compare", str(a), str(b)]) == 0
    assert "1 cases, 0 differ" in capsys.readouterr().out
    c = write(tmp_path / "other", {"target": "model"}, {OPEN: [step(1, "create_log")], SIZE: [step(1, "create_log")]})
    assert main(["compare", str(a), str(c)]) == 0        # a case only one side has is not a behaviour difference
    assert f"{OPEN}" in capsys.readouterr().out


def test_bad_folders_are_one_line_usage_errors(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "is not a baseline folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2
    assert main(["compare", str(write(tmp_path / "one", {}, {}))]) == 2
