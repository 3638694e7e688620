"""The durability verdict (``expect: durable`` on a restart): what CLFS said was stable is still there.

The promise, from the reference pages (../shared/reference/clfs/):

- ClfsFlushToLsn "forces, to stable storage, all records that have an LSN less than or equal to a
  specified LSN"; *plsnLastFlushed is "the LSN of the record immediately following the last record
  flushed", so every record below it is stable too (ClfsFlushToLsn.md). CLFS_LSN_NULL flushes all.
- ClfsFlushBuffers "forces all log I/O blocks in a specified marshalling area to stable storage"
  (ClfsFlushBuffers.md); so does deleting the area: "Before deleting the marshalling area,
  ClfsDeleteMarshallingArea flushes all of the log I/O blocks" (ClfsDeleteMarshallingArea.md).
- CLFS_FLAG_FORCE_FLUSH on ClfsReserveAndAppendLog forces the record's block, with the records
  before it, to stable storage (ClfsReserveAndAppendLog.md, fFlags); CLFS_FLAG_FORCE_APPEND only
  queues it ("This flag provides no guarantee that the record is forced to stable storage").
- ClfsWriteRestartArea "flushes the restart record to stable storage" and "causes a flush of all
  records currently in the marshalling area along with a flush of stream and log metadata"
  (ClfsWriteRestartArea.md).
- Records below a base LSN set before the cut (ClfsAdvanceLogBase, or plsnBase of a restart write)
  may be gone: they are no longer part of the active log (concepts/clfs-log-sequence-numbers.md);
  ClfsAdvanceLogBase alone "does not necessarily flush any data to stable storage".

Only the scenario's own calls count: the flush the driver's end-of-request cleanup makes when it
deletes what is still open is not a promise the scenario can lean on (on the model the cut comes
before that cleanup; on a VM after it, so a VM may keep more: allowed).

The rule, for the phase a ``restart: {expect: durable}`` starts: every record appended before the
cut that a flush made stable (and not below such a base) reads back in that phase, byte-exact;
any other record appended before the cut may be missing, and reads back byte-exact if it comes
back; a record no phase appended is garbage. Bytes are compared by size, CRC-32 and first 8 bytes
(``payload_crc``, ``payload_head`` of the read ops) against the payload the append wrote
(``payload_seed``/``record_index``, or the step's explicit payload). How a phase covers the
records: its own read steps — ``read_log_record`` at a saved LSN, then ``read_next_log_record``
forward, and ``read_restart_area`` / ``read_previous_restart_area`` for restart records. A
promised record no read returned is a FAIL that says whether a read of it failed, or no step read it.

A burst cut while it ran (``restart: {how: power_cut, during: append_burst}``, harness/targets/
midcut.py): its answer is lost with the power, so it promises nothing, and any of its records may
be gone; those that come back must be a prefix of the burst in LSN order, each byte-exact.
``read_burst`` compares each in the guest with the burst's record j (seeded payload of index
CT_BURST_INDEX + j, known without the answer) and reports the first that is not: a FAIL naming
its LSN, the phase and the bytes. When the number of records the burst appended is known after
all, its forced records are promised too: every record up to the last one appended with
CLFS_FLAG_FORCE_FLUSH (each ``flush_every``-th). It is known from the burst's answer (the model,
which simulates the cut and answers; or an answer that beat the cut), or from a simulated cut that
counted them (wine: the stand-in's model fails the power after a seed-chosen record and says after
how many, ``appended_before_cut``, although the killed session's answer is lost). A real cut of a
VM counts nothing: there only the answer tells.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass, field

from harness.protocol import ntstatus
from harness.protocol.ntstatus import nt_success
from harness.protocol.results import RAN, CaseResult, StepResult
from harness.scenario import lsn as lsnmod
from harness.scenario.model import Case, SavedRef, Step

_M64 = (1 << 64) - 1
APPEND_OPS = ("reserve_and_append", "reserve_and_append_aligned")
READ_OPS = ("read_log_record", "read_next_log_record", "read_restart_area", "read_previous_restart_area")


def pattern_bytes(seed: int, index: int, n: int) -> bytes:
    """The seeded payload of a record: the bytes driver_src/common/ct_interp.h ct_pattern_byte makes."""
    words = []
    high = ((seed << 32) ^ ((index * 0x9E3779B97F4A7C15) & _M64)) & _M64
    for word in range((n + 7) // 8):
        x = high ^ word
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & _M64
        words.append(x ^ (x >> 29))
    return struct.pack(f"<{len(words)}Q", *words)[:n]


def appended_bytes(step: Step, outputs: dict) -> bytes:
    """What an append or restart write put in its record, from its arguments and outputs."""
    from harness.protocol.encode import payload_bytes
    if step.args.get("payload"):
        return payload_bytes(step, step.args["payload"])
    seed, index = outputs.get("payload_seed", 0), outputs.get("record_index", 0)
    if step.op == "write_restart_area":
        return pattern_bytes(seed, index, int(step.args.get("size", 64)))
    sizes = [int(s) for s in step.args.get("records", ())]
    data = pattern_bytes(seed, index, sum(sizes))
    align = int(step.args.get("alignment", 1) or 1)
    if step.op != "reserve_and_append_aligned" or align <= 1:
        return data
    out, pos, taken = bytearray(), 0, 0      # entries at multiples of align, zeros between
    for size in sizes:
        if pos % align:
            out += bytes(align - pos % align)
            pos += align - pos % align
        out += data[taken:taken + size]
        taken += size
        pos += size
    return bytes(out)


@dataclass
class Record:
    """A record some phase appended: where, what, and whether a flush promised it."""
    stream: str
    lsn: int
    kind: str               # "data" or "restart"
    phase: int
    step: int
    promised: bool = False
    # The append step and its outputs: the record's bytes are made from them when a read back or a
    # message first needs them (most records of a case are never read in a later phase).
    source: tuple = field(default=(), repr=False)

    @functools.cached_property
    def data(self) -> bytes:
        return appended_bytes(*self.source)

    def describe(self) -> str:
        return (f"{self.kind} record at {lsnmod.describe(self.lsn)} on {self.stream} "
                f"(phase {self.phase}, step {self.step}, {len(self.data)} bytes)")


@dataclass
class Finding:
    """One broken promise: a FAIL line, at a step when one returned or should have returned it."""
    phase: int
    step: int | None
    lsn: int
    text: str


@dataclass
class PhaseReport:
    """What the durable phase saw: the records that survived, and what was lost without a promise."""
    phase: int
    restart: str
    survived: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    promised: list[int] = field(default_factory=list)
    # A burst cut while it ran: {"appended": records its answer says it appended (None: the answer
    # was lost), "came_back": records read_burst read back whole, "promised": forced ones of those
    # appended, "bad": 0 or read_burst's finding}.
    burst: dict | None = None


@dataclass
class DurableVerdict:
    findings: list[Finding]
    phases: list[PhaseReport]

    def survived_summary(self) -> dict:
        """For baselines: per durable phase, the LSNs that came back and those that did not."""
        return {str(p.phase): {"restart": p.restart, "survived": [f"0x{x:016X}" for x in p.survived],
                               "lost": [f"0x{x:016X}" for x in p.lost],
                               "promised": [f"0x{x:016X}" for x in p.promised],
                               **({"burst": dict(p.burst)} if p.burst is not None else {})} for p in self.phases}


class _Streams:
    """Object names of one phase -> the stream (the log's path) they act on."""

    def __init__(self):
        self.logs: dict[str, str] = {}
        self.areas: dict[str, str] = {}
        self.reads: dict[str, str] = {}

    def of(self, step: Step) -> str | None:
        a = step.args
        if step.op == "create_log":
            self.logs[a["name"]] = str(a.get("path") or a["name"])
        elif step.op in ("create_marshalling_area", "create_marshalling_area_ex"):
            self.areas[a["name"]] = self.logs.get(a["log"], a["log"])
        elif step.op in ("read_log_record", "read_restart_area"):
            self.reads[a["name"]] = self.areas.get(a["area"], a["area"])
            return self.reads[a["name"]]
        if "area" in a:
            return self.areas.get(a["area"])
        if "read" in a:
            return self.reads.get(a["read"])
        if "log" in a:
            return self.logs.get(a["log"])
        return None


def _value(arg, saved: dict[str, int]) -> int | None:
    if isinstance(arg, SavedRef):
        return saved.get(arg.name)
    return int(arg) if arg is not None else None


def judge_durable(case: Case, result: CaseResult) -> DurableVerdict:
    """Apply the durability rule to every phase a ``restart: {expect: durable}`` starts."""
    results = {r.index: r for r in result.steps}
    restarts = {r.phase: r for r in case.restarts}
    known: dict[tuple[str, int], Record] = {}
    base: dict[str, int] = {}
    saved: dict[str, int] = {}
    findings: list[Finding] = []
    reports: list[PhaseReport] = []
    bursts: dict[str, tuple[Step, int | None]] = {}   # stream -> its last append_burst, records appended
    counted = _counted_by_cut(result)
    for number in range(1, case.phase_count + 1):
        steps = [s for s in case.steps if s.phase == number]
        restart = restarts.get(number)
        judged = restart is not None and restart.durable
        streams = _Streams()
        seen: dict[tuple[str, int], int] = {}          # record -> the step that read it back
        failed_reads: dict[tuple[str, int], str] = {}  # record -> why the read of it failed
        walked_to_end: set[str] = set()
        appended_here: set[tuple[str, int]] = set()
        # What was promised when the power failed: a flush in this phase says nothing about a
        # record of before the cut that may not have survived it.
        promised_at_cut = {key for key, rec in known.items() if rec.promised}
        first_failure = ""      # the first step of the phase that failed: why later reads never ran
        burst_seen = None       # what read_burst saw of a burst in this phase
        for step in steps:
            r = results.get(step.index)
            stream = streams.of(step)
            ran = r is not None and r.disposition == RAN
            ok = ran and nt_success(r.status)
            if step.op == "append_burst" and stream is not None:
                bursts[stream] = (step, r.outputs.get("records") if ran else counted.get(number))
            if ok:
                for name, output in step.save.items():
                    if output in r.outputs:
                        saved[name] = r.outputs[output]
            elif ran and not first_failure:
                first_failure = f"step {step.index} ({step.op}) failed with {ntstatus.status_name(r.status)}"
            if judged and not ran and step.op == "read_log_record" and stream is not None:
                target = _value(step.args.get("lsn"), saved)
                if target is not None:
                    failed_reads[(stream, target)] = (f"step {step.index}, which reads it, did not run"
                                                      + (f" ({first_failure})" if first_failure else ""))
            if stream is None or not ran:
                continue
            if ok:
                _note_write(step, r, stream, number, known, base, saved, appended_here)
            if judged and step.op in READ_OPS:
                _judge_read(step, r, stream, number, known, appended_here, seen, failed_reads,
                            walked_to_end, findings, saved)
            if judged and step.op == "read_burst" and ok:
                burst_seen = _judge_burst(step, r, number, bursts.get(stream), findings)
        if judged:
            reports.append(_cover(number, restart.how, known, base, seen, failed_reads, walked_to_end,
                                  findings, appended_here, promised_at_cut, first_failure))
            reports[-1].burst = burst_seen
    return DurableVerdict(findings, reports)


def _counted_by_cut(result: CaseResult) -> dict[int, int]:
    """Phase -> burst records appended before the power failed, where a simulated cut counted them."""
    counted = {}
    for p in result.phases:
        cut = p.get("cut") or {}
        if cut.get("simulated") and cut.get("appended_before_cut") is not None:
            counted[p["phase"]] = int(cut["appended_before_cut"])
    return counted


def _judge_burst(step, r, number, burst, findings) -> dict:
    """read_burst's outputs against the burst: a torn or foreign record is a FAIL; so is a forced
    record gone, or more records than were appended, when the burst's answer is known."""
    out = r.outputs
    came, bad = out.get("records", 0), out.get("bad", 0)
    appended = flush_every = None
    if burst is not None:
        flush_every = int(burst[0].args.get("flush_every", 0) or 0)
        appended = burst[1]
    promised = (appended // flush_every) * flush_every if appended is not None and flush_every else 0
    if bad:
        j, at = out.get("bad_index", 0), out.get("bad_lsn", 0)
        what = (f"{out.get('observed')} bytes where record #{j} has {out.get('expected')}" if bad == 1 else
                f"byte {out.get('bad_offset')} is 0x{out.get('observed', 0):02X}, expected "
                f"0x{out.get('expected', 0):02X}")
        findings.append(Finding(number, step.index, at,
                                f"phase {number} step {step.index}: torn or corrupt burst record #{j} at "
                                f"{lsnmod.describe(at)}: {what} (the burst's seeded payload, index "
                                f"CT_BURST_INDEX + {j}); {j} record(s) before it came back whole"))
    elif appended is not None and came > appended:
        findings.append(Finding(number, step.index, out.get("last_lsn", 0),
                                f"phase {number} step {step.index}: {came} burst records read back, but the "
                                f"burst appended {appended}: garbage after its last record"))
    if came < promised and not bad:
        findings.append(Finding(number, step.index, out.get("last_lsn", 0),
                                f"phase {number}: forced burst record #{came} is gone: the burst appended "
                                f"{appended} with CLFS_FLAG_FORCE_FLUSH every {flush_every}, so records #0 to "
                                f"#{promised - 1} were stable, and {came} came back (the read ended with "
                                f"{ntstatus.status_name(out.get('end_status', 0))})"))
    return {"appended": appended, "came_back": came, "promised": promised, "bad": bad}


def _note_write(step, r, stream, number, known, base, saved, appended_here) -> None:
    """An append, a flush or a base move that succeeded: what is on the log, and what is promised."""
    flags = step.args.get("flags") or ()
    if step.op in APPEND_OPS + ("write_restart_area",) and "lsn" in r.outputs:
        rec = Record(stream, r.outputs["lsn"], "restart" if step.op == "write_restart_area" else "data",
                     number, step.index, source=(step, r.outputs))
        known[(stream, rec.lsn)] = rec
        appended_here.add((stream, rec.lsn))
        if step.op == "write_restart_area" or "force_flush" in flags:
            _promise(known, stream, rec.lsn, inclusive=True)
        if step.op == "write_restart_area" and step.args.get("base_lsn") is not None:
            value = _value(step.args["base_lsn"], saved)
            if value is not None:
                base[stream] = max(base.get(stream, 0), value)
    elif step.op == "flush_to_lsn":
        target = _value(step.args.get("lsn"), saved)
        last = r.outputs.get("last_flushed_lsn")
        if target == 0 or target is None:
            _promise(known, stream, None, inclusive=True)
        else:
            _promise(known, stream, target, inclusive=True)
        if last is not None:
            _promise(known, stream, last, inclusive=False)
    elif step.op in ("flush_buffers", "delete_marshalling_area"):
        _promise(known, stream, None, inclusive=True)
    elif step.op == "advance_log_base":
        value = _value(step.args.get("lsn"), saved)
        if value is not None:
            base[stream] = max(base.get(stream, 0), value)


def _promise(known: dict, stream: str, upto: int | None, *, inclusive: bool) -> None:
    for (s, at), rec in known.items():
        if s != stream:
            continue
        if upto is None or lsnmod.compare(at, upto) < 0 or (inclusive and at == upto):
            rec.promised = True


def _show_bytes(data: bytes) -> str:
    return data[:8].hex(" ") + (" …" if len(data) > 8 else "")


def _judge_read(step, r, stream, number, known, appended_here, seen, failed_reads, walked_to_end,
                findings, saved) -> None:
    if not nt_success(r.status):
        if step.op == "read_log_record":
            target = _value(step.args.get("lsn"), saved)
            if target is not None:
                failed_reads[(stream, target)] = f"step {step.index} read it: {ntstatus.status_name(r.status)}"
        elif step.op == "read_next_log_record" and ntstatus.status_name(r.status) == "STATUS_END_OF_FILE":
            walked_to_end.add(stream)
        elif step.op == "read_restart_area":
            # The newest restart record is what it reads: every restart record is behind it.
            for (s, at), rec in known.items():
                if s == stream and rec.kind == "restart":
                    failed_reads.setdefault((s, at), f"step {step.index} (read_restart_area) failed: "
                                                     f"{ntstatus.status_name(r.status)}")
        return
    at = r.outputs.get("lsn")
    if at is None:
        return
    key = (stream, at)
    if key in appended_here:
        return      # written in this very phase: the request's own payload check judged it
    rec = known.get(key)
    size, crc, head = r.outputs.get("size"), r.outputs.get("payload_crc"), r.outputs.get("payload_head")
    observed = (f"observed {size} bytes, CRC-32 0x{crc or 0:08X}, first bytes "
                f"{(head or 0).to_bytes(8, 'little')[:min(8, size or 0)].hex(' ')}")
    if rec is None:
        findings.append(Finding(number, step.index, at,
                                f"phase {number} step {step.index}: garbage: a record at {lsnmod.describe(at)} that "
                                f"no phase appended ({observed})"))
        return
    want_crc = zlib.crc32(rec.data)
    if size != len(rec.data) or crc != want_crc or head != int.from_bytes(rec.data[:8].ljust(8, b"\0"), "little"):
        state = "flushed" if rec.promised else "unflushed"
        findings.append(Finding(number, step.index, at,
                                f"phase {number} step {step.index}: torn or corrupt {state} {rec.describe()}: "
                                f"expected {len(rec.data)} bytes, CRC-32 0x{want_crc:08X}, first bytes "
                                f"{_show_bytes(rec.data)}; {observed}"))
    seen[key] = step.index


def _cover(number, how, known, base, seen, failed_reads, walked_to_end, findings, appended_here,
           promised_at_cut, first_failure="") -> PhaseReport:
    """Every record promised before the cut must have been read back in this phase."""
    report = PhaseReport(number, how)
    for key, rec in sorted(known.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if key in appended_here:
            continue
        stream, at = key
        if key in seen:
            report.survived.append(at)
            if key in promised_at_cut:
                report.promised.append(at)
            continue
        below = stream in base and lsnmod.compare(at, base[stream]) < 0
        if key not in promised_at_cut or below:
            report.lost.append(at)
            continue
        report.promised.append(at)
        if key in failed_reads:
            why = failed_reads[key]
        elif stream in walked_to_end:
            why = "the forward read reached the end of the log without it"
        else:
            why = (f"no step of phase {number} read it back ({first_failure})" if first_failure else
                   f"no step of phase {number} read it back (the durable phase must read every flushed record)")
        findings.append(Finding(number, None, at, f"phase {number}: flushed {rec.describe()} is gone: {why}; "
                                                  f"expected bytes {_show_bytes(rec.data)}"))
    # Read back, a record is on the disk now (a later cut keeps it); what did not come back is no
    # longer on the log, and a later phase may append at its LSN again.
    for key, rec in list(known.items()):
        if key in appended_here:
            continue
        if key in seen:
            rec.promised = True
        else:
            known.pop(key)
    return report
