"""CLFS across builds: the baselines of several target identities side by side.

``clfs-harness compare baselines/windows-19045.5737 baselines/windows-26100.4061-clfsauth-enforcing``
reads each folder (one target identity, as ``--record-baseline`` writes it) and builds a matrix
of cases by identity: in each row, identities that observed the same (status, IRQL and outputs
of every step) share a letter. Every step that differs between identities is then listed with
what each identity observed, side by side. Rendered as text, Markdown and HTML.
"""

from __future__ import annotations

import html
import json
import string
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.verdict.judge import IRQL_NAMES

IDENTITY_FACTS = ("windows_build", "windows_revision", "display_version", "clfs_authentication",
                  "protocol_version", "model", "image", "accel")


@dataclass
class Column:
    label: str          # the folder name: the identity's baseline key
    identity: dict      # as recorded in the baseline files (may be {} for old files)
    cases: dict         # case ID -> list of observed steps

    def facts(self) -> str:
        shown = [f"{k}={self.identity[k]}" for k in IDENTITY_FACTS
                 if self.identity.get(k) not in (None, "") and k != "model"]
        if self.identity.get("model"):
            shown.insert(0, "documented-rules model, not Windows")
        return ", ".join(shown) or "identity not recorded"


@dataclass
class StepDiff:
    index: int
    op: str
    seen: list[str]     # per column: "STATUS_X, PASSIVE_LEVEL, a=1" or "absent"


@dataclass
class Comparison:
    columns: list[Column]
    rows: dict = field(default_factory=dict)      # case ID -> per column group letter ("-" absent)
    diffs: dict = field(default_factory=dict)     # case ID -> [StepDiff]

    @property
    def differing(self) -> list[str]:
        return [case for case in self.rows if case in self.diffs]


def load_column(folder: Path) -> Column:
    """One identity's baseline folder: every ``*.json`` under it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"compare: {folder} is not a baseline folder (baselines/<target identity>/)")
    cases: dict = {}
    identity: dict = {}
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise UsageError(f"compare: {folder} holds no baseline files (*.json); record with --record-baseline")
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            cases.update(document["cases"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"compare: {path}: not a baseline file ({exc})") from None
        identity = identity or document.get("identity", {})
    return Column(folder.name, identity, cases)


def describe(step: dict | None) -> str:
    if step is None:
        return "absent"
    irql = IRQL_NAMES.get(step["irql"], str(step["irql"])) if step.get("irql") is not None else "-"
    status = step["status"] if step["disposition"] == "ran" else step["disposition"].replace("_", " ")
    outputs = ", ".join(f"{k}={v}" for k, v in sorted(step["outputs"].items()))
    return ", ".join(filter(None, [status, irql, outputs]))


def compare(columns: list[Column]) -> Comparison:
    if len(columns) < 2:
        raise UsageError("compare: give two or more baseline folders (one per target identity)")
    result = Comparison(columns)
    for case in sorted(set().union(*(c.cases for c in columns))):
        observed = [c.cases.get(case) for c in columns]
        letters, groups = [], []
        for seen in observed:
            if seen is None:
                letters.append("-")
                continue
            if seen not in groups:
                groups.append(seen)
            letters.append(string.ascii_uppercase[groups.index(seen) % 26])
        result.rows[case] = letters
        if len(groups) > 1:
            result.diffs[case] = _step_diffs(observed)
    return result


def _step_diffs(observed: list[list | dict | None]) -> list[StepDiff]:
    # An entry is a list of steps, or a dict with them under "steps" (a bugcheck, what survived).
    observed = [o.get("steps", []) if isinstance(o, dict) else o for o in observed]
    by_index = [{s["index"]: s for s in steps} if steps is not None else None for steps in observed]
    indexes = sorted(set().union(*(m.keys() for m in by_index if m is not None)))
    diffs = []
    for index in indexes:
        steps = [m.get(index) if m is not None else None for m in by_index]
        present = [m is not None for m in by_index]
        seen = [describe(s) if ok else "case absent" for s, ok in zip(steps, present)]
        if len({s for s, ok in zip(seen, present) if ok}) > 1:
            op = next(s["op"] for s in steps if s is not None)
            diffs.append(StepDiff(index, op, seen))
    return diffs


def render_text(cmp: Comparison) -> str:
    cols = cmp.columns
    lines = [f"CLFS across {len(cols)} target identities: {len(cmp.rows)} cases, {len(cmp.differing)} differ", ""]
    for n, c in enumerate(cols):
        lines.append(f"  [{n + 1}] {c.label}: {c.facts()}")
    width = max([len(case) for case in cmp.rows] + [4])
    lines += ["", "Matrix (same letter in a row: same status, IRQL and outputs at every step; - absent):",
              f"  {'case':<{width}}  " + "  ".join(f"[{n + 1}]" for n in range(len(cols)))]
    for case, letters in cmp.rows.items():
        mark = "  <- differs" if case in cmp.diffs else ""
        lines.append(f"  {case:<{width}}  " + "  ".join(f" {x} " for x in letters) + mark)
    if cmp.diffs:
        lines += ["", "Steps that differ:"]
        for case in cmp.differing:
            lines.append(f"  {case}")
            for d in cmp.diffs[case]:
                lines.append(f"    step {d.index} {d.op}")
                for n, seen in enumerate(d.seen):
                    lines.append(f"      [{n + 1}] {cols[n].label:<28} {seen}")
    return "\n".join(lines) + "\n"


def render_markdown(cmp: Comparison) -> str:
    cols = cmp.columns
    esc = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = [f"## CLFS across {len(cols)} target identities: {len(cmp.rows)} cases, {len(cmp.differing)} differ", ""]
    lines += ["| | identity | facts |", "|---|---|---|"]
    lines += [f"| [{n + 1}] | `{c.label}` | {esc(c.facts())} |" for n, c in enumerate(cols)]
    lines += ["", "| case | " + " | ".join(f"[{n + 1}]" for n in range(len(cols))) + " |",
              "|---|" + "---|" * len(cols)]
    for case, letters in cmp.rows.items():
        shown = f"**`{case}`**" if case in cmp.diffs else f"`{case}`"
        lines.append(f"| {shown} | " + " | ".join(letters) + " |")
    if cmp.diffs:
        lines += ["", "### Steps that differ", "",
                  "| case | step | " + " | ".join(f"`{c.label}`" for c in cols) + " |",
                  "|---|---|" + "---|" * len(cols)]
        for case in cmp.differing:
            for d in cmp.diffs[case]:
                lines.append(f"| `{case}` | {d.index} {d.op} | " + " | ".join(esc(s) for s in d.seen) + " |")
    return "\n".join(lines) + "\n"


def render_html(cmp: Comparison) -> str:
    e, cols = html.escape, cmp.columns
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    out = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
           f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
           "<title>clfs-harness compare</title><style>body{font:14px system-ui,sans-serif;margin:1.5em}"
           "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.2em .5em;"
           "text-align:left}th{background:#f6f8fa}tr.differs td{background:#fff8c5}</style></head><body>",
           f"<h1>CLFS across {len(cols)} target identities: {len(cmp.rows)} cases, "
           f"{len(cmp.differing)} differ</h1>", '<table id="identities">']
    out += [f"<tr><th>[{n + 1}]</th><td><code>{e(c.label)}</code></td><td>{e(c.facts())}</td></tr>"
            for n, c in enumerate(cols)]
    out += ['</table><table id="matrix"><tr><th>case</th>'
            + "".join(f"<th>[{n + 1}] {e(c.label)}</th>" for n, c in enumerate(cols)) + "</tr>"]
    for case, letters in cmp.rows.items():
        cls = ' class="differs"' if case in cmp.diffs else ""
        out.append(f"<tr{cls}><td><code>{e(case)}</code></td>" + "".join(f"<td>{x}</td>" for x in letters) + "</tr>")
    out.append("</table>")
    if cmp.diffs:
        out.append('<h2>Steps that differ</h2><table id="steps"><tr><th>case</th><th>step</th>'
                   + "".join(f"<th>{e(c.label)}</th>" for c in cols) + "</tr>")
        for case in cmp.differing:
            for d in cmp.diffs[case]:
                out.append(f"<tr><td><code>{e(case)}</code></td><td>{d.index} {e(d.op)}</td>"
                           + "".join(f"<td>{e(s)}</td>" for s in d.seen) + "</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
