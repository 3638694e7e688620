"""GitHub Actions annotations: each failing case as an ``::error`` at its scenario step's line.

In a workflow (``GITHUB_ACTIONS=true``) the runner turns these lines of the job's output into
annotations on the pull request's diff, at the step of the scenario file that failed. INFRA
(the lab, not CLFS) is a warning. Format: docs.github.com, "Workflow commands for GitHub Actions"
(``::error file={name},line={line},title={title}::{message}``; properties escape ``%``, CR, LF,
``:`` and ``,``; the message escapes ``%``, CR and LF).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.report.junit import one_line_message
from harness.verdict.outcome import FAILURES, INFRA


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def failing_line(case: dict) -> int:
    """The line of the first step that did not behave, else the scenario's own line."""
    for step in case.get("steps", []):
        if not step["ok"] and step.get("line"):
            return step["line"]
    return case.get("line", 1)


def annotation(case: dict, workspace: Path | None = None, cwd: Path | None = None) -> str | None:
    """The workflow command for one case record, or None when it needs none."""
    outcome = case["outcome"]
    if outcome not in FAILURES and outcome != INFRA:
        return None
    path = Path(case["file"])
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if workspace is not None:
        try:
            path = path.resolve().relative_to(Path(workspace).resolve())
        except ValueError:
            pass
    level = "warning" if outcome == INFRA else "error"
    title = f"{outcome} {case['id'].split('::', 1)[-1]}"
    message = one_line_message(case)
    if case.get("message") and case["message"] != message:
        message += "\n" + case["message"]
    return (f"::{level} file={_escape_property(path.as_posix())},line={failing_line(case)},"
            f"title={_escape_property(title)}::{_escape_data(message)}")


def github_annotations(results: dict, env=None) -> list[str]:
    """Every annotation of a run, when running in GitHub Actions; [] elsewhere."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") != "true":
        return []
    workspace = Path(env["GITHUB_WORKSPACE"]) if env.get("GITHUB_WORKSPACE") else None
    return [line for case in results["cases"] if (line := annotation(case, workspace))]
