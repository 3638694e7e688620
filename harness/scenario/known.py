"""The ``known_issues`` field of a scenario (also the lab file's list keyed by case ID).

    known_issues:
      - link: https://tracker.example/clfs/42          # where the issue is described
        applies_to: [26100, "windows-26100.*"]          # Windows builds, target identities; default: all
        differs:                                        # the checks it makes fail, as the diff names them
          - {step: 2, what: status, observed: STATUS_ACCESS_DENIED}
        note: CLFS log authentication refuses the unsigned log   # optional

A case that fails exactly as described is a known failure (pytest's xfail, with the link); one
that passes is reported as fixed (xpass); one that fails in any other way is a FAIL.
"""

from __future__ import annotations

import re

from harness.scenario.model import KnownDifference, KnownIssue
from harness.scenario.values import show

FIELDS = ("link", "applies_to", "differs", "note")
WHATS = ("status", "irql", "ran")
_OUTPUT_WHAT = re.compile(r"^output [a-z_][a-z0-9_]*$")


def parse_known_issues(value: object, step_count: int | None, problem) -> tuple[KnownIssue, ...]:
    """Check ``value`` (the field's YAML); ``problem(path, message, key=False)`` reports each problem
    with ``path`` relative to the field. ``step_count`` bounds ``step`` (None: not checked)."""
    if not isinstance(value, list) or not value:
        problem((), f"known_issues: expected a list of issues (link, differs, applies_to), got {show(value)}")
        return ()
    issues = []
    for i, raw in enumerate(value):
        where = f"known_issues[{i}]"
        if not isinstance(raw, dict):
            problem((i,), f"{where}: expected a mapping with link and differs, got {show(raw)}")
            continue
        ok = True
        for key in raw:
            if key not in FIELDS:
                problem((i, key), f"{where}: unknown field {key!r} (known: {', '.join(FIELDS)})", key=True)
                ok = False
        link = raw.get("link")
        if not isinstance(link, str) or not link.strip():
            problem((i, "link") if "link" in raw else (i,), f"{where}.link: expected the issue's address, "
                                                            f"got {show(link)}")
            ok = False
        applies = raw.get("applies_to", [])
        if not isinstance(applies, list) or not all(
                (isinstance(a, int) and not isinstance(a, bool) and a > 0) or (isinstance(a, str) and a)
                for a in applies):
            problem((i, "applies_to"), f"{where}.applies_to: expected a list of Windows build numbers and "
                                       f"target identities such as 'windows-26100.*', got {show(applies)}")
            ok = False
        differs = _differences(raw.get("differs"), (i, "differs"), f"{where}.differs", step_count, problem)
        note = raw.get("note", "")
        if not isinstance(note, str):
            problem((i, "note"), f"{where}.note: expected text, got {show(note)}")
            ok = False
        if ok and differs:
            issues.append(KnownIssue(link.strip(), differs, tuple(applies), note))
    return tuple(issues)


def _differences(value, path, where, step_count, problem) -> tuple[KnownDifference, ...]:
    if not isinstance(value, list) or not value:
        problem(path if value is not None else path[:-1],
                f"{where}: expected a list of {{step, what, observed}}, got {show(value)}")
        return ()
    found = []
    for j, item in enumerate(value):
        here = f"{where}[{j}]"
        if not isinstance(item, dict) or set(item) - {"step", "what", "observed"} or not {"step", "what"} <= set(item):
            problem(path + (j,), f"{here}: expected {{step: N, what: status|irql|ran|output NAME, observed: "
                                 f"VALUE}}, got {show(item)}")
            return ()
        step, what, observed = item["step"], item["what"], item.get("observed")
        if not isinstance(step, int) or isinstance(step, bool) or step < 1 or (step_count and step > step_count):
            bound = f"1 to {step_count}" if step_count else ">= 1"
            problem(path + (j, "step"), f"{here}.step: expected a step number {bound}, got {show(step)}")
            return ()
        if what not in WHATS and not (isinstance(what, str) and _OUTPUT_WHAT.match(what)):
            problem(path + (j, "what"), f"{here}.what: expected status, irql, ran or 'output NAME', "
                                        f"got {show(what)}")
            return ()
        if observed is not None and (isinstance(observed, (dict, list, bool))):
            problem(path + (j, "observed"), f"{here}.observed: expected a status name, IRQL name or "
                                            f"number, got {show(observed)}")
            return ()
        found.append(KnownDifference(step, what, None if observed is None else str(observed)))
    return tuple(found)
