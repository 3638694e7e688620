"""Baselines: what each case observed on one target identity, kept in reviewable files.

Expectations say what the documentation promises; a baseline says what a given build of CLFS
actually did. ``--record-baseline`` writes one JSON file per scenario file and target identity
(``baselines/windows-22621.2861/marshalling/create.json``); later runs on the same identity
compare against it, so a Windows update that changes CLFS behaviour shows up as a diff, even for
steps whose expectation is ``any``.

Only what a step observed is kept: disposition, status, IRQL and outputs. Timings are not. When the
system stopped, the bugcheck code is kept too (``{"steps": [...], "bugcheck": "0xA"}``; a case that did
not stop stays a plain list of steps): which code a stop at DISPATCH_LEVEL raises depends on what CLFS
touched and on Driver Verifier, so a change of code is a change worth seeing. A case with
``expect: durable`` keeps, per durable phase, the LSNs that came back after the restart and those that
did not (``"survived": {"2": {"restart": "power_cut", "survived": [...], "lost": [...]}}``), so a
Windows update that changes what survives a power cut shows as a diff.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.files import write_text_atomic
from harness.scenario import lsn, ops

SUFFIX = ".scenario.yaml"


def baseline_root(option: str, rootpath: Path) -> Path:
    """The ``--baseline-dir`` folder; a relative one is relative to the pytest rootdir."""
    root = Path(option)
    return root if root.is_absolute() else rootpath / root


def baseline_key(identity: dict) -> str:
    """The folder name for a target identity: results are comparable only within one. A Windows
    identity's CLFS log authentication mode (winparse.clfs_authentication_name) is part of it:
    it changes what opening a log does within one build number."""
    target = str(identity.get("target", "unknown"))
    if identity.get("windows_build"):
        key = f"{target}-{identity['windows_build']}.{identity.get('windows_revision', 0)}"
        auth = identity.get("clfs_authentication")
        return f"{key}-clfsauth-{auth}" if auth and auth != "absent" else key
    if identity.get("model"):
        # The model binary's hash changes with the compiler; its rules change with the protocol.
        return f"model-proto{identity.get('protocol_version', 0)}"
    return target


def baseline_path(root: Path, identity: dict, file_id: str) -> Path:
    name = file_id[: -len(SUFFIX)] if file_id.endswith(SUFFIX) else file_id
    return Path(root) / baseline_key(identity) / f"{name}.json"


def observed(record: dict) -> list[dict] | dict:
    """The comparable part of a case record: per step, what was observed; and the bugcheck, if any."""
    steps = [{"index": s["index"], "op": s["op"], "disposition": s["disposition"], "status": s["status_name"],
              "irql": s["irql"], "outputs": _comparable(s["op"], s["outputs"])} for s in record["steps"]]
    stop = record.get("bugcheck")
    survived = {str(p["phase"]): {"restart": p.get("restart"), "survived": p["survived"], "lost": p.get("lost", [])}
                for p in record.get("phases", ()) if "survived" in p}
    if not stop and not survived:
        return steps
    entry: dict = {"steps": steps}
    if stop:
        entry["bugcheck"] = _code_text(stop.get("code"))
    if survived:   # expect: durable: what came back after each restart (a change is worth seeing)
        entry["survived"] = survived
    return entry


# A burst cut at a seed-chosen time (harness/targets/midcut.py): on a VM how far it got, and so how
# many records came back and where they end, depends on the guest's speed, not on CLFS; what a
# change of CLFS would show is a burst record that is not whole (read_burst's ``bad``).
_TIMING_OUTPUTS = {"append_burst": ("bad",), "read_burst": ("bad",)}


def _comparable(op: str, outputs: dict) -> dict:
    keep = _TIMING_OUTPUTS.get(op)
    return dict(sorted((k, v) for k, v in outputs.items() if keep is None or k in keep))


def _code_text(code: int | None) -> str:
    return "reported no code" if code is None else f"0x{code:X}"


def _parts(entry: list[dict] | dict) -> tuple[list[dict], str | None]:
    """(steps, bugcheck) of a baseline entry in either form."""
    if isinstance(entry, dict):
        return entry.get("steps", []), entry.get("bugcheck")
    return entry, None


def load(path: Path) -> dict:
    """The cases of one baseline file ({} when there is none)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["cases"]
    except FileNotFoundError:
        return {}


def load_identity(path: Path) -> dict:
    """The target identity a baseline file was recorded on ({} for files older than that field)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("identity", {})
    except FileNotFoundError:
        return {}


def compare(baseline: list[dict] | dict, now: list[dict] | dict) -> list[str]:
    """One line per difference between a recorded case and this run: the bugcheck first, then steps."""
    lines = []
    survived_before = baseline.get("survived", {}) if isinstance(baseline, dict) else {}
    survived_after = now.get("survived", {}) if isinstance(now, dict) else {}
    baseline, stop_before = _parts(baseline)
    now, stop_after = _parts(now)
    if stop_before != stop_after:
        lines.append(f"bugcheck {stop_before or 'none'} -> {stop_after or 'none'}")
    for phase in sorted(set(survived_before) | set(survived_after), key=int):
        a, b = survived_before.get(phase, {}), survived_after.get(phase, {})
        for what in ("survived", "lost"):
            if a.get(what) != b.get(what):
                lines.append(f"phase {phase} after {b.get('restart') or a.get('restart')}: {what} "
                             f"{', '.join(a.get(what) or ['none'])} -> {', '.join(b.get(what) or ['none'])}")
    before = {s["index"]: s for s in baseline}
    after = {s["index"]: s for s in now}
    for index in sorted(set(before) | set(after)):
        old, new = before.get(index), after.get(index)
        if old is None or new is None:
            lines.append(f"step {index}: {'new step' if old is None else 'step no longer present'}")
            continue
        for field in ("op", "disposition", "status", "irql"):
            if old[field] != new[field]:
                lines.append(f"step {index} {new['op']}: {field} {old[field]} -> {new[field]}")
        for name in sorted(set(old["outputs"]) | set(new["outputs"])):
            a, b = old["outputs"].get(name), new["outputs"].get(name)
            if a != b:
                lines.append(f"step {index} {new['op']}: output {name} {_show(name, a)} -> {_show(name, b)}")
    return lines


def _show(output: str, value) -> str:
    """An LSN decomposed (container, block, record), anything else as it is."""
    if isinstance(value, int) and ops.output_kind(output) == ops.OUTPUT_LSN:
        return lsn.describe(value)
    return str(value)


def record(records: list[dict], root: Path) -> list[Path]:
    """Merge the observed results of ``records`` into the baseline files; returns the files written.

    Cases not in ``records`` keep their recorded results, so recording a subset (``-k``, a shard)
    never loses the rest.
    """
    by_file: dict[Path, dict] = {}
    identities: dict[Path, dict] = {}
    for rec in records:
        if not (rec.get("steps") or rec.get("bugcheck")) or "identity" not in rec:
            continue  # skipped or broken before a result: nothing observed
        file_id = rec["id"].split("::", 1)[0]
        path = baseline_path(root, rec["identity"], file_id)
        cases = by_file.setdefault(path, load(path))
        cases[rec["id"]] = observed(rec)
        identities[path] = rec["identity"]
    for path, cases in by_file.items():
        # The identity (build, CLFS authentication, hashes) goes along: compare shows it per column.
        document = {"identity": identities[path], "cases": dict(sorted(cases.items()))}
        write_text_atomic(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
    return sorted(by_file)
