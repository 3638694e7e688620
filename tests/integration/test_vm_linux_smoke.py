"""The VM layer against real libvirt and QEMU, with the linux-smoke guest (marker ``vm``).

One guest is booted for the module; tests that break it (panic, hang, sshd killed) rely on
the adapter reverting it to the ready snapshot, which is itself under test. Skips, with the
reason, when libvirt, QEMU or the smoke image are not available.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vm_host import vm_host_missing

from harness.config import LabConfig
from harness.errors import BugcheckDetected, GuestCommandError, GuestTimeout, InfraError

pytestmark = pytest.mark.vm

IMAGE = "linux-smoke"


def _skip(reason: str):
    # -ra prints this in the summary; also say it at once, so it is never silent.
    print(f"\nSKIP vm tests: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab():
    """A VM session on a fresh run directory, with the smoke image built (or skip, saying why)."""
    missing = vm_host_missing()
    if missing:
        _skip(missing)
    # The configured run directory (default ./runs): QEMU, as its own user, must reach it
    # (pytest's 0700 temp directories would not do). Overlays go at close; consoles stay.
    config = LabConfig.from_env()
    from harness.vm.session import open_session
    try:
        session = open_session(config)
    except InfraError as exc:
        _skip(f"libvirt not reachable at {config.libvirt_uri}: {exc} (start virtlogd -d; libvirtd -d)")
    from harness.commands.image import build_image
    from harness.vm.image import load_manifest
    try:
        manifest = load_manifest(build_image(IMAGE, config))
    except InfraError as exc:
        session.close()
        _skip(f"cannot build the {IMAGE} image: {exc}")
    yield config, session, manifest
    session.close()


@pytest.fixture(scope="module")
def golden_sha(lab):
    _config, _session, manifest = lab
    manifest.verify_disk()
    st = manifest.disk.stat()
    return manifest.disk_sha256, (st.st_uid, st.st_gid, st.st_mode, st.st_mtime_ns)


@pytest.fixture(scope="module")
def guest(lab, golden_sha):
    from harness.guest.linux import LinuxGuest
    config, session, manifest = lab
    g = LinuxGuest(session.backend, manifest, session.run, worker="w0", accel=config.accel,
                   uri=config.libvirt_uri, boot_timeout=config.boot_timeout_s)
    try:
        took = g.boot()
        print(f"\nsmoke guest SSH-ready in {took:.1f} s under {g.accel.upper()}", file=sys.stderr)
        yield g
    finally:
        g.close()


def test_boot_then_ssh_ready_and_exec(guest, lab):
    _config, _session, manifest = lab
    assert guest.accel in ("kvm", "tcg")
    result = guest.run("uname -r; echo err >&2; exit 3")
    assert (result.exit_code, result.stderr) == (3, "err\n")
    assert result.stdout.strip().endswith("-amd64")
    with pytest.raises(GuestCommandError) as info:
        guest.run("false", check=True)
    assert info.value.exit_code == 1
    assert guest.run("cat /proc/sys/kernel/sysrq", check=True).stdout.strip() == "1"
    modules = guest.run("cat /proc/modules", check=True).stdout
    for name in ("virtio_pci", "virtio_blk", "virtio_net", "pvpanic_mmio"):
        assert f"{name} " in modules  # loaded in dependency order by the image's /init
    assert "smoke-init: insmod" not in guest.console_log.read_text(errors="replace")


def test_the_ssh_connection_sends_small_frames_at_once(guest):
    """The executor's frames are small writes; with Nagle's algorithm on they waited for the
    guest's delayed ACK of other channels' data (about 40 ms a case, pipeline_bench: 46 ms a case
    interleaved with commands, 3 ms with TCP_NODELAY). The connection the harness opened has it."""
    sock = guest.ssh._client.get_transport().sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_sftp_round_trip_5mb_byte_exact(guest, tmp_path):
    blob = os.urandom(5 * 1024 * 1024)
    src, back = tmp_path / "blob", tmp_path / "blob.back"
    src.write_bytes(blob)
    guest.put(src, "/srv/scratch/blob")
    remote = guest.run("sha256sum /srv/scratch/blob", check=True).stdout.split()[0]
    assert remote == hashlib.sha256(blob).hexdigest()
    guest.get("/srv/scratch/blob", back)
    assert back.read_bytes() == blob


def test_kernel_panic_detected_console_kept_reverted(guest):
    guest.run("echo before-crash > /srv/marker", check=True)
    sent = time.time()
    with pytest.raises(BugcheckDetected) as info:
        guest.run("echo c > /proc/sysrq-trigger", timeout=60)
    crash_events = [t for t, text in guest.instance.state.events if text.startswith("crashed")]
    assert crash_events, guest.instance.state.events
    print(f"panic seen {crash_events[-1] - sent:.2f} s after the command was sent", file=sys.stderr)
    assert crash_events[-1] - sent < 2.0, "crash surfaced later than 2 s"
    assert "panicked" in str(info.value)
    console = guest.console_log.read_text(errors="replace")
    assert "sysrq: Trigger a crash" in console and "Kernel panic" in console
    shots = sorted(guest.dir.glob("crash-*.png"))
    assert shots and shots[-1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Reverted to the ready snapshot: usable, and the marker written after it is gone.
    assert guest.run("test -e /srv/marker; echo $?").stdout.strip() == "1"


def _uptime(guest) -> float:
    return float(guest.run("cat /proc/uptime", check=True).stdout.split()[0])


def test_revert_cycles_leave_a_clean_guest_with_a_sane_clock(guest):
    """Reverts of hung guests (a loadvm in place) and of panicked ones (the warm spare, a new QEMU),
    over more than the soft-lockup threshold (20 s). A TCG guest's TSC never goes back in the
    same QEMU, so with a TSC the clock of a guest reverted in place jumped by the time since the
    snapshot; the Linux guest has none under TCG. After each revert the guest's clock must be
    back at the snapshot's, tick at the host's rate, the kernel must have reported nothing (the
    power-off test later in this module is where in-place reverts of panicked guests failed)."""
    watchdog = guest.run("cat /proc/sys/kernel/soft_watchdog /proc/sys/kernel/watchdog_thresh",
                         check=True).stdout.split()
    assert watchdog[0] == "1", "the soft-lockup detector is off in the guest: this test could not fail"
    console_from = guest.console_log.stat().st_size
    guest.recover()
    base = _uptime(guest)   # the snapshot's uptime, plus one SSH reconnect and command
    cycles, paths = 6, []
    for i in range(cycles):
        time.sleep(3)   # spread over well past 20 s since the snapshot
        guest.run("echo busy > /srv/marker", check=True)
        if i % 2:
            with pytest.raises(BugcheckDetected):
                guest.run("echo c > /proc/sysrq-trigger", timeout=60)
        else:
            with pytest.raises(GuestTimeout):
                guest.run("sleep 100000", timeout=2)
        paths.append(guest.instance.last_revert)
        after = _uptime(guest)
        # With a TSC, in place: about base + (i + 1) * 5 s and more.
        assert abs(after - base) < 4.0, f"cycle {i + 1}: uptime {after:.2f} s after the revert, snapshot's {base:.2f} s"
        assert guest.run("test -e /srv/marker; echo $?").stdout.strip() == "1"   # reverted
    print(f"\n{cycles} hang/panic+revert cycles, reverted {paths}; uptime after each within 4 s of "
          f"{base:.2f} s", file=sys.stderr)
    assert paths == ["in place", "spare"] * (cycles // 2), paths
    # Ticks at the host's rate, and the watchdogs get three periods (4 s each) to speak.
    t0, u0 = time.monotonic(), _uptime(guest)
    guest.run("sleep 12", check=True, timeout=60)
    rate = (_uptime(guest) - u0) / (time.monotonic() - t0)
    assert 0.85 < rate < 1.15, f"guest clock ran at {rate:.2f}x the host's"
    for _ in range(20):
        assert guest.run("echo ok", check=True).stdout == "ok\n"
    dmesg = guest.run("dmesg", check=True).stdout
    console = guest.console_log.read_bytes()[console_from:].decode("utf-8", "replace")
    from harness.guest.linux import KERNEL_TROUBLE
    for text in KERNEL_TROUBLE:
        assert text not in dmesg and text not in console, f"{text!r} after the revert cycles"
    assert console.count("Kernel panic") >= cycles // 2   # the console did see every panic


def test_panic_reverts_by_warm_spare_leave_a_healthy_guest_that_powers_off(lab, golden_sha):
    """Several panic -> revert cycles through the warm spare (harness/vm/spare.py), each followed
    by proof the guest is whole: commands run, the disk is back at the snapshot, its clock is the
    snapshot's and ticks at the host's rate; then longer than the soft-lockup threshold (20 s)
    with nothing from the kernel's watchdogs, and ``sysrq o`` powers it off within seconds (what
    guests reverted in place failed: a soft lockup in virtio-net instead of the power-off). Its
    own guest, since it ends with the power-off."""
    from harness.guest.linux import KERNEL_TROUBLE, LinuxGuest
    config, session, manifest = lab
    g = LinuxGuest(session.backend, manifest, session.run, worker="spare", accel=config.accel,
                   uri=config.libvirt_uri, boot_timeout=config.boot_timeout_s)
    try:
        g.boot()
        console_from = g.console_log.stat().st_size
        t0 = time.monotonic()
        g.recover()
        base = _uptime(g)   # the snapshot's uptime, plus one SSH reconnect and command
        # ...which on a loaded host can take seconds of guest time: the later readings may be
        # lower by that much. A clock carried on from before the revert would be higher.
        below = time.monotonic() - t0 + 2.0
        cycles, took, names = 4, [], {g.instance.name}
        for i in range(cycles):
            g.run("echo busy > /srv/marker", check=True)
            with pytest.raises(BugcheckDetected):
                g.run("echo c > /proc/sysrq-trigger", timeout=60)
            took.append(g.last_recover["revert_s"] + g.last_recover["ssh_s"])
            assert g.instance.last_revert == "spare", f"cycle {i + 1}: reverted by {g.instance.last_revert}"
            names.add(g.instance.name)
            assert g.run("test -e /srv/marker; echo $?").stdout.strip() == "1"   # the disk reverted
            assert g.run("cat /proc/sys/kernel/sysrq", check=True).stdout.strip() == "1"
            after = _uptime(g)
            assert -below < after - base < 4.0, f"cycle {i + 1}: uptime {after:.2f} s, the snapshot's {base:.2f} s"
        assert len(names) == cycles + 1   # a fresh QEMU each time
        t0, u0 = time.monotonic(), _uptime(g)
        g.run("sleep 25", check=True, timeout=90)   # past the soft-lockup threshold
        rate = (_uptime(g) - u0) / (time.monotonic() - t0)
        assert 0.85 < rate < 1.15, f"guest clock ran at {rate:.2f}x the host's"
        dmesg = g.run("dmesg", check=True).stdout
        console = g.console_log.read_bytes()[console_from:].decode("utf-8", "replace")
        for text in KERNEL_TROUBLE + ("BUG:",):
            assert text not in dmesg and text not in console, f"{text!r} after the spare reverts"
        assert console.count("Kernel panic") >= cycles   # the one console saw every panic
        last = g.instance
        g.auto_recover = False
        sent = time.monotonic()
        with pytest.raises(InfraError, match="stopped: shutdown"):
            g.run("echo o > /proc/sysrq-trigger; sleep 60", timeout=60)
        stopped = time.monotonic() - sent
        assert stopped < 10.0, f"power-off took {stopped:.1f} s"
        print(f"\n{cycles} panic reverts by the warm spare: {', '.join(f'{t:.2f}' for t in took)} s to "
              f"SSH-ready; clean after 25 s; sysrq o powered off in {stopped:.2f} s", file=sys.stderr)
        assert last.crashed() == "stopped: shutdown"
    finally:
        g.close()
    leftovers = [p.name for p in g.dir.glob("*.qcow2")]
    assert not leftovers, leftovers   # the spares' overlays and the template went with the guest


def test_never_returning_command_times_out_and_reverts(guest):
    guest.run("echo before-hang > /srv/marker", check=True)
    start = time.monotonic()
    with pytest.raises(GuestTimeout):
        guest.run("sleep 100000", timeout=3)
    assert time.monotonic() - start < 20
    assert list(guest.dir.glob("hang-*.png"))
    assert guest.run("test -e /srv/marker; echo $?").stdout.strip() == "1"


def test_sshd_killed_is_infra_error_not_failure(guest):
    with pytest.raises(InfraError) as info:
        guest.run("killall dropbear; sleep 5", timeout=30)
    assert not isinstance(info.value, (GuestCommandError, BugcheckDetected))
    assert guest.run("pidof dropbear", check=True).stdout.strip()  # reverted: sshd back


def test_nmi_reaches_the_guest_kernel(guest):
    # What a hang costs on Windows (NMICrashDump turns it into bugcheck 0x80); a Linux guest
    # just reports the NMI on its console and carries on, which proves the NMI arrived.
    before = len(guest.instance.console_tail(1 << 20))
    guest.instance.inject_nmi()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "NMI" not in guest.instance.console_tail(1 << 20)[before:]:
        time.sleep(0.2)
    assert "NMI" in guest.instance.console_tail(1 << 20)[before:], guest.instance.console_tail(2000)
    assert guest.run("echo alive", check=True).stdout.strip() == "alive"


def test_windows_format_dump_of_a_linux_guest_is_a_clear_infra_error(guest, tmp_path):
    # The win-dmp request reaches QEMU, which refuses it for a guest that filled no Windows
    # vmcoreinfo note: the error names the dump, and the guest keeps running.
    with pytest.raises(InfraError, match="win-dmp memory dump"):
        guest.instance.dump_windows_memory(tmp_path / "guest-memory.dmp")
    assert guest.run("echo alive", check=True).stdout.strip() == "alive"


def test_wrong_host_key_refused(guest, lab):
    from harness.guest.ssh import HostKeyMismatch, SshTransport
    _config, _session, manifest = lab
    blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + os.urandom(32)
    wrong = SshTransport("127.0.0.1", guest.instance.forward(manifest.ssh_port), manifest.ssh_user,
                         manifest.client_key, "ssh-ed25519 " + base64.b64encode(blob).decode())
    start = time.monotonic()
    with pytest.raises(HostKeyMismatch) as info:
        wrong.wait_ready(30)
    assert time.monotonic() - start < 10, "a mismatch must be refused at once, not retried"
    assert "host key mismatch" in str(info.value) and "refusing" in str(info.value)
    wrong.close()


CHILD = r"""
import sys, time
from harness.config import LabConfig
from harness.guest.linux import LinuxGuest
from harness.vm.image import load_manifest
from harness.vm.session import open_session
config = LabConfig.from_env()
session = open_session(config, autodestroy=False)   # as a remote libvirtd would keep it
guest = LinuxGuest(session.backend, load_manifest(sys.argv[1]), session.run, worker="victim",
                   accel=config.accel, uri=config.libvirt_uri, boot_timeout=config.boot_timeout_s)
guest.boot()
print("READY", guest.instance.name, guest.instance.spec.overlay, flush=True)
time.sleep(600)
"""


def test_sigkilled_harness_leftovers_reaped_by_next_run(guest, lab, tmp_path):
    import libvirt
    from harness.vm.session import open_session
    config, session, manifest = lab
    env = {**os.environ, "CLFS_HARNESS_RUN_DIR": str(config.run_dir),
           "CLFS_HARNESS_ACCEL": guest.accel, "CLFS_HARNESS_LIBVIRT_URI": config.libvirt_uri}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(manifest.path)], env=env,
                             stdout=subprocess.PIPE, stderr=open(tmp_path / "child.err", "w"), text=True)
    try:
        line = child.stdout.readline().split()
        assert line and line[0] == "READY", (tmp_path / "child.err").read_text()[-3000:]
        domain, overlay = line[1], Path(line[2])
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        conn = libvirt.open(config.libvirt_uri)
        try:
            assert conn.lookupByName(domain).isActive()  # left running by the dead run
            assert overlay.exists()
            second = open_session(config)  # the next run: reaps at start
            second.close()
            assert any(domain in r for r in second.reaped), second.reaped
            assert any(str(overlay) in r for r in second.reaped), second.reaped
            with pytest.raises(libvirt.libvirtError):
                conn.lookupByName(domain)
            assert not overlay.exists()
            assert (overlay.parent / "console.log").exists()  # the artefact stays
        finally:
            try:
                conn.lookupByName(domain).destroy()
            except libvirt.libvirtError:
                pass
            conn.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_guest_power_off_seen_within_2s_then_booted_afresh(guest):
    old = guest.instance
    sent = time.time()
    with pytest.raises(InfraError) as info:
        # sysrq o powers off from a work item: the echo alone can exit, and its status reach the
        # host, before the power goes (seen in CI). The sleep keeps the command running, so only
        # the power-off can end it: what the test measures is how soon the harness sees that.
        guest.run("echo o > /proc/sysrq-trigger; sleep 30", timeout=30)
    assert not isinstance(info.value, BugcheckDetected)
    assert "stopped: shutdown" in str(info.value)
    stops = [t for t, text in old.state.events if text.startswith(("shutdown/", "stopped/shutdown"))]
    assert stops, old.state.events
    print(f"power-off seen {stops[0] - sent:.2f} s after the command was sent", file=sys.stderr)
    assert stops[0] - sent < 2.0, "power-off surfaced later than 2 s"
    # The transient domain is gone with its snapshot: the adapter booted a fresh one.
    assert guest.instance is not old
    assert guest.run("cat /proc/sys/kernel/sysrq", check=True).stdout.strip() == "1"


def test_cli_vm_list_and_reap(lab, capsys):
    from harness.cli import main
    assert main(["vm", "list"]) == 0
    assert main(["vm", "reap"]) == 0
    out = capsys.readouterr().out
    assert "reap:" in out and "removed domain" not in out  # our own live run is left alone


def test_golden_image_unchanged_after_all(guest, lab, golden_sha):
    _config, _session, manifest = lab
    from harness.vm.image import sha256_file
    sha, meta = golden_sha
    assert sha256_file(manifest.disk) == sha == manifest.disk_sha256
    st = manifest.disk.stat()
    assert (st.st_uid, st.st_gid, st.st_mode, st.st_mtime_ns) == meta  # not even chowned


# ---- the Windows crash path as a runner that is not root meets it -------------------------------
# The Windows crash path, as a runner that is not root meets it, on the real smoke guest (marker ``vm``).
#
# A real kernel panic in the Linux smoke guest (isa pvpanic) goes through the Windows adapter's
# evidence gathering (``CrashCollector``, the code ``WindowsGuest`` runs) with libvirt's domain log
# root-only and the dump that libvirtd wrote (as root) unreadable: the gathering must note both,
# take what QEMU's GUEST_PANICKED event says, revert, and let the next command run.
#
# What is real: libvirt, QEMU, the panic, the GUEST_PANICKED monitor event, the dump libvirtd
# writes, the revert. What is injected: the two permission denials. This suite runs as root, which
# no file mode can refuse, so they are raised where a non-root runner meets them (the domain log
# read and the dump read). An isa pvpanic event carries no bugcheck code (only Windows with
# hv-crash fills arg1..arg5), so here the event proves delivery and the code stays unknown; the
# unit test ``test_non_root_runner_takes_the_code_from_the_panic_event_and_goes_on`` feeds a
# Hyper-V event through the same code.

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
