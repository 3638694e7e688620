"""Fakes of the VM instance and the SSH transport, for the guest adapters' orchestration.

They record every call in one shared list, so tests can assert the order of events (hang ->
NMI -> dump -> revert). They never stand in for Windows: each answer a test scripts is a
literal sample of what the real tool prints, and nothing here decides an outcome.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from harness.errors import GuestTimeout, InfraError
from harness.guest.ssh import ExecResult


class FakeInstance:
    def __init__(self, calls: list, name: str = "clfs-test-w0"):
        self.calls = calls
        self.name = name
        self.reason: str | None = None
        self.nmi_crash: str | None = None      # crash reason an NMI produces, None: no reaction
        self.on_nmi = None                     # called when an NMI is injected
        self.state = SimpleNamespace(events=[], snapshot="ready")

    def crashed(self):
        return self.reason

    def wait_crash(self, timeout):
        self.calls.append(("wait_crash", timeout))
        return self.reason

    def screenshot(self, path: Path):
        self.calls.append(("screenshot", Path(path).name))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")
        return Path(path)

    def revert(self):
        self.calls.append(("revert",))
        self.reason = None

    def inject_nmi(self):
        self.calls.append(("nmi",))
        if self.on_nmi:
            self.on_nmi()
        if self.nmi_crash:
            self.reason = self.nmi_crash

    def console_tail(self, limit=4000):
        return ""

    def forward(self, port):
        return 40022

    def close(self):
        self.calls.append(("close",))


class FakeSsh:
    """Scripted answers: ``script`` is a list of (regex, answer); the first regex that matches
    the command decides. An answer is an ExecResult-like tuple (exit, stdout, stderr), an
    exception to raise, or a callable(command) returning either."""

    def __init__(self, calls: list, script=None, files: dict | None = None):
        self.calls = calls
        self.script = list(script or [])
        self.files = dict(files or {})          # remote path -> bytes, for get()
        self.put_files: dict[str, bytes] = {}
        self.connected = True
        self.reconnect_error: Exception | None = None

    def exec(self, command, timeout, *, abort=None, check=False, stdin=None):
        self.calls.append(("exec", command))
        for pattern, answer in self.script:
            if re.search(pattern, command):
                if callable(answer) and not isinstance(answer, type):
                    answer = answer(command)
                if isinstance(answer, BaseException):
                    raise answer
                code, out, err = answer
                result = ExecResult(command, code, out, err, 0.01)
                return result.check() if check else result
        raise AssertionError(f"unscripted guest command: {command}")

    def reconnect(self, deadline_s=30.0, abort=None):
        self.calls.append(("reconnect", deadline_s))
        if self.reconnect_error is not None:
            error, self.reconnect_error = self.reconnect_error, None
            raise error
        return 0.1

    def put(self, local, remote):
        self.calls.append(("put", remote))
        self.put_files[remote] = Path(local).read_bytes()

    def get(self, remote, local):
        self.calls.append(("get", remote))
        if remote not in self.files:
            raise InfraError(f"sftp get {remote}: no such file")
        Path(local).write_bytes(self.files[remote])

    def read_head(self, remote, size):
        self.calls.append(("read_head", remote, size))
        return self.files[remote][:size]

    def close(self):
        self.calls.append(("ssh_close",))


def timeout_error(command="x"):
    return GuestTimeout(f"guest command timed out after 1 s: {command}")
