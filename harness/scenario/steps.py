"""Checks the steps of one case (a scenario with one set of matrix values) in order.

Order matters: a step may only use names created and values saved by the steps before it,
so the checker walks the steps once, keeping what exists so far.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.protocol import ntstatus
from harness.scenario import lsn, ops
from harness.scenario.model import CUT_DURING, RESTART_HOWS, Condition, Expectation, Restart, SavedRef, SourceLoc, Step
from harness.scenario.ops import OPS, Op, Param
from harness.scenario.values import (IDENT_RE, PLACEHOLDER_RE, ValueProblem, parse_int, placeholders, show,
                                     whole_placeholder)
from harness.scenario.values import suggest as _suggest

_LIST_ELEMENT_KIND = {"list_i64": "i64", "list_u32": "u32"}
STATUS_WORDS = ("success", "failure", "any")
RESTART = "restart"  # the step that ends a phase; not an op: nothing of it goes to the driver
RESTART_STEP_KEYS = (RESTART, "expect", "note")
_KIND_NOUN = {ops.LOG: "log", ops.AREA: "marshalling area", ops.READ: "read context", ops.SCAN: "scan context",
              ops.CLIENT: "managed client"}
_VAR_PARAMS = sorted({f"{o.name}.{p.name}" for o in OPS.values() for p in o.params if p.kind in ops.SAVED_KINDS})


@dataclass
class _Saved:
    step: int
    op: str
    output: str
    records: int | None  # for align_reserved_log's aligned_size: how many records it aligned
    kind: str = ops.OUTPUT_INT  # ops.output_kind of the output
    stream: str | None = None   # the stream an LSN came from (see StepChecker.streams)


class StepChecker:
    """Walks a case's steps; ``failed`` is set when any problem was reported."""

    def __init__(self, scope, header, matrix: dict, raw_steps: list | None = None):
        self.scope = scope
        self.header = header
        self.matrix = matrix
        self.objects: dict[str, tuple[str, int]] = {}   # name -> (kind, step that created it)
        # name -> the stream its LSNs belong to: a log's path (case-folded: NT paths are
        # case-insensitive), so a log closed and opened again is the same stream; an area or other
        # object belongs to the stream of the log it was created on.
        self.streams: dict[str, str] = {}
        self.saved: dict[str, _Saved] = {}
        # Which step saves each name first, from the raw steps: to say "saved by step 7, after
        # this one" rather than "undefined" when a value is used too early.
        self.saved_at: dict[str, int] = {}
        for index, raw in enumerate(raw_steps or (), start=1):
            save = raw.get("save") if isinstance(raw, dict) else None
            for name in save if isinstance(save, dict) else ():
                self.saved_at.setdefault(name, index)
        self.index = 0
        self.failed = False
        self._where = scope.label
        self._raw_steps = list(raw_steps or ())
        self.phase = 1
        self._phase_start = 1   # the first step of the current phase
        # Objects of earlier phases: name -> (kind, step that created it, line of the restart after
        # which it is gone), to say why a name that exists in the file cannot be used here.
        self.gone: dict[str, tuple[str, int, int]] = {}
        self.all_objects: dict[str, str] = {}  # every phase's objects, name -> kind, in creation order
        self.record_bytes = 0   # record payload bytes of the steps so far: one request carries them all

    def object_kinds(self):
        return self.all_objects.items()

    # -- reporting -------------------------------------------------------------------------------
    def _problem(self, path: tuple, message: str, key: bool = False) -> None:
        self.failed = True
        self.scope.problem(path, message, where=self._where, key=key)

    # -- one step ---------------------------------------------------------------------------------
    def check(self, index: int, raw: object) -> Step | None:
        path = ("steps", index - 1)
        self.index = index
        self._where = f"{self.scope.label}, step {index}"
        if not isinstance(raw, dict):
            self._problem(path, f"expected a mapping with one op such as create_log: {{...}}, got {show(raw)}")
            return None
        if RESTART in raw:
            return self._restart(index, raw, path)
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
        expect = self._expect(op, raw.get("expect", "success"), path + ("expect",), self._stream_of(op, args))
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
                    note=note if isinstance(note, str) else "", phase=self.phase)

    # -- restart: the end of a phase ------------------------------------------------------------------
    def _during(self, index: int, spec: dict, how, path: tuple) -> str | None:
        """``during: append_burst``: the power fails while the phase's last step runs. Only a power
        cut can come mid-step; the step must be the burst; and no step of the phase may save a value,
        since a cut in flight takes the phase's answer with it (values the next phases need are
        saved in a phase of their own, ended by ``restart: {how: reopen}``)."""
        during = spec["during"]
        where = path + (RESTART, "during")
        if during not in CUT_DURING:
            self._problem(where, f"during: expected one of {', '.join(CUT_DURING)}, got {show(during)}"
                                 f"{_suggest(during, CUT_DURING)}")
            return None
        if how != "power_cut":
            self._problem(where, f"during: only a power cut comes while a step runs (how: power_cut), "
                                 f"not how: {show(how)}")
            return None
        last = self._raw_steps[index - 2] if index >= 2 else None
        if not isinstance(last, dict) or during not in last:
            found = next((k for k in last if k in OPS or k == RESTART), "nothing") if isinstance(last, dict) else "nothing"
            self._problem(where, f"during: {during}: the step before the restart (step {index - 1}) must be the "
                                 f"{during} the power fails in; it is {found}")
            return None
        for at in range(self._phase_start, index):
            raw = self._raw_steps[at - 1]
            if isinstance(raw, dict) and "save" in raw:
                self._problem(("steps", at - 1, "save"),
                              f"save: step {at} is in a phase whose power fails while it runs (restart: "
                              f"{{how: power_cut, during: {during}}} at step {index}): its answer is lost with "
                              f"the power; save in an earlier phase, ended by restart: {{how: reopen}}")
        return during


    def _restart(self, index: int, raw: dict, path: tuple) -> Restart | None:
        """``restart: {how: ...}``: ends the phase. Every object is gone after it (the guest
        rebooted: handles, areas and reservations died with it; only the disk survives), saved
        values stay (they are numbers the harness carries into the next phase's request)."""
        self._where = f"{self.scope.label}, step {index} (restart)"
        before = self.failed
        for key in raw:
            if key in OPS:
                self._problem(path + (key,), f"a step has exactly one op, found restart and {key}", key=True)
            elif key not in RESTART_STEP_KEYS:
                self._problem(path + (key,), f"unknown key {key!r}{_suggest(key, RESTART_STEP_KEYS)}; a restart "
                                             f"step takes {', '.join(RESTART_STEP_KEYS)}", key=True)
        spec, how = raw[RESTART], None
        if not isinstance(spec, dict):
            self._problem(path + (RESTART,), f"restart: expected a mapping such as {{how: power_cut}}, got "
                                             f"{show(spec)}")
        else:
            for key in spec:
                if key not in ("how", "during"):
                    self._problem(path + (RESTART, key), f"restart: unknown parameter {key!r}"
                                                         f"{_suggest(key, ('how', 'during'))}; restart takes how "
                                                         f"and during", key=True)
            how = spec.get("how")
            if "how" not in spec:
                self._problem(path + (RESTART,), f"restart: missing required parameter 'how' "
                                                 f"({', '.join(RESTART_HOWS)})")
            elif how not in RESTART_HOWS:
                self._problem(path + (RESTART, "how"), f"how: expected one of {', '.join(RESTART_HOWS)}, got "
                                                       f"{show(how)}{_suggest(how, RESTART_HOWS)}")
        during = self._during(index, spec, how, path) if isinstance(spec, dict) and "during" in spec else None
        durable = False
        if "expect" in raw:
            if raw["expect"] == "durable":
                durable = True
            else:
                self._problem(path + ("expect",), f"expect: a restart step takes only 'durable' (the phase it "
                                                  f"starts is then judged by the durability verdict), got "
                                                  f"{show(raw['expect'])}")
        note = raw.get("note", "")
        if not isinstance(note, str):
            self._problem(path + ("note",), f"note: expected text, got {show(note)}")
        if index == 1:
            self._problem(path, "restart: the first step cannot be a restart: no phase has run before it")
        elif isinstance(self._raw_steps[index - 2], dict) and RESTART in self._raw_steps[index - 2]:
            self._problem(path, f"restart: step {index - 1} is a restart too: the phase between them has no steps")
        if index == len(self._raw_steps):
            self._problem(path, "restart: a restart must be followed by the steps of the phase it starts")
        line, col = self.scope.doc.loc(path)
        # The phase ends even when the step has problems, so later steps are checked as they would run.
        self.phase += 1
        self._phase_start = index + 1
        for name, (kind, step) in self.objects.items():
            self.gone[name] = (kind, step, line)
        self.objects.clear()
        self.streams.clear()
        self.record_bytes = 0   # the next phase is a request of its own
        if self.failed and not before:
            return None
        return Restart(index=index, how=how, phase=self.phase, during=during,
                       loc=SourceLoc(self.scope.report.file, line, col),
                       durable=durable, note=note if isinstance(note, str) else "")

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
                # At the op's name, where editors (yaml-language-server) flag a missing property too.
                self._problem(path, f"missing required parameter {param.name!r}", key=True)
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
        later = self.saved_at.get(name)
        if later is not None and later >= self.index:
            when = "this step" if later == self.index else f"step {later}, after this one"
            return (f"'${{{name}}}' is saved by {when}: a saved value can be used only by the steps after "
                    f"the one that saves it")
        known = list(self.matrix) + list(self.saved) + ["scratch"]
        return (f"undefined name '${{{name}}}': not a matrix value, a value saved by an earlier step, "
                f"or ${{scratch}}{_suggest(name, known)}")

    def _int_list(self, param: Param, value: object, path: tuple) -> tuple:
        element = Param(param.name, _LIST_ELEMENT_KIND[param.kind], size=param.size, maximum=param.maximum,
                        maximum_why=param.maximum_why)
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
        if value not in self.objects and value in self.gone:
            kind, step, line = self.gone[value]
            raise ValueProblem(f"{value!r} is gone after the restart at line {line}: the {_KIND_NOUN[kind]} "
                               f"created at step {step} does not survive a restart; create it again after the "
                               f"restart (create_log on the same path opens the log on disk)")
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

    def _expect(self, op: Op, raw: object, path: tuple, stream: str | None) -> Expectation | None:
        if isinstance(raw, dict):
            unknown = [k for k in raw if k not in ("status", "callbacks") and k not in op.expect_outputs]
            for key in unknown:
                outputs = ", ".join(op.outputs) or "none"
                self._problem(path + (key,), f"expect: {key!r} is not an output of {op.name} (outputs: "
                                             f"{outputs}){_suggest(key, op.outputs)}", key=True)
            status = self._status(raw.get("status", "success"), path + ("status",))
            conditions = []
            for key in op.expect_outputs:
                if key in raw:
                    checked = self._conditions(key, raw[key], path + (key,), stream)
                    if checked is None:
                        return None
                    conditions.append((key, checked))
            callbacks = self._callbacks(raw["callbacks"], path + ("callbacks",)) if "callbacks" in raw else ()
            if status is None or unknown or callbacks is None:
                return None
            return Expectation(status[0], status[1], tuple(conditions), callbacks)
        status = self._status(raw, path)
        return None if status is None else Expectation(status[0], status[1])

    def _callbacks(self, raw: object, path: tuple) -> tuple | None:
        """``callbacks: {advance_tail: {ge: 1}}``: how many callbacks of each kind arrive during the step."""
        if not isinstance(raw, dict) or not raw:
            self._problem(path, f"expect.callbacks: expected a mapping of callback kinds "
                                f"({', '.join(ops.CALLBACK_KINDS)}) to counts, got {show(raw)}")
            return None
        result = []
        for kind, value in raw.items():
            if kind not in ops.CALLBACK_KINDS:
                self._problem(path + (kind,), f"expect.callbacks: unknown callback {kind!r}"
                                              f"{_suggest(kind, ops.CALLBACK_KINDS)}; callbacks are "
                                              f"{', '.join(ops.CALLBACK_KINDS)}", key=True)
                return None
            items = value.items() if isinstance(value, dict) else [("eq", value)]
            conditions = []
            for comparator, number in items:
                if comparator not in ops.COMPARATORS or isinstance(number, bool) or not isinstance(number, int) \
                        or not 0 <= number <= ops.U32_MAX:
                    self._problem(path + (kind,), f"expect.callbacks.{kind}: expected a count or comparisons "
                                                  f"such as {{ge: 1}}, got {show(value)}")
                    return None
                conditions.append(Condition(comparator, number))
            if not conditions:
                self._problem(path + (kind,), f"expect.callbacks.{kind}: expected a count or comparisons")
                return None
            result.append((kind, tuple(conditions)))
        return tuple(result)

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

    def _conditions(self, output: str, raw: object, path: tuple, stream: str | None) -> tuple[Condition, ...] | None:
        kind = ops.output_kind(output)
        # An LSN is a ULONGLONG (CLFS_LSN_INVALID is above 2^63); the other outputs are LONGLONG-sized.
        number = Param(output, "u64" if kind == ops.OUTPUT_LSN else "i64", size=kind != ops.OUTPUT_LSN)
        items = raw.items() if isinstance(raw, dict) else [("eq", raw)]
        result = []
        for comparator, value in items:
            if comparator not in ops.COMPARATORS:
                self._problem(path + (comparator,), f"expect.{output}: unknown comparison {comparator!r}; use "
                                                    f"{', '.join(ops.COMPARATORS)}", key=True)
                return None
            name = whole_placeholder(value)
            if name is not None and name not in self.matrix:
                saved = self._saved_condition(output, kind, name, stream, path)
                if saved is None:
                    return None
                result.append(Condition(comparator, saved))
                continue
            if name is not None:
                value = self.matrix[name]
            if kind == ops.OUTPUT_LSN and value in lsn.NAMED:
                value = lsn.NAMED[value]
            try:
                result.append(Condition(comparator, parse_int(number, value)))
            except ValueProblem as exc:
                also = " or CLFS_LSN_NULL / CLFS_LSN_INVALID" if kind == ops.OUTPUT_LSN else ""
                self._problem(path, f"expect.{output}: {exc}{also}")
                return None
        if not result:
            self._problem(path, f"expect.{output}: expected a number or comparisons such as {{ge: 512}}")
            return None
        return tuple(result)

    def _saved_condition(self, output: str, kind: str, name: str, stream: str | None,
                         path: tuple) -> SavedRef | None:
        """``${name}`` in a condition: a value an earlier step saved, of the same kind and stream."""
        source = self.saved.get(name)
        if source is None:
            self._problem(path, f"expect.{output}: {self._undefined(name)}")
            return None
        if source.kind != kind:
            what = {ops.OUTPUT_LSN: "an LSN", ops.OUTPUT_INT: "a number"}
            self._problem(path, f"expect.{output}: '${{{name}}}' is {what[source.kind]} ({source.op}'s "
                                f"{source.output}, step {source.step}) and {output} is {what[kind]}: they do not "
                                f"compare")
            return None
        if kind == ops.OUTPUT_LSN and stream and source.stream and stream != source.stream:
            self._problem(path, f"expect.{output}: '${{{name}}}' is an LSN of another stream (step {source.step}); "
                                f"\"LSNs from different streams are not comparable\" (ClfsLsnLess.md)")
            return None
        return SavedRef(name)

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
        if op.name == "install_policy" and args.get("type") in ops.POLICY_FIELDS:
            self._policy_fields(args, path)
        if op.name == "reserve_and_append":
            self._record_payload(args.get("records", ()), path + ("records",))
        if op.name == "alloc_reserved_log" and isinstance(args.get("adjustment"), SavedRef):
            source = self.saved[args["adjustment"].name]
            if source.records is not None and source.records != args["records"] and expect.status == "success":
                self._problem(path + ("records",),
                              f"records: {args['records']} differs from the {source.records} record(s) aligned at "
                              f"step {source.step}; ClfsAllocReservedLog's cRecords must match ClfsAlignReservedLog's"
                              f" (to test that on purpose, expect failure, any or a status)")

    def _policy_fields(self, args: dict, path: tuple) -> None:
        """install_policy: only the fields of the policy's type (_CLFS_MGMT_POLICY.md, PolicyParameters)."""
        own = ops.POLICY_FIELDS[args["type"]]
        for name in (*ops.POLICY_U32_FIELDS, "next_suffix", "prefix", "extension"):
            if args.get(name) is not None and name not in own:
                self._problem(path + (name,), f"{name}: not a field of a {args['type']} policy; it takes "
                                              f"{', '.join(own) or 'no field'}")

    def _record_payload(self, records: tuple, path: tuple) -> None:
        """The driver's caps on record payloads (CT_MAX_RECORD_BYTES, CT_MAX_REQUEST_RECORD_BYTES)."""
        record = sum(records)
        if record > ops.MAX_RECORD_BYTES:
            self._problem(path, f"records: the write entries form one record of {record} bytes, more than "
                                f"{ops.MAX_RECORD_BYTES}: {ops.RECORD_LIMIT_WHY}")
            return
        self.record_bytes += record
        if self.record_bytes > ops.REQUEST_RECORD_LIMIT:
            self._problem(path, f"records: the records up to this step add up to {self.record_bytes} bytes, more "
                                f"than the {ops.REQUEST_RECORD_LIMIT} (16 MiB) one case may append")
            self.record_bytes = -(1 << 62)   # reported at the first step over the limit only

    def _record(self, index: int, op: Op, args: dict, save: dict) -> None:
        stream = self._stream_of(op, args)
        for param in op.params:
            if param.kind == "define" and param.name in args:
                name = args[param.name]
                self.objects.setdefault(name, (param.object_kind, index))
                self.all_objects.setdefault(name, param.object_kind)
                if param.object_kind == ops.LOG:
                    self.streams.setdefault(name, str(args.get("path") or name).casefold())
                elif stream is not None:
                    self.streams.setdefault(name, stream)
        for name, output in save.items():
            sizes = args.get("record_sizes")
            records = len(sizes) if op.name == "align_reserved_log" and sizes is not None else None
            self.saved[name] = _Saved(index, op.name, output, records, ops.output_kind(output), stream)

    def _stream_of(self, op: Op, args: dict) -> str | None:
        """The stream a step works on: that of the first object it refers to, if known."""
        for param in op.params:
            if param.kind == "ref" and isinstance(args.get(param.name), str):
                stream = self.streams.get(args[param.name])
                if stream is not None:
                    return stream
        return None


class _Bad:
    """Marks a parameter whose problem has been reported (None can be a real value)."""


_BAD = _Bad()
