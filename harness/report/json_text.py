"""``json.dumps(value, indent=2, sort_keys=True)``, the same text, about twice as fast.

With ``indent`` set, Python's json module (before 3.13) leaves its C encoder for a generator per
nesting level and a yield per token: writing the results of a 5,000-case run took 0.8 s of a
10 s run. This writer builds the same text from a list of strings, turning scalars with the same
functions the json module uses, and a container whose members are all scalars in one join.
Anything it does not handle the same way (keys that are not strings, subclasses, a cycle) goes
to ``json.dumps`` whole, so the text is always what ``json.dumps`` writes.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii as _string


def _float(value: float) -> str:
    # As json.encoder's floatstr with allow_nan=True.
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return float.__repr__(value)


_SCALARS = {str: _string, int: int.__repr__, float: _float, bool: lambda v: "true" if v else "false",
            type(None): lambda v: "null"}


class _Fallback(Exception):
    """A value this writer does not turn the way json.dumps does."""


def dumps_indent2_sorted(value) -> str:
    """The text of ``json.dumps(value, indent=2, sort_keys=True)``.

    Raises:
        TypeError, ValueError: as json.dumps does (a value it cannot write, a cycle).
    """
    try:
        return _Writer().text(value)
    except (_Fallback, RecursionError):
        return json.dumps(value, indent=2, sort_keys=True)


class _Writer:
    def __init__(self):
        self.out: list[str] = []

    def text(self, value) -> str:
        self._value(value, "")
        return "".join(self.out)

    def _value(self, value, indent: str) -> None:
        scalar = _SCALARS.get(type(value))
        if scalar is not None:
            self.out.append(scalar(value))
        elif type(value) is dict:
            self._dict(value, indent)
        elif type(value) is list or type(value) is tuple:
            self._list(value, indent)
        else:
            raise _Fallback

    def _dict(self, value: dict, indent: str) -> None:
        if not value:
            self.out.append("{}")
            return
        if any(type(key) is not str for key in value):
            raise _Fallback
        inner = indent + "  "
        keys = sorted(value)
        members = [value[key] for key in keys]
        if all(type(member) in _SCALARS for member in members):
            self.out.append("{\n" + inner + (",\n" + inner).join(
                [_string(key) + ": " + _SCALARS[type(member)](member) for key, member in zip(keys, members)])
                + "\n" + indent + "}")
            return
        self.out.append("{\n" + inner)
        for n, (key, member) in enumerate(zip(keys, members)):
            self.out.append((",\n" + inner if n else "") + _string(key) + ": ")
            self._value(member, inner)
        self.out.append("\n" + indent + "}")

    def _list(self, value, indent: str) -> None:
        if not value:
            self.out.append("[]")
            return
        inner = indent + "  "
        if all(type(member) in _SCALARS for member in value):
            self.out.append("[\n" + inner + (",\n" + inner).join([_SCALARS[type(m)](m) for m in value])
                            + "\n" + indent + "]")
            return
        self.out.append("[\n" + inner)
        for n, member in enumerate(value):
            if n:
                self.out.append(",\n" + inner)
            self._value(member, inner)
        self.out.append("\n" + indent + "]")
