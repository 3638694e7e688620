"""Run retention: the newest keep_runs run folders stay, with their VM folders; live runs and
anything that is not a run folder are never touched; the lab file, --keep-runs and vm reap."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.lab import load_lab
from harness.retention import prune_runs
from harness.vm.rundir import process_start_time

DEAD_PID = 999999999


def _run(root, stamp, pid=DEAD_PID):
    (root / f"run-{stamp}-{pid}" / "cases").mkdir(parents=True)
    return f"run-{stamp}-{pid}"


def _vm(root, stamp, pid=DEAD_PID):
    folder = root / f"{stamp}-{pid}"
    (folder / "gw0").mkdir(parents=True)
    start = process_start_time(pid) if pid != DEAD_PID else "1"
    (folder / "owner.json").write_text(json.dumps({"pid": str(pid), "pid-start": start, "host": os.uname().nodename}))
    return folder.name


def test_the_newest_runs_stay_with_their_vm_folders_and_older_ones_go(tmp_path):
    runs = [_run(tmp_path, f"20261201-10000{i}") for i in range(5)]
    vms = [_vm(tmp_path, f"20261201-10000{i}") for i in range(5)]
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "pipeline-test-1").mkdir()
    removed = prune_runs(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        runs[3:] + vms[3:] + ["results.json", "pipeline-test-1"])
    assert len(removed) == 6


def test_a_live_run_is_never_removed_and_the_current_one_is_spared(tmp_path):
    live_run = _run(tmp_path, "20261201-090000", os.getpid())
    live_vm = _vm(tmp_path, "20261201-090000", os.getpid())
    old = _run(tmp_path, "20261201-090001")
    current = tmp_path / "run-20261201-090002-1"
    current.mkdir()
    _run(tmp_path, "20261201-100000")
    prune_runs(tmp_path, 1, spare=(current,))
    names = {p.name for p in tmp_path.iterdir()}
    assert {live_run, live_vm, current.name} <= names and old not in names


def test_without_run_folders_the_newest_vm_folders_stay(tmp_path):
    vms = [_vm(tmp_path, f"20261201-10000{i}") for i in range(4)]
    prune_runs(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == vms[1:]


def test_keep_runs_in_the_lab_file_and_its_range(tmp_path):
    lab = tmp_path / "clfs-lab.yaml"
    lab.write_text("keep_runs: 5\n")
    assert load_lab(lab, env={}).config.keep_runs == 5
    assert load_lab(None, env={}).config.keep_runs == 20
    lab.write_text("keep_runs: 0\n")
    with pytest.raises(UsageError, match=r"clfs-lab.yaml:1:12: keep_runs: expected an integer 1-100000"):
        load_lab(lab, env={})
    assert load_lab(None, env={"CLFS_HARNESS_KEEP_RUNS": "7"}).config.keep_runs == 7


def test_a_run_of_scenario_cases_prunes_old_run_folders_other_sessions_do_not(pytester, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for i in range(4):
        _run(root, f"20261201-10000{i}")
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(root))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider", "--keep-runs=1", "test_plain.py").assert_outcomes(passed=1)
    assert len(list(root.glob("run-2026*"))) == 4
    pytester.makefile(".scenario.yaml", one="name: one\ndescription: x\nskip_targets: [model]\nsteps:\n"
                                           "  - create_log: {name: log}\n")
    pytester.runpytest("-p", "no:cacheprovider", "--keep-runs=2", "one.scenario.yaml").assert_outcomes(skipped=1)
    # A skipped case writes no folder of its own, so the newest two that exist stay.
    assert sorted(p.name for p in root.glob("run-2026*")) == ["run-20261201-100002-999999999",
                                                               "run-20261201-100003-999999999"]
    refused = pytester.runpytest("-p", "no:cacheprovider", "--keep-runs=0")
    refused.stderr.fnmatch_lines(["*bad keep_runs: 0, want ?1-100000?"])


def _without_libvirt(monkeypatch):
    """vm reap with a backend that has no domains to remove: only the run folders are pruned."""
    class _Backend:
        def reap(self, run_dir):
            return []

        def close(self):
            pass

    from harness.commands import vm
    monkeypatch.setattr(vm, "_backend", lambda config: _Backend())


def test_vm_reap_also_prunes_run_folders(tmp_path, monkeypatch, capsys):
    for i in range(3):
        _run(tmp_path, f"20261201-10000{i}")
    _without_libvirt(monkeypatch)
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["vm", "reap", "--keep-runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "removed run folder" in out and "run folders kept: the newest 1" in out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("run-")] == ["run-20261201-100002-999999999"]
    assert main(["vm", "reap", "--keep-runs", "0"]) == 2


def test_a_spared_folder_stays_even_when_it_is_old_and_its_process_is_gone(tmp_path):
    spared = _run(tmp_path, "20261201-080000")          # dead pid, older than every kept run
    old = _run(tmp_path, "20261201-080001")
    newest = _run(tmp_path, "20261201-100000")
    removed = prune_runs(tmp_path, 1, spare=(tmp_path / spared,))
    assert sorted(p.name for p in tmp_path.iterdir()) == [spared, newest]
    assert removed == [str(tmp_path / old)]


def test_keep_zero_keeps_only_live_and_spared_folders(tmp_path):
    spared = _run(tmp_path, "20261201-080000")
    live = _run(tmp_path, "20261201-080001", os.getpid())
    _run(tmp_path, "20261201-080002")
    _vm(tmp_path, "20261201-080002")
    assert len(prune_runs(tmp_path, 0, spare=(tmp_path / spared,))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [spared, live]


def test_a_negative_keep_or_a_missing_run_directory_removes_nothing(tmp_path):
    names = [_run(tmp_path, f"20261201-10000{i}") for i in range(3)]
    assert prune_runs(tmp_path, -1) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert prune_runs(tmp_path / "not-made-yet", 1) == []


def test_vm_reap_before_any_run_directory_exists_exits_0(tmp_path, monkeypatch, capsys):
    _without_libvirt(monkeypatch)
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    assert main(["vm", "reap"]) == 0
    assert "reap: 0 item(s) removed" in capsys.readouterr().out


def test_a_vm_folder_whose_owner_file_is_unreadable_counts_as_dead(tmp_path):
    kept = _run(tmp_path, "20261201-100000")
    torn = tmp_path / "20261201-090000-4242"
    torn.mkdir()
    (torn / "owner.json").write_text('{"pid": "42')      # the writer died mid-write
    assert prune_runs(tmp_path, 1) == [str(torn)]
    assert [p.name for p in tmp_path.iterdir()] == [kept]


def test_a_run_name_that_links_elsewhere_never_removes_what_it_points_to(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep-me").mkdir(parents=True)
    root = tmp_path / "runs"
    root.mkdir()
    (root / "run-20261201-080000-999999999").symlink_to(elsewhere, target_is_directory=True)
    _run(root, "20261201-100000")
    # A link is never one of the harness's folders: not followed, not removed, not reported.
    assert prune_runs(root, 1) == []
    assert (elsewhere / "keep-me").is_dir()
    assert (root / "run-20261201-080000-999999999").is_symlink()


def test_a_folder_that_cannot_be_removed_is_named_and_not_reported_as_removed(tmp_path, caplog, monkeypatch):
    import shutil
    _run(tmp_path, "20261201-080000")
    _run(tmp_path, "20261201-100000")
    old = next(p for p in tmp_path.iterdir() if "080000" in p.name)
    real_rmtree = shutil.rmtree

    def refusing_rmtree(path, *args, **kwargs):      # a file root owns, an NFS hiccup: rmtree fails
        if Path(path) == old:
            kwargs["onerror"](os.rmdir, str(old), (PermissionError, PermissionError(13, "Permission denied"), None))
            return
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", refusing_rmtree)
    with caplog.at_level("WARNING", logger="harness.run"):
        assert prune_runs(tmp_path, 1) == []
    assert old.is_dir()
    assert f"cannot remove old run folder {old}: {old}: [Errno 13] Permission denied" in caplog.text


def test_pruning_says_how_many_folders_went_and_where(tmp_path, caplog):
    for i in range(3):
        _run(tmp_path, f"20261201-10000{i}")
    with caplog.at_level("INFO", logger="harness.run"):
        prune_runs(tmp_path, 1)
    assert f"removed 2 run folder(s) beyond the newest 1 under {tmp_path}" in caplog.text
