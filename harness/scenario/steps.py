"""Checks the steps of one case (a scenario with one set of matrix values) in order.

Order matters: a step may only use names created and values saved by the steps before it,
so the checker walks the steps once, keeping what exists so far.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.protocol import ntstatus
from harness.scenario import ops
from harness.scenario.model import Condition, Expectation, SavedRef, SourceLoc, Step
from harness.scenario.ops import OPS, Op, Param
from harness.scenario.values import (IDENT_RE, PLACEHOLDER_RE, ValueProblem, parse_int, placeholders, show,
                                     whole_placeholder)
from harness.scenario.values import suggest as _suggest

_LIST_ELEMENT_KIND = {"list_i64": "i64", "list_u32": "u32"}
STATUS_WORDS = ("success", "failure", "any")
_KIND_NOUN = {ops.LOG: "log", ops.AREA: "marshalling area", ops.READ: "read context"}
_VAR_PARAMS = sorted({f"{o.name}.{p.name}" for o in OPS.values() for p in o.params if p.kind in ops.SAVED_KINDS})


@dataclass
class _Saved:
    step: int
    op: str
    output: str
    records: int | None  # for align_reserved_log's aligned_size: how many records it aligned


class StepChecker:
    """Walks a case's steps; ``failed`` is set when any problem was reported."""

    def __init__(self, scope, header, matrix: dict):
        self.scope = scope
        self.header = header
        self.matrix = matrix
        self.objects: dict[str, tuple[str, int]] = {}   # name -> (kind, step that created it)
        self.saved: dict[str, _Saved] = {}
        self.failed = False
        self._where = scope.label

    def object_kinds(self):
        return ((name, kind) for name, (kind, _) in self.objects.items())

    # -- reporting -------------------------------------------------------------------------------
    def _problem(self, path: tuple, message: str, key: bool = False) -> None:
        self.failed = True
        self.scope.problem(path, message, where=self._where, key=key)

    # -- one step ---------------------------------------------------------------------------------
    def check(self, index: int, raw: object) -> Step | None:
        path = ("steps", index - 1)
        self._where = f"{self.scope.label}, step {index}"
        if not isinstance(raw, dict):
            self._problem(path, f"expected a mapping with one op such as create_log: {{...}}, got {show(raw)}")
            return None
        op_keys = [k for k in raw if k in OPS]
        unknown = [k for k in raw if k not in OPS and k not in ops.STEP_KEYS]
        for key in unknown:
            if not op_keys:
                hint = _suggest(key, OPS)
                self._problem(path + (key,), f"unknown step {key!r}{hint}; steps are: {', '.join(OPS)}", key=True)
            else:
                self._problem(path + (key,), f"unknown key {key!r}{_suggest(key, ops.STEP_KEYS)}; besides its op "
                                             f"a step takes {', '.join(ops.STEP_KEYS)}", key=True)
        if len(op_keys) > 1:
            self._problem(path, f"a step has exactly one op, found {' and '.join(op_keys)}")
            return None
        if not op_keys:
            if not unknown:
                self._problem(path, f"a step needs an op: one of {', '.join(OPS)}")
            return None
        op = OPS[op_keys[0]]
        self._where = f"{self.scope.label}, step {index} ({op.name})"
        args, args_ok = self._args(op, raw[op.name], path + (op.name,))
        context = self._context(raw, path)
        expect = self._expect(op, raw.get("expect", "success"), path + ("expect",))
        save = self._save(op, raw.get("save"), path + ("save",))
        stop = self._on_failure(raw, path, expect)
        note = raw.get("note", "")
        if not isinstance(note, str):
            self._problem(path + ("note",), f"note: expected text, got {show(note)}")
        # Record what this step defines and saves even when it has problems of its own, so one
        # mistake is reported once, not again at every later use of the name.
        self._record(index, op, args, save or {})
        if not args_ok or context is None or expect is None or save is None:
            return None
        self._semantics(index, op, args, expect, path + (op.name,))
        line, col = self.scope.doc.loc(path)
        return Step(index=index, op=op.name, args=args, context=context, expect=expect, save=save,
                    stop_on_failure=stop, loc=SourceLoc(self.scope.report.file, line, col),
                    note=note if isinstance(note, str) else "")

    # -- parameters -------------------------------------------------------------------------------
    def _args(self, op: Op, raw: object, path: tuple) -> tuple[dict, bool]:
        """(the parameters that are valid, whether all of them were)."""
        if not isinstance(raw, dict):
            self._problem(path, f"expected a mapping of parameters ({', '.join(p.name for p in op.params)}), "
                                f"got {show(raw)}")
            return {}, False
        ok = True
        for key in raw:
            if op.param(key) is None:
                names = [p.name for p in op.params]
                self._problem(path + (key,), f"unknown parameter {key!r}{_suggest(key, names)}; "
                                             f"{op.name} takes {', '.join(names)}", key=True)
                ok = False
        args: dict = {}
        for param in op.params:
            if param.name in raw:
                value = self._param(param, raw[param.name], path + (param.name,))
            elif param.required:
                self._problem(path, f"missing required parameter {param.name!r}")
                ok = False
                continue
            else:
                value = param.default
                if param.kind == "str" and isinstance(value, str):
                    value = value.replace("${name}", str(raw.get("name", "")))
                elif param.kind in ops.INT_KINDS and value is not None:   # None: optional, absent
                    value = parse_int(param, value)  # e.g. INFINITE -> 0xFFFFFFFF
            if value is _BAD:
                ok = False
            else:
                args[param.name] = value
        return args, ok

    def _param(self, param: Param, value: object, path: tuple) -> object:
        try:
            return self._convert(param, value, path)
        except ValueProblem as exc:
            self._problem(path, f"{param.name}: {exc}")
            return _BAD

    def _convert(self, param: Param, value: object, path: tuple) -> object:
        kind = param.kind
        value = self._substitute(param, value)
        if isinstance(value, SavedRef):
            return value
        if kind in ops.INT_KINDS:
            return parse_int(param, value)
        if kind in _LIST_ELEMENT_KIND:
            return self._int_list(param, value, path)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueProblem(f"expected true or false, got {show(value)}")
            return value
        if kind == "enum":
            if value not in param.choices:
                raise ValueProblem(f"expected one of {', '.join(param.choices)}, got {show(value)}"
                                   f"{_suggest(value, param.choices)}")
            return value
        if kind == "flags":
            return self._flags(param, value)
        if kind == "define":
            return self._define(param, value)
        if kind == "ref":
            return self._ref(param, value)
        if kind == "str":
            if not isinstance(value, str) or not value:
                raise ValueProblem(f"expected text, got {show(value)}")
            if len(value) > 200:
                raise ValueProblem(f"{len(value)} characters; at most 200")
            return value
        raise AssertionError(f"op table names unknown kind {kind}")  # pragma: no cover

    def _substitute(self, param: Param, value: object) -> object:
        """Apply matrix values; turn a whole ``${saved}`` into a SavedRef where the param allows it."""
        whole = whole_placeholder(value)
        if whole is not None:
            if whole in self.matrix:
                return self.matrix[whole]
            if whole in self.saved:
                if param.kind not in ops.SAVED_KINDS:
                    raise ValueProblem(f"cannot take the saved value '${{{whole}}}': only "
                                       f"{', '.join(_VAR_PARAMS)} take values saved at run time")
                return SavedRef(whole)
            if whole in ("scratch",) and param.kind == "str":
                return value
            raise ValueProblem(self._undefined(whole))
        if isinstance(value, str) and "${" in value:
            for name in placeholders(value):
                if name not in self.matrix and not (name == "scratch" and param.kind == "str"):
                    raise ValueProblem(self._undefined(name))
            return PLACEHOLDER_RE.sub(lambda m: str(self.matrix.get(m.group(1), m.group(0))), value)
        return value

    def _undefined(self, name: str) -> str:
        known = list(self.matrix) + list(self.saved) + ["scratch"]
        return (f"undefined name '${{{name}}}': not a matrix value, a value saved by an earlier step, "
                f"or ${{scratch}}{_suggest(name, known)}")

    def _int_list(self, param: Param, value: object, path: tuple) -> tuple:
        element = Param(param.name, _LIST_ELEMENT_KIND[param.kind], size=param.size)
        if not isinstance(value, list):
            value = [value] if isinstance(value, (int, str)) and not isinstance(value, bool) else value
        if not isinstance(value, list):
            raise ValueProblem(f"expected a list of sizes, got {show(value)}")
        if not param.min_items <= len(value) <= param.max_items:
            raise ValueProblem(f"{len(value)} items; expected {param.min_items} to {param.max_items}")
        result = []
        for i, item in enumerate(value):
            try:
                result.append(parse_int(element, self._substitute(element, item)))
            except ValueProblem as exc:
                self._problem(path + (i,), f"{param.name}[{i}]: {exc}")
                return _BAD
        return tuple(result)

    def _flags(self, param: Param, value: object) -> tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueProblem(f"expected a list of flags ({', '.join(param.choices)}), got {show(value)}")
        for item in items:
            if item not in param.choices:
                raise ValueProblem(f"unknown flag {show(item)}{_suggest(item, param.choices)}; flags are "
                                   f"{', '.join(param.choices)}")
        if len(set(items)) != len(items):
            raise ValueProblem("a flag is listed twice")
        return tuple(items)

    def _define(self, param: Param, value: object) -> str:
        if not isinstance(value, str) or not IDENT_RE.match(value):
            raise ValueProblem(f"expected a name of letters, digits and '_', got {show(value)}")
        if value in self.objects:
            kind, step = self.objects[value]
            raise ValueProblem(f"duplicate name {value!r}: step {step} already created a {_KIND_NOUN[kind]} "
                               f"of that name")
        return value

    def _ref(self, param: Param, value: object) -> str:
        if not isinstance(value, str):
            raise ValueProblem(f"expected the name of a {_KIND_NOUN[param.object_kind]}, got {show(value)}")
        if value not in self.objects:
            same_kind = [n for n, (k, _) in self.objects.items() if k == param.object_kind]
            raise ValueProblem(f"undefined name {value!r}: no {_KIND_NOUN[param.object_kind]} of that name is "
                               f"created before this step{_suggest(value, same_kind)}")
        kind, step = self.objects[value]
        if kind != param.object_kind:
            raise ValueProblem(f"{value!r} is a {_KIND_NOUN[kind]} (created at step {step}), not a "
                               f"{_KIND_NOUN[param.object_kind]}")
        return value

    # -- context, expectation, save, on_failure -------------------------------------------------------
    def _context(self, raw: dict, path: tuple) -> str | None:
        context = raw.get("context", self.header.context)
        where = path + ("context",) if "context" in raw else ("context",)
        if whole_placeholder(context) in self.matrix:
            context = self.matrix[whole_placeholder(context)]
        if context not in ops.CONTEXTS:
            self._problem(where, f"context: expected one of {', '.join(ops.CONTEXTS)}, got {show(context)}"
                                 f"{_suggest(context, ops.CONTEXTS)}")
            return None
        if context not in ops.SAFE_CONTEXTS and self.header.expect_bugcheck is None:
            message = (f"context: {context} is above APC_LEVEL, where the CLFS routines must not be called; "
                       f"a scenario runs it only when it declares expect_bugcheck")
            if "context" in raw:
                self._problem(where, message)
            else:  # the scenario's default context: one report at the scenario, not one per step
                self.failed = True
                self.scope.problem(where, message)
            return None
        return context

    def _expect(self, op: Op, raw: object, path: tuple) -> Expectation | None:
        if isinstance(raw, dict):
            unknown = [k for k in raw if k != "status" and k not in op.expect_outputs]
            for key in unknown:
                outputs = ", ".join(op.outputs) or "none"
                self._problem(path + (key,), f"expect: {key!r} is not an output of {op.name} (outputs: "
                                             f"{outputs}){_suggest(key, op.outputs)}", key=True)
            status = self._status(raw.get("status", "success"), path + ("status",))
            conditions = []
            for key in op.expect_outputs:
                if key in raw:
                    checked = self._conditions(key, raw[key], path + (key,))
                    if checked is None:
                        return None
                    conditions.append((key, checked))
            if status is None or unknown:
                return None
            return Expectation(status[0], status[1], tuple(conditions))
        status = self._status(raw, path)
        return None if status is None else Expectation(status[0], status[1])

    def _status(self, raw: object, path: tuple) -> tuple[str, int | None] | None:
        if raw in STATUS_WORDS:
            return raw, None
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= ops.U32_MAX:
            return ntstatus.status_name(raw), raw
        if isinstance(raw, str) and raw.startswith("STATUS_"):
            code = ntstatus.status_code(raw)
            if code is not None:
                return raw, code
            self._problem(path, f"expect: unknown status {raw!r}{_suggest(raw, ntstatus.NTSTATUS)}")
            return None
        self._problem(path, f"expect: expected success, failure, any, a STATUS_ name or an NTSTATUS code, "
                            f"got {show(raw)}")
        return None

    def _conditions(self, output: str, raw: object, path: tuple) -> tuple[Condition, ...] | None:
        number = Param(output, "i64", size=True)
        items = raw.items() if isinstance(raw, dict) else [("eq", raw)]
        result = []
        for comparator, value in items:
            if comparator not in ops.COMPARATORS:
                self._problem(path + (comparator,), f"expect.{output}: unknown comparison {comparator!r}; use "
                                                    f"{', '.join(ops.COMPARATORS)}", key=True)
                return None
            name = whole_placeholder(value)
            if name is not None:
                if name not in self.matrix:
                    why = "conditions compare with literals or matrix values, not values saved at run time" \
                        if name in self.saved else self._undefined(name)
                    self._problem(path, f"expect.{output}: {why}")
                    return None
                value = self.matrix[name]
            try:
                result.append(Condition(comparator, parse_int(number, value)))
            except ValueProblem as exc:
                self._problem(path, f"expect.{output}: {exc}")
                return None
        if not result:
            self._problem(path, f"expect.{output}: expected a number or comparisons such as {{ge: 512}}")
            return None
        return tuple(result)

    def _save(self, op: Op, raw: object, path: tuple) -> dict | None:
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not raw:
            self._problem(path, f"save: expected a mapping of new names to outputs, such as "
                                f"{{aligned: aligned_size}}, got {show(raw)}")
            return None
        result = {}
        for name, output in raw.items():
            if not IDENT_RE.match(name) or name in self.matrix or name == "scratch":
                self._problem(path + (name,), f"save: {name!r} cannot name a saved value (letters, digits and "
                                              f"'_'; not a matrix name or scratch)", key=True)
                return None
            if output not in op.outputs:
                outputs = ", ".join(op.outputs) or "none"
                self._problem(path + (name,), f"save: {show(output)} is not an output of {op.name} "
                                              f"(outputs: {outputs}){_suggest(output, op.outputs)}")
                return None
            result[name] = output
        return result

    def _on_failure(self, raw: dict, path: tuple, expect: Expectation | None) -> bool:
        value = raw.get("on_failure")
        if value is None:
            # A step expected to succeed guards the ones after it; one expected to fail does not.
            return expect is None or expect.status == "success"
        if value not in ops.ON_FAILURE:
            self._problem(path + ("on_failure",), f"on_failure: expected stop or continue, got {show(value)}")
        return value == "stop"

    # -- rules across steps -----------------------------------------------------------------------
    def _semantics(self, index: int, op: Op, args: dict, expect: Expectation, path: tuple) -> None:
        if op.name == "alloc_reserved_log" and isinstance(args.get("adjustment"), SavedRef):
            source = self.saved[args["adjustment"].name]
            if source.records is not None and source.records != args["records"] and expect.status == "success":
                self._problem(path + ("records",),
                              f"records: {args['records']} differs from the {source.records} record(s) aligned at "
                              f"step {source.step}; ClfsAllocReservedLog's cRecords must match ClfsAlignReservedLog's"
                              f" (to test that on purpose, expect failure, any or a status)")

    def _record(self, index: int, op: Op, args: dict, save: dict) -> None:
        for param in op.params:
            if param.kind == "define" and param.name in args:
                self.objects.setdefault(args[param.name], (param.object_kind, index))
        for name, output in save.items():
            sizes = args.get("record_sizes")
            records = len(sizes) if op.name == "align_reserved_log" and sizes is not None else None
            self.saved[name] = _Saved(index, op.name, output, records)


class _Bad:
    """Marks a parameter whose problem has been reported (None can be a real value)."""


_BAD = _Bad()
