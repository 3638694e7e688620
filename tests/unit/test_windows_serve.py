"""The Windows adapter's ``clfsctl serve`` path: frames on a kept channel, clfsctl's exit codes
mapped exactly as for ``clfsctl run``, and a bugcheck or a hang while a case is in flight
collected and reverted the same way.

The far end is a local stand-in for ``clfsctl serve`` (``STANDIN``): it speaks the same framing
and exits with clfsctl's codes when a test asks it to. It checks the harness's sequencing only;
it produces no Windows result. The real clfsctl.exe is built by ``clfs-harness build-driver``.
"""

from __future__ import annotations

import json
import sys
import threading
from types import SimpleNamespace

import pytest

from harness.errors import BugcheckDetected, InfraError, ProtocolError
from harness.guest import wincmd
from harness.guest.hvpanic import DomainLog
from harness.guest.wincrash import GuestHang
from harness.guest.windows import WindowsGuest
from harness.guest.winparse import parse_facts
from harness.vm.rundir import RunDir

from channel_fakes import ProcessSsh
from guest_fakes import FakeInstance, FakeSsh
from windows_samples import FACTS

SERVE = wincmd.clfsctl_serve_command()
PANIC_D1 = ("2024-09-30 16:30:49.506+0000: panic hyper-v: arg1='0xd1', arg2='0xffffd28f1a2b3c40', "
            "arg3='0x2', arg4='0x0', arg5='0xfffff8053c7a1234'\n")
# Answers b"CLTR " + the request; b"EXIT n" exits n with clfsctl's message; b"HANG" never answers.
STANDIN = [sys.executable, "-c", (
    "import struct,sys,time\n"
    "while True:\n"
    "    h=sys.stdin.buffer.read(4)\n"
    "    if len(h)<4 or h==bytes(4): sys.exit(0)\n"
    "    d=sys.stdin.buffer.read(struct.unpack('<I',h)[0])\n"
    "    if d.startswith(b'EXIT '): sys.stderr.write('clfsctl: driver not loaded\\r\\n'); sys.exit(int(d[5:]))\n"
    "    if d==b'HANG': time.sleep(60)\n"
    "    a=b'CLTR '+d; sys.stdout.buffer.write(struct.pack('<I',len(a))+a); sys.stdout.flush()\n")]


class _Ssh(ProcessSsh, FakeSsh):
    def __init__(self, calls):
        ProcessSsh.__init__(self, {SERVE: STANDIN}, calls)
        FakeSsh.__init__(self, calls)

    def reconnect(self, deadline_s=30.0, abort=None):
        self.up = True
        return FakeSsh.reconnect(self, deadline_s, abort)


@pytest.fixture
def g(tmp_path):
    calls: list = []
    run = RunDir.create(tmp_path / "runs", check_reachable=False)
    guest = WindowsGuest(None, SimpleNamespace(ssh_user="clfs", name="win11"), run, worker="w0")
    guest.instance, guest.ssh = FakeInstance(calls), _Ssh(calls)
    guest.calls, guest.panic_log_wait = calls, 0
    log = tmp_path / "domain.log"
    log.write_text("2024-09-30 16:29:01.120+0000: starting up libvirt version: 9.0.0\n")
    guest.domain_log = DomainLog(log)
    guest.domain_log.mark()
    guest.log_path = log
    guest.facts = parse_facts(json.dumps(FACTS))
    yield guest
    guest.ssh.close_all()


def names(calls) -> list:
    return ["serve" if c == ("open_command", SERVE) else c[0] if len(c) == 1 else (c[0], c[1]) for c in calls]


def test_requests_go_as_frames_on_one_channel_with_no_file_copy_and_no_command(g):
    assert g.serve_request(b"CLTQ one", 30, max_frame=4096) == b"CLTR CLTQ one"
    assert g.serve_request(b"CLTQ two", 30, max_frame=4096) == b"CLTR CLTQ two"
    assert names(g.calls) == ["serve"]
    assert SERVE == "& 'C:\\clfstest\\clfsctl.exe' serve 'C:\\clfstest\\scratch'; exit $LASTEXITCODE"


@pytest.mark.parametrize("code, error, words", [
    (3, InfraError, "exited 3: the driver is not loaded.*clfsctl said: clfsctl: driver not loaded"),
    (4, InfraError, "must be an administrator"),
    (5, InfraError, "different protocol versions"),
    (6, ProtocolError, "malformed"),
    (77, InfraError, "none of its exit codes"),
])
def test_clfsctl_exit_codes_mean_what_they_mean_for_run(g, code, error, words):
    with pytest.raises(error, match=words):
        g.serve_request(f"EXIT {code}".encode(), 30, max_frame=4096)
    assert "revert" not in names(g.calls)                  # the guest is fine: no revert
    assert g.serve_request(b"next", 30, max_frame=4096) == b"CLTR next"   # a new server
    assert names(g.calls) == ["serve", "serve"]


def test_an_ntstatus_exit_names_the_crash_of_clfsctl_itself(g):
    # Windows exit codes are 32-bit (a local process cannot exit 0xC0000005): the status as the
    # channel reports it.
    from harness.guest.serve import ServerExited

    class Died:
        alive = True

        def exchange(self, *args, **kwargs):
            raise ServerExited("ended", 0xC0000005, "")

        def close(self):
            pass
    g._servers[SERVE] = Died()
    with pytest.raises(InfraError, match="NTSTATUS 0xC0000005"):
        g.serve_request(b"x", 30, max_frame=4096)


def test_a_bugcheck_while_the_case_is_in_flight_is_collected_then_reverted(g, tmp_path):
    def crash():
        with open(g.log_path, "a") as fh:
            fh.write(PANIC_D1)
        g.instance.reason = "crashed: panicked"
    threading.Timer(0.3, crash).start()
    evidence = tmp_path / "case"
    with pytest.raises(BugcheckDetected) as info:
        g.serve_request(b"HANG", 30, max_frame=4096, evidence_dir=evidence)
    assert info.value.code == 0xD1 and "DRIVER_IRQL_NOT_LESS_OR_EQUAL" in str(info.value)
    assert names(g.calls) == ["serve", ("screenshot", "crash-1.png"), "revert", ("reconnect", 600.0)]
    assert json.loads((evidence / "crash.json").read_text())["code"] == 0xD1
    g.ssh.up = True
    assert g.serve_request(b"after", 30, max_frame=4096) == b"CLTR after"   # restarted after the revert


def test_a_case_that_never_answers_is_a_hang_with_an_nmi(g, tmp_path):
    g.nmi_timeout = 0.1
    with pytest.raises(GuestHang, match="no answer within 0.5 s"):
        g.serve_request(b"HANG", 0.5, max_frame=4096, evidence_dir=tmp_path / "case")
    assert names(g.calls)[:3] == ["serve", ("screenshot", "hang-1.png"), "nmi"]
    assert "revert" in names(g.calls)
