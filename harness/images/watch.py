"""Follow an unattended install VM from power-on to power-off, by its console markers.

An install shows no sign of life but what its provisioning writes to the serial port
(``harness.images.markers``), so progress *is* a new marker. The watch ends the install:

- successfully when the guest powers off after ``CLFS-HARNESS-DONE``;
- with ``ImageBuildError`` when provisioning reports an error, a marker breaks the protocol,
  the guest powers off early or crashes (a bugcheck: the hyperv panic device), no new
  marker arrives for ``stall_s`` seconds, or the whole install passes ``timeout_s``.

On failure the guest's screen is saved (Windows Setup shows its errors only there) and the
console copied into ``artefacts_dir``; the error names both. The caller closes the instance
(destroying the domain) in every case; the watch never leaves it to do so.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.images import ImageBuildError
from harness.images.markers import ConsoleReport, Marker, MarkerParser
from harness.vm.base import Instance

log = logging.getLogger("harness.images")

SCREENSHOT = "build-failed.png"
CONSOLE_COPY = "build-failed-console.log"


@dataclass(frozen=True)
class Limits:
    """Deadlines of one install, in seconds.

    Attributes:
        timeout_s: power-on to power-off, all of it.
        stall_s: the longest wait for the next marker (the first one counts from power-on).
        heartbeat_s: a progress line this often while nothing happens.
        poll_s: how often the console is read (a power-off is noticed at once regardless).
        nudge_s: how long after power-on ``nudge`` is called (see ``watch_install``).
    """

    timeout_s: float
    stall_s: float
    heartbeat_s: float = 60.0
    poll_s: float = 1.0
    nudge_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.stall_s <= self.timeout_s:
            raise ValueError(f"stall timeout {self.stall_s:g} s must be positive and at most "
                             f"the overall timeout {self.timeout_s:g} s")


# Markers the answer file writes before provisioning starts: they name Setup's phases.
SETUP_PHASES = {"windows-pe": "Windows Setup (WinPE)", "specialize": "Windows Setup (specialize)",
                "first-logon": "Windows Setup (first logon)"}


def clock_text(seconds: float) -> str:
    """``1:02:03`` or ``2:03``: elapsed times as people read them."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class _ConsoleTail:
    """Reads what was appended to the console file since the last call."""

    def __init__(self, path: Path):
        self.path, self.offset = Path(path), 0

    def read(self) -> bytes:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:   # QEMU has not opened it yet
            return b""
        self.offset += len(data)
        return data


def phase_of(report: ConsoleReport) -> str:
    """What the install is doing, from its last marker."""
    if report.done:
        return "shutting down"
    step = report.last_step
    if step is None:
        return "booting the installer"
    return SETUP_PHASES.get(step, f"provisioning: {step}")


def watch_install(instance: Instance, limits: Limits, artefacts_dir: Path, *,
                  say: Callable[[str], None], nudge: Callable[[], None] | None = None,
                  clock: Callable[[], float] = time.monotonic) -> ConsoleReport:
    """Power ``instance`` on and follow its markers until it powers off.

    Args:
        instance: a defined, not yet started install VM.
        limits: the deadlines.
        artefacts_dir: where a failure's screenshot and console copy go (created if needed).
        say: prints a progress line (elapsed time, phase, last marker).
        nudge: called about once a second until the first marker, for at most
            ``limits.nudge_s`` seconds (a UEFI install presses a key with it).
        clock: monotonic seconds (tests pass a fake one).
    Returns:
        The markers' report: every fact, ``done`` True.
    Raises:
        ImageBuildError: see the module docstring; the message names the kept artefacts.
    """
    parser = MarkerParser()
    console = _ConsoleTail(instance.spec.console_log)
    instance.start()
    start = last_marker = last_said = clock()

    def fail(reason: str) -> ImageBuildError:
        kept = _keep_artefacts(instance, Path(artefacts_dir))
        where = f"; kept {', '.join(str(p) for p in kept)}" if kept else ""
        return ImageBuildError(f"{reason} after {clock_text(clock() - start)}{where}", kept)

    while True:
        new = parser.feed(console.read())
        stopped = instance.crashed()
        if stopped is not None:
            new += parser.feed(console.read()) + parser.finish()   # the last lines before power-off
        now = clock()
        for marker in new:
            last_marker = now
            _announce(marker, now - start, say)
        report = parser.report
        if report.problems:
            raise fail(f"the guest broke the console protocol: {report.problems[0]}")
        if report.errors:
            raise fail(f"provisioning failed at {report.errors[0]}")
        if stopped is not None:
            if stopped.startswith("crashed"):
                raise fail(f"the guest crashed ({stopped}) during {phase_of(report)}")
            if not report.done:
                raise fail(f"the guest powered off ({stopped}) before provisioning finished "
                           f"(last marker: {report.last_step or 'none'})")
            say(f"[{clock_text(now - start)}] powered off: install and provisioning complete")
            return report
        if now - start > limits.timeout_s:
            raise fail(f"timed out ({clock_text(limits.timeout_s)}) during {phase_of(report)}")
        if now - last_marker > limits.stall_s:
            raise fail(f"stalled: no progress marker for {clock_text(now - last_marker)} during "
                       f"{phase_of(report)} (--stall-timeout {clock_text(limits.stall_s)})")
        if now - last_said >= limits.heartbeat_s and not new:
            say(f"[{clock_text(now - start)}] {phase_of(report)} "
                f"(last marker {clock_text(now - last_marker)} ago)")
            last_said = now
        elif new:
            last_said = now
        if nudge is not None and not report.steps and now - start <= limits.nudge_s:
            nudge()
        instance.wait_crash(limits.poll_s)   # sleeps, but wakes at once on power-off or crash


def _announce(marker: Marker, elapsed: float, say) -> None:
    if marker.kind == "progress":
        say(f"[{clock_text(elapsed)}] {SETUP_PHASES.get(marker.name, 'provisioning: ' + marker.name)}")
    elif marker.kind == "fact":
        log.info("guest fact %s=%s", marker.name, marker.value)
    elif marker.kind == "done":
        say(f"[{clock_text(elapsed)}] provisioning done; waiting for the guest to power off")


def _keep_artefacts(instance: Instance, into: Path) -> tuple[Path, ...]:
    """Screenshot (while the guest still shows something) and a copy of the console."""
    into.mkdir(parents=True, exist_ok=True)
    kept: list[Path] = []
    shot = None
    if instance.state.started_at is not None:
        shot = instance.screenshot(into / SCREENSHOT)   # None when the guest is already off
    if shot is not None:
        kept.append(shot)
    try:
        shutil.copyfile(instance.spec.console_log, into / CONSOLE_COPY)
        kept.append(into / CONSOLE_COPY)
    except OSError as exc:
        log.warning("console of %s not copied: %s", instance.name, exc)
    return tuple(kept)
