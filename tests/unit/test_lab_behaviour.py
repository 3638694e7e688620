"""The lab file as a CI runner writes it: the version, timeout bounds at their edges, zero retries,
target names and options, and where workers land. Each test is a setting a runner would see
ignored or wrongly refused otherwise (found by tools/mutation.py).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.lab import MAX_CAPACITY, Host, Lab, load_lab

pytestmark = pytest.mark.timeout(10)


def lab_of(tmp_path: Path, text: str, env: dict | None = None) -> Lab:
    path = tmp_path / "clfs-lab.yaml"
    path.write_text(textwrap.dedent(text))
    return load_lab(path, env=env or {})


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(UsageError) as info:
        lab_of(tmp_path, text)
    prefix = f"{tmp_path / 'clfs-lab.yaml'}:"
    return [line.removeprefix(prefix) for line in str(info.value).splitlines()]


def test_version_1_is_the_only_version(tmp_path):
    assert lab_of(tmp_path, "version: 1\n").default_target == "model"
    assert problems_of(tmp_path, "version: 2\n") == ["1:10: version: expected 1, got 2"]


def test_zero_infra_retries_means_a_lab_failure_is_reported_at_once(tmp_path):
    assert lab_of(tmp_path, "infra_retries: 0\n").infra_retries == 0
    assert lab_of(tmp_path, "infra_retries: 10\n").infra_retries == 10
    assert problems_of(tmp_path, "infra_retries: 11\n") == ["1:16: infra_retries: expected an integer 0-10, got 11"]
    assert problems_of(tmp_path, "infra_retries: true\n") == [
        "1:16: infra_retries: expected an integer 0-10, got True"]


@pytest.mark.parametrize("timeouts, boot, command", [
    ("{boot: 5s, command: 1s}", 5.0, 1.0),
    ("{boot: 1h, command: 24h}", 3600.0, 86400.0),
    ("{command: 90s}", None, 90.0),
])
def test_timeouts_are_taken_up_to_their_bounds(tmp_path, timeouts, boot, command):
    default = load_lab(None, env={}).config
    config = lab_of(tmp_path, f"timeouts: {timeouts}\n").config
    assert config.boot_timeout_s == (default.boot_timeout_s if boot is None else boot)
    assert config.command_timeout_s == command


@pytest.mark.parametrize("timeouts, message", [
    ("{boot: 4s}", "1:18: timeouts.boot: 4 s is out of range, want [5-3600] s"),
    ("{boot: 3601s}", "1:18: timeouts.boot: 3601 s is out of range, want [5-3600] s"),
    ("{boot: 2h}", "1:18: timeouts.boot: 7200 s is out of range, want [5-3600] s"),
    ("{reboot: 2m}", "1:12: timeouts.reboot: unknown timeout (did you mean boot?); known: boot, command"),
    ("2m", "1:11: timeouts: expected a mapping such as {boot: 2m, command: 60s}, got '2m'"),
])
def test_timeouts_out_of_bounds_are_refused_with_the_range(tmp_path, timeouts, message):
    assert problems_of(tmp_path, f"timeouts: {timeouts}\n") == [message]


def test_artefact_and_cache_folders_and_accel_are_taken(tmp_path):
    config = lab_of(tmp_path, "artefact_dir: /a/runs\ncache_dir: /c\naccel: kvm\n").config
    assert config.run_dir == Path("/a/runs") and config.cache_dir == Path("/c") and config.accel == "kvm"
    assert problems_of(tmp_path, "artefact_dir: ' '\ncache_dir: 3\naccel: fast\n") == [
        "1:15: artefact_dir: expected a directory path, got ' '",
        "2:12: cache_dir: expected a directory path, got 3",
        "3:8: accel: expected auto, kvm or tcg, got 'fast'",
    ]


# ---- targets -----------------------------------------------------------------------------------

def test_a_named_target_keeps_its_kind_and_options(tmp_path):
    lab = lab_of(tmp_path, """\
        default_target: win-11.v2
        targets:
          win-11.v2: {kind: windows, image: /i, verifier: false, max_dump_mib: 512.5, boot_timeout_s: 900}
          smoke: {faults: {"*::x": hang}}
        """)
    assert lab.default_target == "win-11.v2"
    win = lab.target("win-11.v2")
    assert win.kind == "windows" and win.options == {"image": "/i", "verifier": False, "max_dump_mib": 512.5,
                                                     "boot_timeout_s": 900}
    smoke = lab.target("smoke")
    assert smoke.kind == "smoke" and smoke.options == {"faults": {"*::x": "hang"}}
    assert lab.target("model").kind == "model"


@pytest.mark.parametrize("targets, message", [
    ("{'-w': {kind: model}}", "2:11: targets.-w: bad target name '-w': letters, digits, '_', '-', '.'"),
    ("{'w w': {kind: model}}", "2:11: targets.w w: bad target name 'w w': letters, digits, '_', '-', '.'"),
    ("{w: windows}", "2:14: targets.w: expected a mapping with kind: model | smoke | windows, got 'windows'"),
    ("{w: {kind: vmware}}", "2:21: targets.w.kind: expected kind model, smoke, windows, wine, got 'vmware'"),
    ("{w: {image: /i}}", "2:14: targets.w: expected kind model, smoke, windows, wine, got None"),
    ("{w: {kind: model, image: /i}}", "2:28: targets.w.image: not an option of a model target; known: none"),
    ("{w: {kind: windows, verifier: 1}}", "2:40: targets.w.verifier: expected bool (Driver Verifier standard "
                                          "flags on clfstest.sys), got 1"),
    ("{w: {kind: windows, image: ' '}}", "2:37: targets.w.image: expected str (the image directory or "
                                         "manifest.json (clfs-harness image build windows)), got ' '"),
    ("{w: {kind: windows, boot_timeout_s: true}}", "2:46: targets.w.boot_timeout_s: expected number (seconds "
                                                   "to SSH-ready (default: at least 600)), got True"),
    ("[w]", "2:10: targets: expected a mapping of target name -> {kind: ..., options}"),
])
def test_bad_targets_are_refused_one_line_each(tmp_path, targets, message):
    assert problems_of(tmp_path, f"version: 1\ntargets: {targets}\n") == [message]


def test_a_target_name_may_be_64_characters_long_but_not_65(tmp_path):
    name = "w" * 64
    assert lab_of(tmp_path, f"targets: {{{name}: {{kind: model}}}}\n").target(name).kind == "model"
    found = problems_of(tmp_path, f"targets: {{{name}w: {{kind: model}}}}\n")
    assert len(found) == 1 and "bad target name" in found[0]


def test_an_unknown_default_target_is_refused_with_the_known_ones(tmp_path):
    assert problems_of(tmp_path, "default_target: win12\ntargets: {win11: {kind: windows}}\n") == [
        "1:17: default_target: unknown target 'win12' (did you mean win11?); known: model, smoke, win11, windows, wine"]


def test_asking_for_an_unknown_target_names_the_lab_file(tmp_path):
    lab = lab_of(tmp_path, "targets: {win11: {kind: windows}}\n")
    with pytest.raises(UsageError, match=r"unknown target 'win1' \(did you mean win11\?\)\. Known \(lab file "):
        lab.target("win1")
    with pytest.raises(UsageError, match=r"unknown target 'x'\. Known: model, smoke, windows, wine$"):
        load_lab(None, env={}).target("x")


# ---- hosts -------------------------------------------------------------------------------------

def test_a_host_takes_up_to_the_maximum_capacity(tmp_path):
    lab = lab_of(tmp_path, f"hosts: [{{uri: 'qemu:///system', capacity: {MAX_CAPACITY}}}, "
                           f"{{uri: 'qemu+ssh://b/system'}}]\n")
    assert lab.hosts == (Host("qemu:///system", MAX_CAPACITY), Host("qemu+ssh://b/system", 1))
    assert lab.capacity == MAX_CAPACITY + 1
    assert lab.config.libvirt_uri == "qemu:///system"
    found = problems_of(tmp_path, f"hosts: [{{uri: 'qemu:///system', capacity: {MAX_CAPACITY + 1}}}]\n")
    assert found == [f"1:43: hosts[0].capacity: expected an integer 1-{MAX_CAPACITY} (VMs at once), "
                     f"got {MAX_CAPACITY + 1}"]


@pytest.mark.parametrize("hosts, message", [
    ("[]", "1:8: hosts: expected a list of {uri, capacity}, with at least one host"),
    ("[qemu]", "1:9: hosts[0]: expected a mapping {uri: ..., capacity: N}, got 'qemu'"),
    ("[{uri: /var/run/libvirt}]", "1:15: hosts[0].uri: expected a libvirt URI such as qemu:///system or "
                                  "qemu+ssh://host/system, got '/var/run/libvirt'"),
    ("[{capacity: 2}]", "1:9: hosts[0]: expected a libvirt URI such as qemu:///system or qemu+ssh://host/system, "
                        "got None"),
    ("[{uri: 'qemu:///system', port: 22}]", "1:33: hosts[0].port: unknown field; known: uri, capacity"),
    ("[{uri: 'qemu:///system'}, {uri: 'qemu:///system'}]", "1:40: hosts[1].uri: qemu:///system is listed twice"),
    ("[{uri: 'qemu:///system', capacity: 0}]", "1:43: hosts[0].capacity: expected an integer 1-256 (VMs at once), "
                                               "got 0"),
])
def test_bad_hosts_are_refused_one_line_each(tmp_path, hosts, message):
    assert problems_of(tmp_path, f"hosts: {hosts}\n") == [message]


def test_the_environment_libvirt_uri_wins_over_the_first_host(tmp_path):
    lab = lab_of(tmp_path, "hosts: [{uri: 'qemu+ssh://b/system'}]\n", env={"CLFS_HARNESS_LIBVIRT_URI": "qemu:///x"})
    assert lab.config.libvirt_uri == "qemu:///x"


def test_workers_beyond_the_capacity_are_refused_and_each_worker_gets_its_host(tmp_path):
    lab = lab_of(tmp_path, "hosts: [{uri: 'qemu:///a', capacity: 1}, {uri: 'qemu:///b', capacity: 2}]\n")
    assert [lab.host_for(i, 3).uri for i in range(3)] == ["qemu:///a", "qemu:///b", "qemu:///b"]
    with pytest.raises(UsageError, match=r"4 workers, but the lab's hosts take 3 VM\(s\) \(qemu:///a x1, "
                                         r"qemu:///b x2\); lower --workers or add capacity"):
        lab.host_for(0, 4)
    with pytest.raises(UsageError, match="worker 3 is beyond the lab's capacity 3"):
        lab.host_for(3, 3)
    assert lab.describe() == f"lab file {tmp_path / 'clfs-lab.yaml'}"
    assert load_lab(None, env={}).describe() == "no lab file (defaults)"


def test_problems_come_in_file_order(tmp_path):
    assert problems_of(tmp_path, "accel: fast\nversion: 3\n") == [
        "1:8: accel: expected auto, kvm or tcg, got 'fast'", "2:10: version: expected 1, got 3"]


def test_a_lab_file_must_be_one_mapping(tmp_path):
    for text in ("- a\n", "a: 1\n---\nb: 2\n"):
        with pytest.raises(UsageError, match="lab file: expected one YAML mapping"):
            lab_of(tmp_path, text)


@pytest.mark.parametrize("cores, capacity", [(6, 6), (1, 1), (None, 1)])
def test_without_hosts_the_local_host_takes_one_vm_per_core(monkeypatch, cores, capacity):
    monkeypatch.setattr("harness.lab.os.cpu_count", lambda: cores)
    lab = load_lab(None, env={})
    assert lab.hosts == (Host(lab.config.libvirt_uri, capacity),)


def test_a_lab_file_that_cannot_be_read_is_one_line(tmp_path):
    with pytest.raises(UsageError, match=rf"^lab file {tmp_path}: Is a directory$"):
        load_lab(tmp_path, env={})


def test_a_lab_file_of_the_size_limit_is_read_and_one_byte_more_is_refused(tmp_path):
    from harness.scenario.yamlsrc import MAX_FILE_BYTES
    path = tmp_path / "clfs-lab.yaml"
    text = "infra_retries: 0\n#"
    path.write_text(text + "x" * (MAX_FILE_BYTES - len(text)))
    assert load_lab(path, env={}).infra_retries == 0
    path.write_text(text + "x" * (MAX_FILE_BYTES - len(text) + 1))
    with pytest.raises(UsageError, match=rf"^{path}:1:1: lab file: {MAX_FILE_BYTES + 1} bytes, more than the "
                                         rf"{MAX_FILE_BYTES} allowed$"):
        load_lab(path, env={})


def test_the_first_host_is_where_the_controller_itself_connects(tmp_path):
    lab = lab_of(tmp_path, "hosts: [{uri: 'qemu+ssh://runner2/system'}, {uri: 'qemu:///system'}]\n")
    assert lab.config.libvirt_uri == "qemu+ssh://runner2/system"
    assert lab_of(tmp_path, "accel: tcg\n").config.libvirt_uri == load_lab(None, env={}).config.libvirt_uri


def test_a_bad_target_table_and_a_default_target_are_two_problems_not_a_crash(tmp_path):
    assert problems_of(tmp_path, "default_target: w\ntargets: [w]\n") == [
        "1:17: default_target: unknown target 'w'; known: model, smoke, windows, wine",
        "2:10: targets: expected a mapping of target name -> {kind: ..., options}"]


def test_keep_runs_takes_1_to_100000_run_folders(tmp_path):
    assert lab_of(tmp_path, "keep_runs: 1\n").config.keep_runs == 1
    assert lab_of(tmp_path, "keep_runs: 100000\n").config.keep_runs == 100000
    for bad in ("0", "100001", "true"):
        found = problems_of(tmp_path, f"keep_runs: {bad}\n")
        assert found == [f"1:12: keep_runs: expected an integer 1-100000 (run folders kept), "
                         f"got {'True' if bad == 'true' else bad}"]
