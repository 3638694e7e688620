"""The windows target without Windows: options and environment, image checks with clear errors,
and the edges of execute() (artefacts written, exceptions passed on, bytes refused).

Nothing here produces a Windows result: the fake guest only returns bytes that must be refused,
or raises what a real guest would.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import BugcheckDetected, ProtocolError, UsageError
from harness.guest.wincrash import GuestHang
from harness.targets import target_class
from harness.targets.base import CaseArtefacts
from harness.config import LabConfig
from harness.targets.vm_windows import (COMMAND_OVERHEAD_S, GUEST_SCRATCH, IMAGE_ENV, WindowsTarget,
                                        boot_timeout, load_windows_image, resolve_options)
from harness.verdict.baseline import baseline_key

from tests.unit.protocol_cases import lifecycle


def test_registered():
    cls = target_class("windows")
    assert cls is WindowsTarget and cls.name == "windows" and cls.uses_vm


def test_importing_the_target_loads_neither_paramiko_nor_libvirt():
    import subprocess
    import sys
    code = ("import sys, harness.targets.vm_windows; "
            "print(sorted(m for m in ('paramiko', 'libvirt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- options ------------------------------------------------------------------------------------

def test_defaults():
    o = resolve_options(None, env={})
    assert o == {"image": None, "domain_log_dir": None, "verifier": "off", "wait_for_dump": False,
                 "serve": True, "boot_timeout_s": None, "reboot_timeout_s": 600.0, "dump_timeout_s": 900.0,
                 "max_dump_mib": 8192.0}


def test_boot_timeout_at_least_ten_minutes_unless_set():
    assert boot_timeout(resolve_options({}, env={}), LabConfig(boot_timeout_s=120)) == 600.0
    assert boot_timeout(resolve_options({}, env={}), LabConfig(boot_timeout_s=1800)) == 1800.0
    assert boot_timeout(resolve_options({"boot_timeout_s": 300}, env={}), LabConfig()) == 300.0


@pytest.mark.parametrize("options, verifier", [
    ({"verifier": True}, "standard"), ({"verifier": False}, "off"),
    ({"verifier": True, "verifier_clfs": True}, "standard+clfs"), ({"verifier_clfs": True}, "standard+clfs"),
    ({"verifier": "on"}, "standard"), ({"verifier": "standard"}, "standard"),
])
def test_verifier_as_the_lab_file_gives_it(options, verifier):
    # The lab file's windows target takes verifier and verifier_clfs as booleans.
    assert resolve_options(options, env={})["verifier"] == verifier


def test_options_then_environment():
    # As for every lab setting: the lab file's values, then CLFS_HARNESS_* over them.
    env = {IMAGE_ENV: "/images/win11", "CLFS_HARNESS_WINDOWS_VERIFIER": "Standard+CLFS",
           "CLFS_HARNESS_WINDOWS_WAIT_FOR_DUMP": "yes", "CLFS_HARNESS_WINDOWS_BOOT_TIMEOUT_S": "900"}
    o = resolve_options({"image": "/images/lab", "verifier": False, "wait_for_dump": None}, env=env)
    assert (o["image"], o["verifier"], o["wait_for_dump"], o["boot_timeout_s"]) == (
        "/images/win11", "standard+clfs", True, 900.0)
    assert resolve_options({"image": "/images/lab", "verifier": True}, env={}) == {
        **resolve_options({}, env={}), "image": "/images/lab", "verifier": "standard"}


@pytest.mark.parametrize("options, words", [
    ({"imgae": "x"}, "unknown windows target option.*imgae.*Known: image, verifier"),
    ({"verifier": "full"}, "verifier: 'full', want true, false, off, standard, standard\\+clfs"),
    ({"verifier_clfs": "maybe"}, "verifier_clfs: 'maybe', want true or false"),
    ({"wait_for_dump": "perhaps"}, "wait_for_dump: 'perhaps', want true or false"),
    ({"boot_timeout_s": "soon"}, "boot_timeout_s: 'soon' is not a number"),
    ({"boot_timeout_s": 5}, r"bad boot_timeout_s: 5, want \[60-7200\]"),
    ({"max_dump_mib": 0}, r"bad max_dump_mib: 0, want \[1-65536\]"),
])
def test_bad_options(options, words):
    with pytest.raises(UsageError, match=words):
        resolve_options(options, env={})


# ---- the image ----------------------------------------------------------------------------------

def write_image(directory: Path, os_name: str = "windows") -> Path:
    directory.mkdir(parents=True)
    (directory / "disk.qcow2").write_bytes(b"qcow2")
    (directory / "id_ed25519").write_text("key")
    (directory / "manifest.json").write_text(json.dumps({
        "format": 1, "name": "win11-23h2", "os": os_name, "disk": "disk.qcow2", "disk_sha256": "ab" * 32,
        "machine": "q35", "memory_mib": 4096, "vcpus": 2, "panic_model": "hyperv", "firmware": "uefi",
        "disk_bus": "sata", "nic_model": "e1000e", "vmcoreinfo": True,
        "ssh": {"user": "clfs", "port": 22, "host_key": "ssh-ed25519 AAAA", "client_key": "id_ed25519"},
        "windows": {"build": 22631, "revision": 2861, "edition": "Professional"}}))
    return directory


def test_image_unset_says_what_to_do():
    with pytest.raises(UsageError) as info:
        load_windows_image(None)
    text = str(info.value)
    assert text.startswith("CLFS_HARNESS_WINDOWS_IMAGE is not set: no Windows image to run on")
    assert "clfs-harness image build windows --iso WIN.iso --virtio-win VIRTIO.iso --out DIR" in text
    assert "vm_images/windows/GUIDE.md" in text


def test_image_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_windows_image(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no image manifest at"):
        load_windows_image(tmp_path / "empty")
    with pytest.raises(UsageError, match="is a 'linux' image, not a Windows one"):
        load_windows_image(write_image(tmp_path / "linux", "linux"))


def test_image_by_directory_or_manifest(tmp_path):
    d = write_image(tmp_path / "win")
    assert load_windows_image(d).windows["build"] == 22631
    assert load_windows_image(d / "manifest.json").disk_bus == "sata"


def test_prepare_without_image_fails_before_building_or_booting(monkeypatch):
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    target = WindowsTarget()

    def must_not_build(*_a, **_k):
        raise AssertionError("built the driver although there is no image")
    monkeypatch.setattr(WindowsTarget, "build_shared", classmethod(must_not_build))
    with pytest.raises(UsageError, match="CLFS_HARNESS_WINDOWS_IMAGE is not set"):
        target.prepare()


def test_a_uefi_image_on_a_libvirt_that_cannot_revert_it_is_refused_before_the_boot(monkeypatch, tmp_path):
    """libvirt reverts internal snapshots of UEFI domains from 10.10 only (Debian 12 has 9.0, where
    test_vm_windows_firmware.py sees the refusal); every case reverts, so a run must stop before its
    boot, naming the manifest's field and the way out. A BIOS image, or 10.10, goes on."""
    import harness.vm.session as session_mod
    image = write_image(tmp_path / "win")    # firmware: uefi
    versions = {"libvirt": "9.0.0"}
    closed = []
    fake_session = SimpleNamespace(backend=SimpleNamespace(versions=lambda: dict(versions)), run=None)
    monkeypatch.setattr(session_mod, "open_session", lambda config: fake_session)
    monkeypatch.setattr(WindowsTarget, "close", lambda self: closed.append(True))

    def booted(*_a, **_k):
        raise RuntimeError("went on to the boot")
    monkeypatch.setattr("harness.guest.windows.WindowsGuest.__init__", booted)
    target = WindowsTarget(LabConfig(), built={"driver": "d", "client": "c"}, options={"image": str(image)})
    with pytest.raises(UsageError) as info:
        target.prepare()
    assert str(info.value) == (f"{image / 'manifest.json'}: firmware: uefi, but libvirt 9.0.0 cannot revert internal "
                               "snapshots of UEFI (pflash) domains, and every case reverts to the ready snapshot "
                               "(libvirt >= 10.10.0 can); rebuild the image with --firmware bios")
    assert closed == [True]
    for version in ("10.10.0", "11.0.0"):
        versions["libvirt"] = version
        with pytest.raises(RuntimeError, match="went on to the boot"):
            target.prepare()
    versions["libvirt"] = "10.9.0"
    with pytest.raises(UsageError, match="libvirt 10.9.0 cannot revert"):
        target.prepare()
    bios = json.loads((image / "manifest.json").read_text())
    (image / "manifest.json").write_text(json.dumps({**bios, "firmware": "bios"}))
    with pytest.raises(RuntimeError, match="went on to the boot"):
        target.prepare()


def test_build_shared_names_the_signed_files(monkeypatch, tmp_path):
    import harness.driver.build as build
    fake = SimpleNamespace(sys=tmp_path / "clfstest.sys", client=tmp_path / "clfsctl.exe",
                           certificate=SimpleNamespace(cert=tmp_path / "cert.pem"))
    monkeypatch.setattr(build, "build_driver", lambda config: fake)
    assert WindowsTarget.build_shared(None) == {"driver": str(fake.sys), "client": str(fake.client),
                                                "certificate": str(fake.certificate.cert)}


# ---- identity -----------------------------------------------------------------------------------

def _identity_of(tmp_path, build, revision, clfs_auth_mode=None) -> dict:
    target = WindowsTarget(options={"image": "unused"}, built={
        "driver": str(write_bytes(tmp_path / "clfstest.sys", b"sys")),
        "client": str(write_bytes(tmp_path / "clfsctl.exe", b"exe"))})
    target._manifest = SimpleNamespace(name="win11-23h2", disk_sha256="ab" * 32,
                                       windows={"build": 22631, "revision": 2861})
    target._guest = SimpleNamespace(
        facts=SimpleNamespace(build=build, revision=revision, version=f"{build}.{revision}", edition="Professional",
                              product_name="Windows 10 Pro", display_version="23H2", clfs_auth_mode=clfs_auth_mode),
        driver_info={"build": "0.3.0"}, accel="kvm")
    return target._make_identity()


def test_identity_keys_baselines_by_build_and_revision(tmp_path):
    identity = _identity_of(tmp_path, 22631, 3007)
    assert baseline_key(identity) == "windows-22631.3007"   # the guest's, not the manifest's
    assert identity["image_sha256"] == "ab" * 32 and len(identity["driver_sha256"]) == 64
    assert identity["verifier"] == "off" and identity["driver_build"] == "0.3.0"
    assert identity["clfs_authentication"] == "absent"      # no CLFS\Authentication key on this build


def test_the_clfs_authentication_mode_keeps_baselines_of_one_build_apart(tmp_path):
    # Learning and enforcing modes of one build answer a log open differently (KB5056852).
    enforcing = _identity_of(tmp_path, 26100, 4061, clfs_auth_mode=0)
    learning = _identity_of(tmp_path, 26100, 4061, clfs_auth_mode=1)
    assert baseline_key(enforcing) == "windows-26100.4061-clfsauth-enforcing"
    assert baseline_key(learning) == "windows-26100.4061-clfsauth-learning"


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---- execute ------------------------------------------------------------------------------------

class FakeGuest:
    """Answers run_request and serve_request with what a test gives it; records the call
    (``modes``: which of the two was used)."""

    def __init__(self, tmp_path: Path, answer):
        self.console_log = tmp_path / "console.log"
        self.console_log.write_bytes(b"boot noise\n")
        self.answer, self.calls, self.modes = answer, [], []

    def serve_request(self, request, timeout, *, max_frame, evidence_dir=None):
        self.modes.append(("serve", max_frame))
        return self._answer(request, timeout, evidence_dir)

    def run_request(self, request, timeout, evidence_dir=None):
        self.modes.append(("run",))
        return self._answer(request, timeout, evidence_dir)

    def _answer(self, request, timeout, evidence_dir):
        self.calls.append((request, timeout, evidence_dir))
        with open(self.console_log, "ab") as fh:
            fh.write(b"SAC> during the case\n")
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def target_with(tmp_path, answer) -> WindowsTarget:
    target = WindowsTarget(options={"image": "unused"})
    target._guest = FakeGuest(tmp_path, answer)
    return target


@pytest.mark.parametrize("serve, mode", [(None, ("serve",)), ("false", ("run",))])
def test_clfsctl_serve_by_default_and_run_per_case_when_the_lab_says_so(tmp_path, monkeypatch, serve, mode):
    from harness.protocol import wire
    if serve is not None:
        monkeypatch.setenv("CLFS_HARNESS_WINDOWS_SERVE", serve)
    target = WindowsTarget(options={"image": "unused"})
    target._guest = FakeGuest(tmp_path, b"not a response")
    with pytest.raises(ProtocolError):
        target.execute(lifecycle(), None)
    expected = ("serve", wire.response_cap(wire.MAX_STEPS)) if mode[0] == "serve" else mode
    assert target._guest.modes == [expected]


def test_execute_writes_request_and_refuses_garbage(tmp_path):
    target = target_with(tmp_path, b"not a response")
    artefacts = CaseArtefacts(tmp_path / "case")
    case = lifecycle()
    with pytest.raises(ProtocolError):
        target.execute(case, artefacts)
    request, timeout, evidence = target._guest.calls[0]
    assert (tmp_path / "case" / "request.bin").read_bytes() == request
    assert timeout == case.timeout_s + COMMAND_OVERHEAD_S and evidence == artefacts.dir
    assert "C:\\clfstest\\scratch".encode("utf-16-le") in request
    assert (tmp_path / "case" / "console.log").read_bytes() == b"SAC> during the case\n"


@pytest.mark.parametrize("error", [
    BugcheckDetected("the guest bugchecked", 0xD1, (1, 2, 0, 4), "/runs/case/MEMORY.DMP"),
    GuestHang("guest command timed out"),
])
def test_execute_passes_bugchecks_and_hangs_on_with_the_console(tmp_path, error):
    target = target_with(tmp_path, error)
    with pytest.raises(type(error)) as info:
        target.execute(lifecycle(), CaseArtefacts(tmp_path / "case"))
    assert info.value is error
    assert (tmp_path / "case" / "console.log").exists()


def test_execute_refuses_a_model_response(tmp_path):
    from harness.targets.model import MODEL_SCRATCH, ModelTarget
    from harness.protocol import encode_request

    case = lifecycle()
    model = ModelTarget()
    try:
        model.prepare()
        # The model answers the same request bytes the Windows target would send.
        response = model.execute(case).response
    finally:
        model.close()
    assert encode_request(case, scratch=MODEL_SCRATCH) == encode_request(case, scratch=GUEST_SCRATCH)
    target = target_with(tmp_path, response)
    with pytest.raises(ProtocolError, match="carries the model flag"):
        target.execute(case, None)


# ---- phases ------------------------------------------------------------------------------------

class PhaseGuest(FakeGuest):
    """A fake Windows guest whose requests the host model answers (model flag cleared, as
    clfstest.sys answers), and which records restarts and the return to the ready snapshot."""

    class Instance:
        def crashed(self):
            return None

    def __init__(self, tmp_path, model):
        super().__init__(tmp_path, None)
        self.model, self.events, self.instance = model, [], self.Instance()

    def serve_request(self, request, timeout, *, max_frame, evidence_dir=None):
        return self.run_request(request, timeout, evidence_dir)

    def run_request(self, request, timeout, evidence_dir=None):
        self.events.append("request")
        response = bytearray(self.model.run_bytes(request))
        response[36] &= ~1    # ct_resp_header.flags: RESP_MODEL off
        return bytes(response)

    def restart(self, how):
        self.events.append(f"restart {how}")
        return 0.5

    def recover(self):
        self.events.append("back to ready")
        return 0.1


PHASED = """\
name: phased
description: d
steps:
  - create_log: {name: log, path: "${scratch}/p"}
  - add_container_set: {log: log, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma, log: log, buffer_size: 4KiB}
  - reserve_and_append: {area: ma, records: [64]}
    save: {first: lsn}
  - flush_to_lsn: {area: ma, lsn: "${first}"}
  - restart: {how: HOW}
  - create_log: {name: log2, path: "${scratch}/q"}
  - add_container_set: {log: log2, count: 2, size: 512KiB}
  - create_marshalling_area: {name: ma2, log: log2, buffer_size: 4KiB}
  - flush_to_lsn: {area: ma2, lsn: "${first}"}
    expect: any
  - close_log: {log: log2}
"""


def _phased(tmp_path, how):
    from harness.scenario.load import load_file

    path = tmp_path / "p.scenario.yaml"
    path.write_text(PHASED.replace("HOW", how))
    (case,), problems = load_file(path, display="p.scenario.yaml")
    assert problems == []
    return case


@pytest.mark.parametrize("how", ["power_cut", "clean"])
def test_phases_restart_the_guest_between_requests_then_revert(tmp_path, how):
    from harness.targets.model import ModelTarget
    from harness.verdict.judge import PASS, judge

    model = ModelTarget()
    try:
        model.prepare()
        target = WindowsTarget(options={"image": "unused"})
        target._guest = PhaseGuest(tmp_path, model)
        artefacts = CaseArtefacts(tmp_path / "case")
        result = target.execute(_phased(tmp_path, how), artefacts)
    finally:
        model.close()
    assert target._guest.events == ["request", f"restart {how}", "request", "back to ready"]
    assert [r.phase for r in result.steps] == [1] * 5 + [2] * 5
    assert judge(_phased(tmp_path, how), result).outcome == PASS
    assert {"phase1-request.bin", "phase2-request.bin", "phase2-response.bin", "restarts.txt",
            "phase2-restart-console.log"} <= set(artefacts.files())


def test_windows_and_wine_restart_every_way(tmp_path):
    """bugcheck joined power_cut and clean once the driver had its bugcheck op (the flow is in
    tests/unit/test_bugcheck_restart.py); the wine target restarts its Wine session each way too
    (tests/integration/test_wine.py runs the phased cases there)."""
    from harness.targets.wine import WineTarget

    target = WindowsTarget(options={"image": "unused"})
    assert target.restarts == {"power_cut", "bugcheck", "clean", "reopen"}
    assert target.refuses(_phased(tmp_path, "bugcheck")) is None
    assert WineTarget.restarts == target.restarts
    assert WineTarget().refuses(_phased(tmp_path, "bugcheck")) is None


def test_the_clean_shutdown_command_returns_before_the_power_goes():
    from harness.guest import wincmd
    assert "shutdown.exe" in wincmd.shutdown_command() and "/s" in wincmd.shutdown_command()
    with pytest.raises(ValueError):
        wincmd.shutdown_command(0)
