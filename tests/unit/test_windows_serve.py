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

import pytest

from harness.errors import BugcheckDetected, InfraError, ProtocolError
from harness.guest import wincmd
from harness.guest.wincrash import GuestHang

from channel_fakes import ProcessSsh
from guest_fakes import FakeSsh
from test_windows_guest import PANIC_D1
from test_windows_guest import g as windows_guest   # noqa: F401 (a fixture)

SERVE = wincmd.clfsctl_serve_command()
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
def g(windows_guest):
    """test_windows_guest's guest on fakes, whose SSH transport also starts the stand-in."""
    windows_guest.ssh = _Ssh(windows_guest.calls)
    yield windows_guest
    windows_guest.ssh.close_all()


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
