"""The lab file: defaults, validation with file:line:col errors, precedence, host placement,
and the once-per-run shared build."""

from __future__ import annotations

import multiprocessing
import textwrap
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.lab import Host, fault_for, find_lab_file, load_lab
from harness.runctx import RunContext, shared_build

GOOD = """\
default_target: win11
artefact_dir: /var/tmp/clfs-runs
infra_retries: 2
accel: tcg
timeouts: {boot: 5m, command: 90s}
hosts:
  - {uri: "qemu:///system", capacity: 2}
  - {uri: "qemu+ssh://runner2/system", capacity: 3}
targets:
  win11: {kind: windows, image: /srv/images/win11, verifier: true, boot_timeout_s: 900}
  smoke-faults:
    kind: smoke
    faults: {"*::panics": panic}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clfs-lab.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_without_a_lab_file_everything_has_its_default_and_the_target_is_the_model():
    lab = load_lab(None, env={})
    assert lab.default_target == "model" and lab.source is None
    assert lab.describe() == "no lab file (defaults)"
    assert lab.target("model").kind == "model" and lab.target("smoke").kind == "smoke"
    assert lab.infra_retries == 1 and lab.config.run_dir == Path("runs")
    assert [h.uri for h in lab.hosts] == ["qemu:///system"]


def test_a_full_lab_file_is_read(tmp_path):
    lab = load_lab(write(tmp_path, GOOD), env={})
    assert lab.default_target == "win11" and lab.infra_retries == 2
    assert lab.config.run_dir == Path("/var/tmp/clfs-runs") and lab.config.accel == "tcg"
    assert (lab.config.boot_timeout_s, lab.config.command_timeout_s) == (300.0, 90.0)
    assert lab.hosts == (Host("qemu:///system", 2), Host("qemu+ssh://runner2/system", 3))
    assert lab.config.libvirt_uri == "qemu:///system"
    assert lab.target("win11").options == {"image": "/srv/images/win11", "verifier": True, "boot_timeout_s": 900}
    assert lab.target("smoke-faults").options == {"faults": {"*::panics": "panic"}}


def test_every_problem_is_one_line_naming_file_line_column_and_field(tmp_path):
    path = write(tmp_path, """\
        default_target: smokey
        artefact_dirr: runs
        infra_retries: -1
        timeouts: {boot: 2 minutes, command: 1s}
        hosts:
          - {uri: "qemu:///system", capacity: 0}
          - {uri: "/var/run/libvirt", capacity: 1}
        targets:
          w: {kind: windows, imag: /x, max_dump_mib: yes}
          s: {kind: smoke, faults: {"*": explode}}
        """)
    with pytest.raises(UsageError) as err:
        load_lab(path, env={})
    assert str(err.value).splitlines() == [
        f"{path}:1:17: default_target: unknown target 'smokey' (did you mean smoke?); known: model, s, smoke, w, "
        "windows, wine",
        f"{path}:2:1: artefact_dirr: unknown field (did you mean artefact_dir?); known: version, default_target, "
        "artefact_dir, cache_dir, infra_retries, keep_runs, accel, timeouts, hosts, targets, known_issues",
        f"{path}:3:16: infra_retries: expected an integer 0-10, got -1",
        f"{path}:4:18: timeouts.boot: expected a duration such as 30s, 2m or 1h, got '2 minutes'",
        f"{path}:6:39: hosts[0].capacity: expected an integer 1-256 (VMs at once), got 0",
        f"{path}:7:11: hosts[1].uri: expected a libvirt URI such as qemu:///system or qemu+ssh://host/system, "
        "got '/var/run/libvirt'",
        f"{path}:9:22: targets.w.imag: not an option of a windows target (did you mean image?); "
        "known: image, verifier, verifier_clfs, wait_for_dump, domain_log_dir, boot_timeout_s, "
        "reboot_timeout_s, dump_timeout_s, max_dump_mib",
        f"{path}:9:46: targets.w.max_dump_mib: expected number (largest dump copied into a case folder), got True",
        f"{path}:10:34: targets.s.faults.*: unknown fault 'explode'; known: panic, hang, kill-sshd, kill-sshd-once",
    ]


def test_yaml_is_loaded_safely_and_syntax_errors_name_the_line(tmp_path):
    with pytest.raises(UsageError, match=r"clfs-lab.yaml:1:\d+: .*python/object"):
        load_lab(write(tmp_path, "accel: !!python/object/apply:os.system [id]\n"), env={})
    with pytest.raises(UsageError, match=r"clfs-lab.yaml:3:1: YAML syntax error"):
        load_lab(write(tmp_path, "hosts:\n  - {uri: [\n"), env={})
    with pytest.raises(UsageError, match=r"clfs-lab.yaml:1:1: lab file: expected one YAML mapping"):
        load_lab(write(tmp_path, "- a\n- b\n"), env={})


def test_environment_variables_override_the_file(tmp_path):
    lab = load_lab(write(tmp_path, GOOD), env={"CLFS_HARNESS_ACCEL": "kvm", "CLFS_HARNESS_TARGET": "smoke",
                                               "CLFS_HARNESS_LIBVIRT_URI": "qemu+tcp://x/system"})
    assert lab.config.accel == "kvm" and lab.default_target == "smoke"
    assert lab.config.libvirt_uri == "qemu+tcp://x/system"


def test_the_lab_file_is_found_by_option_then_environment_then_project_root(tmp_path):
    root_file = write(tmp_path, "infra_retries: 0\n")
    other = tmp_path / "other.yaml"
    other.write_text("infra_retries: 3\n")
    assert find_lab_file(None, tmp_path, env={}) == root_file
    assert find_lab_file(None, tmp_path, env={"CLFS_HARNESS_LAB": str(other)}) == other
    assert find_lab_file(str(root_file), tmp_path, env={"CLFS_HARNESS_LAB": str(other)}) == root_file
    assert find_lab_file(None, tmp_path / "nowhere", env={}) is None
    with pytest.raises(UsageError, match="lab file /no/such.yaml: no such file"):
        find_lab_file("/no/such.yaml", tmp_path, env={})


def test_workers_fill_hosts_in_order_up_to_their_capacity(tmp_path):
    lab = load_lab(write(tmp_path, GOOD), env={})
    placed = [lab.host_for(i, 5).uri for i in range(5)]
    assert placed == ["qemu:///system"] * 2 + ["qemu+ssh://runner2/system"] * 3
    with pytest.raises(UsageError, match=r"6 workers, but the lab's hosts take 5 VM\(s\) "
                                         r"\(qemu:///system x2, qemu\+ssh://runner2/system x3\)"):
        lab.host_for(0, 6)


def test_unknown_targets_are_refused_with_the_known_ones(tmp_path):
    lab = load_lab(write(tmp_path, GOOD), env={})
    with pytest.raises(UsageError, match=r"unknown target 'win12' \(did you mean win11\?\)\. Known \(lab file .*\): "
                                         r"model, smoke, smoke-faults, win11, windows"):
        lab.target("win12")


def test_faults_match_case_ids_by_glob_first_match_wins():
    faults = {"*::panics": "panic", "a.scenario.yaml::*": "hang"}
    assert fault_for(faults, "a.scenario.yaml::panics") == "panic"
    assert fault_for(faults, "a.scenario.yaml::other") == "hang"
    assert fault_for(faults, "b.scenario.yaml::other") is None


def _build_in_process(root: str, counter: str) -> None:
    ctx = RunContext("s", Path(root), "gw0", 0, 2)

    def build():
        with open(counter, "a") as fh:
            fh.write("built\n")
        out = Path(root) / "driver.sys"
        out.write_text("x")
        return {"driver": str(out)}

    assert shared_build(ctx, "windows", build) == {"driver": str(Path(root) / "driver.sys")}


def test_the_shared_build_runs_once_per_run_whichever_worker_asks_first(tmp_path):
    counter = tmp_path / "count.txt"
    procs = [multiprocessing.get_context("fork").Process(target=_build_in_process, args=(str(tmp_path), str(counter)))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert counter.read_text() == "built\n"
    (tmp_path / "driver.sys").unlink()   # a shared file gone: the next worker builds again
    _build_in_process(str(tmp_path), str(counter))
    assert counter.read_text() == "built\nbuilt\n"


def test_a_bad_lab_file_stops_pytest_with_its_lines(pytester):
    pytester.makefile(".yaml", **{"clfs-lab": "infra_retries: many\n"})
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *clfs-lab.yaml:1:16: infra_retries: expected an integer 0-10, got 'many'"])


def test_more_workers_than_vm_capacity_is_refused_before_any_worker_starts(pytester):
    pytester.makefile(".yaml", **{"clfs-lab": "hosts: [{uri: 'qemu:///system', capacity: 1}]\n"})
    result = pytester.runpytest("--target", "smoke", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: 2 workers, but the lab's hosts take 1 VM(s) (qemu:///system x1; lab file *"])


def test_a_windows_target_without_an_image_stops_the_run_before_building_anything(pytester, monkeypatch):
    monkeypatch.delenv("CLFS_HARNESS_WINDOWS_IMAGE", raising=False)
    result = pytester.runpytest("--target", "windows")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: CLFS_HARNESS_WINDOWS_IMAGE is not set: no Windows image to run on; *GUIDE.md)"])
