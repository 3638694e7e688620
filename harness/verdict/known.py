"""Known issues: a case that fails as its known issue describes is a known failure, not a FAIL.

Applied after the verdict (and the baseline comparison), on the case record: the failing checks
of the record's steps are compared with the issue's ``differs``. Exactly those, each showing
what the issue says it observes: XFAIL. Nothing failing: XPASS (fixed on this target?).
Anything else: the FAIL stands, with a line saying how it differs from the issue.
"""

from __future__ import annotations

import fnmatch

from harness.scenario.model import KnownIssue
from harness.verdict.baseline import baseline_key
from harness.verdict.outcome import FAIL, PASS, XFAIL, XPASS


def applies(issue: KnownIssue, identity: dict) -> bool:
    """Whether ``issue`` concerns the target ``identity`` (every target when it names none)."""
    if not issue.applies_to:
        return True
    key = baseline_key(identity)
    build = identity.get("windows_build")
    return any((isinstance(a, int) and build == a) or (isinstance(a, str) and fnmatch.fnmatchcase(key, a))
               for a in issue.applies_to)


def failing_checks(record: dict) -> dict[tuple[int, str], str]:
    """(step, what) -> observed, for every check of the record that failed."""
    return {(s["index"], m["what"]): m["observed"] for s in record["steps"] for m in s["mismatches"]}


def _observed_matches(want: str | None, seen: str) -> bool:
    # The diff shows "STATUS_ACCESS_DENIED (0xC0000022)"; the issue may name either part.
    return want is None or seen == want or seen.split(" (")[0] == want or f"({want})" in seen


def judge_known(issues: tuple[KnownIssue, ...], record: dict) -> tuple[str, str] | None:
    """(outcome, message) when a known issue decides the case; None when none applies.

    Only a PASS or a FAIL is re-judged: a bugcheck, hang or lab error is never excused by one.
    """
    if record["outcome"] not in (PASS, FAIL):
        return None
    relevant = [i for i in issues if applies(i, record.get("identity") or {})]
    if not relevant:
        return None
    failing = failing_checks(record)
    if record["outcome"] == PASS:
        issue = relevant[0]
        return XPASS, f"known issue {issue.link} did not show on this target: fixed?"
    for issue in relevant:
        described = {(d.step, d.what): d.observed for d in issue.differs}
        if described.keys() == failing.keys() and all(
                _observed_matches(want, failing[key]) for key, want in described.items()):
            note = f" ({issue.note})" if issue.note else ""
            return XFAIL, f"known issue {issue.link}{note}"
    issue = relevant[0]
    extra = sorted(set(failing) - {(d.step, d.what) for d in issue.differs})
    shown = ", ".join(f"step {s} {w}: {failing[(s, w)]}" for s, w in extra) or "what it observes"
    return FAIL, f"fails otherwise than known issue {issue.link} describes ({shown})"
