"""Which documented routines and which model rules the catalogue's cases exercise.

Static: a case exercises the routines of every op its steps use (the op table names it) and every
model rule those ops reach (rules.py). A routine no op calls, or a rule no case reaches, is listed
as not exercised and makes the coverage incomplete (issue 15: every documented routine exercised);
``data_path_only`` narrows that to the data path (routines.DATA_PATH), the gate of issue 13.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.coverage.routines import DATA_PATH
from harness.coverage.rules import Rule
from harness.scenario.ops import OPS


@dataclass(frozen=True)
class Row:
    name: str                 # routine name, or rule id
    data_path: bool
    ops: tuple[str, ...]      # the ops that call the routine / reach the rule
    cases: tuple[str, ...]    # case ids that exercise it, sorted
    detail: str = ""          # for a rule: its text and pages


@dataclass(frozen=True)
class Coverage:
    routines: tuple[Row, ...]
    rules: tuple[Row, ...]
    case_count: int

    def missing(self, data_path_only: bool = False) -> list[Row]:
        """Routines and rules that no case exercises (only the data path's with ``data_path_only``):
        what makes the command exit 1."""
        return [row for row in self.routines + self.rules
                if not row.cases and (row.data_path or not data_path_only)]

    def complete(self, data_path_only: bool = False) -> bool:
        return not self.missing(data_path_only)


def compute(exercised: dict[str, set[str]], routines: list[str], rules: list[Rule]) -> Coverage:
    """Coverage of ``routines`` and ``rules`` by cases.

    Args:
        exercised: case id -> the ops its steps use.
        routines: the documented routines.
        rules: the model's rules, each with the ops that reach it.
    """
    by_op: dict[str, list[str]] = {}
    for case_id, used in sorted(exercised.items()):
        for op in used:
            by_op.setdefault(op, []).append(case_id)
    data_ops = {name for name, op in OPS.items() if op.api in DATA_PATH}

    def cases_of(ops: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({case for op in ops for case in by_op.get(op, ())}))

    routine_rows = []
    for routine in routines:
        ops = tuple(name for name, op in OPS.items() if routine in op.routines)
        routine_rows.append(Row(routine, routine in DATA_PATH, ops, cases_of(ops)))
    rule_rows = []
    for rule in rules:
        ops = tuple(sorted(rule.ops))
        detail = f"{rule.text} ({', '.join(rule.pages)})" if rule.pages else rule.text
        rule_rows.append(Row(rule.id, bool(rule.ops & data_ops), ops, cases_of(ops), detail))
    return Coverage(tuple(routine_rows), tuple(rule_rows), len(exercised))


def render_text(coverage: Coverage) -> str:
    """The table the command prints: one line per routine and per rule, then what is missing."""
    lines = [f"{'routine':<34} {'data path':<9} {'cases':>5}  ops"]
    for row in coverage.routines:
        lines.append(f"{row.name:<34} {'yes' if row.data_path else '':<9} {len(row.cases):>5}  "
                     f"{', '.join(row.ops) or '(no op calls it)'}")
    lines += ["", f"{'model rule':<34} {'data path':<9} {'cases':>5}  rule"]
    for row in coverage.rules:
        lines.append(f"{row.name:<34} {'yes' if row.data_path else '':<9} {len(row.cases):>5}  {row.detail}")
    lines += ["", *_summary(coverage)]
    return "\n".join(lines) + "\n"


def render_markdown(coverage: Coverage) -> str:
    """The same as a Markdown section (the run summary's ``--coverage`` part)."""
    lines = [f"### Coverage of the documented routines and the model's rules ({coverage.case_count} cases)", "",
             "| routine | data path | cases | ops |", "|---|---|---|---|"]
    for row in coverage.routines:
        lines.append(f"| `{row.name}` | {'yes' if row.data_path else ''} | {len(row.cases)} | "
                     f"{', '.join(f'`{op}`' for op in row.ops) or 'no op calls it'} |")
    lines += ["", "<details><summary>model rules</summary>", "", "| rule | data path | cases | rule text |",
              "|---|---|---|---|"]
    for row in coverage.rules:
        lines.append(f"| `{row.name}` | {'yes' if row.data_path else ''} | {len(row.cases)} | "
                     f"{row.detail.replace('|', chr(92) + '|')} |")
    lines += ["", "</details>", "", *_summary(coverage), ""]
    return "\n".join(lines) + "\n"


def _summary(coverage: Coverage) -> list[str]:
    routines = [r for r in coverage.routines if not r.cases]
    rules = [r for r in coverage.rules if not r.cases]
    done_r = len(coverage.routines) - len(routines)
    done_m = len(coverage.rules) - len(rules)
    lines = [f"{done_r} of {len(coverage.routines)} documented routines and {done_m} of {len(coverage.rules)} "
             f"model rules are exercised by {coverage.case_count} cases."]
    if routines:
        lines.append("Routines not exercised: " + ", ".join(
            f"{r.name}{' (data path)' if r.data_path else ''}" for r in routines) + ".")
    if rules:
        lines.append("Rules not exercised: " + ", ".join(
            f"{r.name}{' (data path)' if r.data_path else ''}" for r in rules) + ".")
    data_path = coverage.missing(data_path_only=True)
    if routines or rules:
        lines.append(f"Incomplete: {len(routines)} documented routine(s) and {len(rules)} model rule(s) without a "
                     f"case, {len(data_path)} of them on the data path.")
    else:
        lines.append("Every documented routine and every model rule has a case.")
    return lines


def ops_of_case(case) -> set[str]:
    """The ops a checked Case uses."""
    return {step.op for step in case.steps}


def ops_of_record(record: dict) -> set[str]:
    """The ops a case record of a run used (a skipped case used none)."""
    return {step["op"] for step in record.get("steps", ())}


def markdown_for_run(records: list[dict]) -> str:
    """The ``--coverage`` section of a run's Markdown summary, from its case records.

    Only what ran counts: a skipped case exercised nothing. A model source that cannot be read is
    one line in the section, not a failed run.
    """
    from harness.coverage.routines import shipped_routines
    from harness.coverage.rules import read_rules
    from harness.errors import HarnessError

    try:
        rules = read_rules()
    except HarnessError as exc:
        return f"### Coverage\n\nCoverage unavailable: {exc}\n"
    exercised = {record["id"]: ops_of_record(record) for record in records}
    return render_markdown(compute(exercised, shipped_routines(), rules))
