"""The model's rules, read from its source, and the ops that reach each one.

Every rule of the documented-rules model is a C comment that starts with ``RULE:`` and cites its
page (driver_src/model/ct_model.c, file header). The model does not report which rules a run
applied (its response has no field for it), so coverage is static: a rule belongs to the function
it sits in (or, above a function, to the function that follows), and an op reaches every rule
of its op function and of the functions that one calls, transitively. The op functions are found
where the model's ops table assigns them (``[CT_OP_FLUSH_TO_LSN] = op_flush_to_lsn``, in either
assignment or designated-initializer form), else (no such table) by the name ``op_<op>``.

A rule's id is ``<function>#<n>``, n counting the rules of that function in file order: stable
while rules are added below the existing ones, and readable in a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError

MODEL_SOURCE = Path(__file__).resolve().parents[2] / "driver_src" / "model" / "ct_model.c"

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
# A function definition at file scope: "static ct_status op_x(void *ctx, ...)" then "{".
_FUNCTION = re.compile(r"^[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\s*\([^;{}]*\)\s*\{", re.M)
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_OPS_TABLE = re.compile(r"\[\s*CT_OP_([A-Z0-9_]+)\s*\]\s*=\s*([A-Za-z_]\w*)")
_PAGE = re.compile(r"[\w./-]+\.md")


@dataclass(frozen=True)
class Rule:
    id: str            # "op_flush_to_lsn#1"
    function: str      # the function it belongs to
    line: int          # 1-based line of "RULE:" in the source
    text: str          # the rule's first sentence, shortened
    pages: tuple[str, ...]  # reference pages it cites
    ops: frozenset[str] = field(default_factory=frozenset)  # ops whose function reaches it


def read_rules(source: Path = MODEL_SOURCE) -> list[Rule]:
    """Every ``RULE:`` of the model source, with the ops that reach it, in file order.

    Raises:
        UsageError: the source cannot be read or holds no rule.
    """
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{source}: cannot read the model source: {exc.strerror}") from None
    code = _blank(text)
    functions = _functions(code)
    calls = {name: {c for c in _CALL.findall(code[start:end]) if c in functions and c != name}
             for name, (start, end) in functions.items()}
    op_functions = _op_functions(code, functions)
    reached: dict[str, set[str]] = {name: set() for name in functions}
    for op, function in op_functions.items():
        for name in _closure(function, calls):
            reached[name].add(op)

    rules: list[Rule] = []
    counts: dict[str, int] = {}
    for match in _COMMENT.finditer(text):
        comment = match.group(0)
        at = comment.find("RULE:")
        if at < 0:
            continue
        owner = _owner(match.start(), functions)
        if owner is None:
            continue  # a rule after the last function belongs to nothing we can reach
        counts[owner] = counts.get(owner, 0) + 1
        body = " ".join(comment[at + 5:].replace("*/", " ").replace("*", " ").split())
        rules.append(Rule(id=f"{owner}#{counts[owner]}", function=owner,
                          line=text.count("\n", 0, match.start() + at) + 1, text=_first_sentence(body),
                          pages=tuple(dict.fromkeys(_PAGE.findall(body))), ops=frozenset(reached[owner])))
    if not rules:
        raise UsageError(f"{source}: no 'RULE:' comments found in the model source")
    return rules


def _blank(text: str) -> str:
    """The source with comments and literals replaced by spaces: offsets kept, braces and calls real."""
    def spaces(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))
    return _COMMENT.sub(spaces, _STRING.sub(spaces, text))


def _functions(code: str) -> dict[str, tuple[int, int]]:
    """name -> (offset of its definition, offset after its closing brace)."""
    found: dict[str, tuple[int, int]] = {}
    for match in _FUNCTION.finditer(code):
        name = match.group(1)
        if name in ("if", "for", "while", "switch", "return", "sizeof"):
            continue
        depth, i = 0, match.end() - 1
        while i < len(code):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        found.setdefault(name, (match.start(), i + 1))
    return found


def _op_functions(code: str, functions: dict) -> dict[str, str]:
    """op name -> the model function that implements it."""
    table = {op.lower(): fn for op, fn in _OPS_TABLE.findall(code) if fn in functions}
    if not table:  # no ops table in a form we know: fall back on the naming convention
        table = {name[3:]: name for name in functions if name.startswith("op_")}
    return table


def _closure(start: str, calls: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(calls.get(name, ()))
    return seen


def _owner(offset: int, functions: dict[str, tuple[int, int]]) -> str | None:
    """The function whose body holds ``offset``, else the first one defined after it."""
    following = None
    for name, (start, end) in functions.items():
        if start <= offset < end:
            return name
        if start > offset and (following is None or start < functions[following][0]):
            following = name
    return following


def _first_sentence(body: str, limit: int = 90) -> str:
    sentence = re.split(r"(?<=\.)\s", body, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"
