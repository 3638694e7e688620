"""The error hierarchy: who broke, the user's YAML, the lab, or the driver under test.

Keeping these apart is what lets a CI run say "CLFS misbehaved" only when it did
(syzkaller separates BootError from InfraError for the same reason).
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """The command line or the lab configuration is wrong; exit code 2."""


class ScenarioError(HarnessError):
    """One or more problems in the user's scenario files.

    Attributes:
        problems: the messages, each already formatted as ``file:line:col: ...``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BuildError(HarnessError):
    """Building or signing the driver failed; carries the tool's output tail."""

    def __init__(self, message: str, output: str = ""):
        self.output = output
        super().__init__(message)


class InfraError(HarnessError):
    """The lab broke (libvirt, QEMU, SSH, disk): retried, never reported as a CLFS failure."""


class BootError(InfraError):
    """A guest did not come up; carries the tail of its serial console."""

    def __init__(self, message: str, console_tail: str = ""):
        self.console_tail = console_tail
        super().__init__(message)


class GuestCommandError(HarnessError):
    """A command in the guest ran and exited non-zero."""

    def __init__(self, command: str, exit_code: int, stdout: str, stderr: str):
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"guest command exited {exit_code}: {command}\n{stderr.strip()[-2000:]}")


class GuestTimeout(HarnessError):
    """A guest command or wait passed its deadline (a HANG when it is the test's own step)."""


class BugcheckDetected(HarnessError):
    """The guest crashed. ``code`` and ``parameters`` come from the dump header when one was read."""

    def __init__(self, message: str, code: int | None = None,
                 parameters: tuple[int, int, int, int] | None = None, dump_path: str | None = None):
        self.code = code
        self.parameters = parameters
        self.dump_path = dump_path
        super().__init__(message)


class ProtocolError(HarnessError):
    """Bytes from the driver or the model did not decode: never trusted, never guessed at."""
