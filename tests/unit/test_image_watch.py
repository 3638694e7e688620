"""The install watch, on a scripted fake instance and a fake clock (a unit test of our orchestration,
not of Windows): success, stall, timeout, crash, early power-off, provisioning errors, artefacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.images import ImageBuildError
from harness.images.watch import CONSOLE_COPY, SCREENSHOT, Limits, clock_text, watch_install
from harness.vm.base import PortForward, VmSpec
from image_fakes import FakeClock, FakeInstance

LIMITS = Limits(timeout_s=3 * 3600, stall_s=1800, heartbeat_s=60, poll_s=1.0)


def _instance(tmp_path: Path, script, clock=None) -> FakeInstance:
    spec = VmSpec(name="fake-install", accel="kvm", overlay=tmp_path / "run" / "overlay.qcow2",
                  golden=tmp_path / "blank.qcow2", console_log=tmp_path / "run" / "console.log",
                  forwards=(PortForward(40000, 9),))
    return FakeInstance(spec, script, clock or FakeClock())


def _watch(tmp_path, script, limits=LIMITS, **kw):
    inst = _instance(tmp_path, script)
    lines: list[str] = []
    out = tmp_path / "out"
    try:
        return inst, lines, watch_install(inst, limits, out, say=lines.append, clock=inst.clock, **kw)
    except ImageBuildError as exc:
        return inst, lines, exc


GOOD = [(30, b"CLFS-HARNESS-PROGRESS windows-pe\r\n"), (900, b"CLFS-HARNESS-PROGRESS specialize\r\n"),
        (1500, b"CLFS-HARNESS-PROGRESS first-logon\r\n"), (1510, b"CLFS-HARNESS-PROGRESS openssh\n"),
        (1600, b"CLFS-HARNESS-FACT build=26100\n"), (1601, b"CLFS-HARNESS-DONE\n"), (1620, "poweroff")]


def test_a_good_install_ends_at_power_off_with_every_fact(tmp_path):
    inst, lines, report = _watch(tmp_path, GOOD)
    assert report.done and report.facts == {"build": "26100"}
    assert report.steps == ["windows-pe", "specialize", "first-logon", "openssh"]
    assert lines[0] == "[0:30] Windows Setup (WinPE)" and "[25:00] Windows Setup (first logon)" in lines
    assert "[25:10] provisioning: openssh" in lines
    assert lines[-1] == "[27:00] powered off: install and provisioning complete"
    # Heartbeats while Setup applies the image: elapsed, phase and the age of the last marker.
    assert "[1:30] Windows Setup (WinPE) (last marker 1:00 ago)" in lines
    assert not (tmp_path / "out").exists()   # no failure artefacts


def test_stall_ends_the_install_with_a_screenshot_and_the_console(tmp_path):
    script = [(30, b"CLFS-HARNESS-PROGRESS windows-pe\n"), (100, b"CLFS-HARNESS-PROGRESS first-logon\n")]
    inst, _, exc = _watch(tmp_path, script)
    assert isinstance(exc, ImageBuildError)
    assert str(exc).startswith("stalled: no progress marker for 30:01 during Windows Setup (first logon) "
                               "(--stall-timeout 30:00) after 31:41; kept ")
    out = tmp_path / "out"
    assert exc.artefacts == (out / SCREENSHOT, out / CONSOLE_COPY)
    assert (out / SCREENSHOT).read_bytes().startswith(b"\x89PNG")
    assert b"CLFS-HARNESS-PROGRESS first-logon" in (out / CONSOLE_COPY).read_bytes()


def test_the_stall_clock_starts_at_power_on(tmp_path):
    _, _, exc = _watch(tmp_path, [], Limits(timeout_s=3600, stall_s=600))
    assert "stalled" in str(exc) and "during booting the installer" in str(exc)


def test_the_overall_timeout_ends_an_install_that_keeps_talking(tmp_path):
    chatty = [(t, f"CLFS-HARNESS-PROGRESS step-{t}\n".encode()) for t in range(60, 4000, 60)]
    _, _, exc = _watch(tmp_path, chatty, Limits(timeout_s=3600, stall_s=600))
    assert str(exc).startswith("timed out (1:00:00) during provisioning: step-3600 after 1:00:01")


def test_a_provisioning_error_ends_it_at_once(tmp_path):
    script = [(10, b"CLFS-HARNESS-PROGRESS openssh\n"),
              (20, b"CLFS-HARNESS-ERROR openssh: the sshd service is not installed\r\n")]
    inst, _, exc = _watch(tmp_path, script)
    assert str(exc).startswith("provisioning failed at openssh: the sshd service is not installed after 0:20")
    assert inst.clock.now - inst.t0 == 20


def test_a_protocol_violation_ends_it(tmp_path):
    script = [(10, b"CLFS-HARNESS-FACT build=26100\nCLFS-HARNESS-FACT build=22631\n")]
    _, _, exc = _watch(tmp_path, script)
    assert str(exc).startswith("the guest broke the console protocol: console line 3: fact build reported "
                               "twice with different values")


def test_a_crash_is_a_failure_with_the_blue_screen_kept(tmp_path):
    script = [(10, b"CLFS-HARNESS-PROGRESS windows-pe\n"), (400, "crash")]
    _, _, exc = _watch(tmp_path, script)
    assert str(exc).startswith("the guest crashed (crashed: panicked) during Windows Setup (WinPE) after 6:40")
    assert (tmp_path / "out" / SCREENSHOT) in exc.artefacts


def test_power_off_before_done_is_a_failure_and_a_missing_screen_is_no_error(tmp_path):
    script = [(10, b"CLFS-HARNESS-PROGRESS openssh\n"), (20, "poweroff")]
    _, _, exc = _watch(tmp_path, script)
    assert str(exc).startswith("the guest powered off (stopped: shutdown) before provisioning finished "
                               "(last marker: openssh) after 0:20")
    assert exc.artefacts == (tmp_path / "out" / CONSOLE_COPY,)   # the guest is off: no screenshot


def test_lines_written_just_before_power_off_are_read(tmp_path):
    script = [(10, b"CLFS-HARNESS-FACT build=1\n"), (20, b"CLFS-HARNESS-DONE\n"), (20, "poweroff")]
    _, _, report = _watch(tmp_path, script)
    assert report.done and report.facts == {"build": "1"}


def test_nudge_is_called_until_the_first_marker_only(tmp_path):
    inst = _instance(tmp_path, [(5, b"CLFS-HARNESS-PROGRESS windows-pe\n"), (6, b"CLFS-HARNESS-DONE\n"),
                                (7, "poweroff")])
    watch_install(inst, LIMITS, tmp_path / "out", say=lambda _: None, clock=inst.clock,
                  nudge=lambda: inst.send_key("ret"))
    assert inst.nudges == 5


def test_limits_are_checked():
    with pytest.raises(ValueError, match="at most the overall timeout"):
        Limits(timeout_s=600, stall_s=601)


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3600, "1:00:00"),
                                           (3725, "1:02:05")])
def test_clock_text(seconds, text):
    assert clock_text(seconds) == text
