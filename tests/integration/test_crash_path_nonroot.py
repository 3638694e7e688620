"""The Windows crash path, as a runner that is not root meets it, on the real smoke guest (marker ``vm``).

A real kernel panic in the Linux smoke guest (isa pvpanic) goes through the Windows adapter's
evidence gathering (``CrashCollector``, the code ``WindowsGuest`` runs) with libvirt's domain log
root-only and the dump that libvirtd wrote (as root) unreadable: the gathering must note both,
take what QEMU's GUEST_PANICKED event says, revert, and let the next command run.

What is real: libvirt, QEMU, the panic, the GUEST_PANICKED monitor event, the dump libvirtd
writes, the revert. What is injected: the two permission denials. This suite runs as root, which
no file mode can refuse, so they are raised where a non-root runner meets them (the domain log
read and the dump read). An isa pvpanic event carries no bugcheck code (only Windows with
hv-crash fills arg1..arg5), so here the event proves delivery and the code stays unknown; the
unit test ``test_non_root_runner_takes_the_code_from_the_panic_event_and_goes_on`` feeds a
Hyper-V event through the same code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.config import LabConfig
from harness.errors import BugcheckDetected, InfraError

pytestmark = pytest.mark.vm


def _skip(reason: str):
    print(f"\nSKIP vm tests: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab():
    try:
        import libvirt  # noqa: F401
        import paramiko  # noqa: F401
    except ImportError as exc:
        _skip(f"python module missing: {exc.name}; run bash .ci/setup")
    config = LabConfig.from_env()
    from harness.vm.session import open_session
    try:
        session = open_session(config)
    except InfraError as exc:
        _skip(f"libvirt not reachable at {config.libvirt_uri}: {exc}")
    from harness.commands.image import build_image
    from harness.vm.image import load_manifest
    try:
        manifest = load_manifest(build_image("linux-smoke", config))
    except InfraError as exc:
        session.close()
        _skip(f"cannot build the linux-smoke image: {exc}")
    yield config, session, manifest
    session.close()


def collecting_guest_class():
    from harness.guest.hvpanic import DomainLog
    from harness.guest.linux import LinuxGuest
    from harness.guest.wincollect import CrashCollector
    from harness.guest.windows import WindowsGuest

    class RootOnlyLog(DomainLog):
        def read_new(self) -> str:
            raise PermissionError(13, "Permission denied", str(self.path))

    class CollectingSmokeGuest(CrashCollector, LinuxGuest):
        """The smoke guest with the Windows adapter's crash handling."""

        _on_crash = WindowsGuest._on_crash

        def __init__(self, *args, evidence: Path, **kwargs):
            super().__init__(*args, **kwargs)
            self.wait_for_dump, self.panic_log_wait, self.max_dump_bytes = False, 5.0, 1 << 30
            self.dump_timeout, self.settle_timeout = 60.0, 10.0
            self.evidence_dir, self.last_crash, self._reports, self._doing = evidence, None, 0, "sysrq c"

        def _started(self) -> None:
            self.domain_log = RootOnlyLog(Path("/var/log/libvirt/qemu") / f"{self.instance.name}.log")

    return CollectingSmokeGuest


def test_non_root_crash_path_on_the_smoke_guest(lab, tmp_path, monkeypatch):
    from harness.guest import wincollect
    from harness.vm.libvirt_backend import libvirt, lv

    config, session, manifest = lab
    guest = collecting_guest_class()(session.backend, manifest, session.run, worker="w-nonroot",
                                     accel=config.accel, uri=config.libvirt_uri,
                                     boot_timeout=config.boot_timeout_s, evidence=tmp_path / "case")
    try:
        guest.boot()
        instance = guest.instance

        def libvirtd_writes_the_dump(path: Path) -> None:
            # As libvirtd writes any dump: itself, as root (an ELF memory dump: the smoke guest
            # is no Windows); a non-root runner could not read it.
            path.parent.mkdir(parents=True, exist_ok=True)
            lv("memory dump", instance.dom.coreDumpWithFormat, str(path),
               libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW, libvirt.VIR_DUMP_MEMORY_ONLY)
        monkeypatch.setattr(instance, "dump_windows_memory", libvirtd_writes_the_dump, raising=False)

        def root_only(path):
            raise PermissionError(13, "Permission denied", str(path))
        monkeypatch.setattr(wincollect, "read_dump_header", root_only)

        with pytest.raises(BugcheckDetected) as info:
            guest.run("echo c > /proc/sysrq-trigger", timeout=120)
        report = guest.last_crash
        notes = "\n".join(report.problems)
        print(f"\ncrash report notes:\n{notes}\nevents: {[e[1] for e in instance.state.events][-6:]}",
              file=sys.stderr)
        assert any(text.startswith("GUEST_PANICKED ") for _t, text in instance.state.events)
        assert "not readable (Permission denied)" in notes                     # the domain log
        assert "guest-memory.dmp cannot be read (Permission denied)" in notes  # the dump
        assert (tmp_path / "case" / "guest-memory.dmp").stat().st_size > 0    # written by libvirtd
        assert (tmp_path / "case" / "crash.json").exists()
        assert info.value.code is None   # isa pvpanic: the event carries no bugcheck code
        # Reverted, and it goes on.
        assert guest.run("echo still-here", timeout=60, check=True).stdout.strip() == "still-here"
    finally:
        guest.close()
