"""The console protocol between a provisioning script in the guest and the image builder.

The guest writes lines to its first serial port; the host reads the console file. Only
lines that *start* with ``CLFS-HARNESS-`` are markers; everything else on the console
(firmware noise, a half-written line, binary garbage) is ignored. Markers themselves are
parsed strictly, because the builder never takes guest output on trust:

.. code-block:: text

    CLFS-HARNESS-PROGRESS <step>          step: [a-z0-9][a-z0-9._-]*, at most 64 characters
    CLFS-HARNESS-FACT <key>=<value>       key: [a-z][a-z0-9_]*; value: printable ASCII, 1-1024
    CLFS-HARNESS-ERROR <step>: <message>  provisioning gave up; the build ends with the message
    CLFS-HARNESS-DONE                     every fact has been sent; the guest powers off next

A malformed marker, an unknown marker, a fact reported twice with different values or a
marker after DONE is a *problem*: the builder stops with it rather than guess. The same
fact reported twice with the same value is accepted (harmless, e.g. a retried step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.images import ImageBuildError

PREFIX = "CLFS-HARNESS-"
MAX_LINE = 4096            # longer "lines" are garbage (a console without newlines), dropped
_STEP = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_VALUE = re.compile(r"[\x20-\x7e]{1,1024}")
_MESSAGE = re.compile(r"[\x20-\x7e]{0,2000}")


@dataclass(frozen=True)
class Marker:
    """One parsed marker line.

    Attributes:
        kind: ``progress``, ``fact``, ``error`` or ``done``.
        name: the step (progress, error) or the fact key; empty for done.
        value: the fact value or the error message; empty otherwise.
        line: the console line number (1-based), for messages.
    """

    kind: str
    name: str = ""
    value: str = ""
    line: int = 0


@dataclass
class ConsoleReport:
    """Everything the markers said so far."""

    steps: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def last_step(self) -> str | None:
        return self.steps[-1] if self.steps else None

    def require(self, keys: tuple[str, ...] | list[str] | set[str]) -> dict[str, str]:
        """The facts named by ``keys``.

        Raises:
            ImageBuildError: one or more are missing; the message names all of them.
        """
        missing = sorted(k for k in keys if k not in self.facts)
        if missing:
            raise ImageBuildError(f"the guest did not report {', '.join(missing)} "
                                  f"(last provisioning step: {self.last_step or 'none'})")
        return {k: self.facts[k] for k in keys}


class MarkerParser:
    """Incremental parser: feed console bytes as they arrive, read ``report``."""

    def __init__(self) -> None:
        self.report = ConsoleReport()
        self._partial = b""
        self._lineno = 0

    def feed(self, data: bytes) -> list[Marker]:
        """Parse the complete lines in ``data`` (plus what was left over); return new markers."""
        buffer = self._partial + data
        lines = buffer.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE:
            self._partial = b""   # no newline for 4 KiB: not a marker line; drop it
        return [m for raw in lines if (m := self._line(raw)) is not None]

    def finish(self) -> list[Marker]:
        """Parse a last line that had no newline (the console ended)."""
        rest, self._partial = self._partial, b""
        marker = self._line(rest) if rest else None
        return [marker] if marker is not None else []

    # ---- one line ---------------------------------------------------------------------------

    def _line(self, raw: bytes) -> Marker | None:
        self._lineno += 1
        # Serial consoles pad with NULs and end lines with CR LF; neither is content.
        raw = raw.strip(b"\x00").rstrip(b"\r")
        if not raw.startswith(PREFIX.encode()):
            return None
        where = f"console line {self._lineno}"
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return self._problem(f"{where}: marker with non-ASCII bytes: {raw[:80]!r}")
        if len(text) > MAX_LINE:
            return self._problem(f"{where}: marker longer than {MAX_LINE} characters")
        kind, _, rest = text[len(PREFIX):].partition(" ")
        if self.report.done:
            return self._problem(f"{where}: marker after CLFS-HARNESS-DONE: {text[:120]!r}")
        if kind == "PROGRESS":
            return self._progress(rest, where)
        if kind == "FACT":
            return self._fact(rest, where)
        if kind == "ERROR":
            return self._error(rest, where)
        if kind == "DONE" and not rest.strip():
            self.report.done = True
            return Marker("done", line=self._lineno)
        return self._problem(f"{where}: unknown or malformed marker {text[:120]!r}")

    def _progress(self, rest: str, where: str) -> Marker | None:
        step = rest.strip()
        if not _STEP.fullmatch(step):
            return self._problem(f"{where}: bad progress step {step[:80]!r}")
        self.report.steps.append(step)
        return Marker("progress", step, line=self._lineno)

    def _fact(self, rest: str, where: str) -> Marker | None:
        key, sep, value = rest.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _KEY.fullmatch(key):
            return self._problem(f"{where}: bad fact {rest[:80]!r} (want key=value)")
        if not _VALUE.fullmatch(value):
            return self._problem(f"{where}: fact {key}: empty, too long or unprintable value")
        known = self.report.facts.get(key)
        if known is not None and known != value:
            return self._problem(f"{where}: fact {key} reported twice with different values "
                                 f"({known[:60]!r}, then {value[:60]!r})")
        self.report.facts[key] = value
        return Marker("fact", key, value, line=self._lineno)

    def _error(self, rest: str, where: str) -> Marker | None:
        step, sep, message = rest.partition(":")
        step, message = step.strip(), message.strip()
        if not sep or not _STEP.fullmatch(step) or not _MESSAGE.fullmatch(message):
            return self._problem(f"{where}: malformed error marker {rest[:120]!r}")
        self.report.errors.append(f"{step}: {message or '(no message)'}")
        return Marker("error", step, message, line=self._lineno)

    def _problem(self, text: str) -> None:
        self.report.problems.append(text)
        return None


def parse_console(data: bytes) -> ConsoleReport:
    """Parse a whole console at once (tests, and the final read after power-off)."""
    parser = MarkerParser()
    parser.feed(data)
    parser.finish()
    return parser.report
