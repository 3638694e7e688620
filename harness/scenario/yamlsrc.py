"""Source-mapped, safe YAML loading.

PyYAML's C parser composes the node graph (fast, and every node keeps its start mark); we
build plain Python values from it ourselves instead of using a constructor, so that:

* every value's position is kept in a side table keyed by its path in the document
  (``("steps", 2, "alloc_reserved_log", "records")`` -> line, column), which is how an error
  found later by the checker still names the file, line and column;
* only the standard safe tags are accepted: ``!!python/object`` and friends are refused
  outright, not merely left unconstructed;
* aliases are counted as they expand, so an alias bomb ("billion laughs") stops at a fixed
  node budget instead of eating memory;
* duplicate mapping keys are an error (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

try:  # The C parser is ~10x faster; fall back to the pure-Python one where libyaml is missing.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 1024 * 1024          # a scenario file is hand-written; 1 MiB is generous
MAX_NODES_PER_DOCUMENT = 100_000      # after alias expansion
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}

Path = tuple  # a path of mapping keys (str) and sequence indexes (int)


@dataclass
class YamlProblem(Exception):
    """A problem found while reading YAML, before any scenario checking."""
    line: int
    col: int
    message: str


@dataclass
class Document:
    """One YAML document as plain data plus where each part of it came from."""
    index: int                       # 1-based document number in the file
    data: object
    line: int                        # where the document's root node starts
    col: int
    locs: dict = field(default_factory=dict)      # path -> (line, col) of the value
    key_locs: dict = field(default_factory=dict)  # path -> (line, col) of the mapping key naming it

    def loc(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Position of ``path``; the nearest known ancestor when the path itself has none."""
        table = self.key_locs if key else self.locs
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if key and p in self.locs:
                return self.locs[p]
            p = p[:-1]
        return self.line, self.col


def decode_text(raw: bytes) -> str:
    """Decode a scenario file strictly as UTF-8 (a BOM is allowed).

    Raises:
        YamlProblem: at the line and column of the first byte that is not UTF-8.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(line, col, f"byte 0x{raw[exc.start]:02x} is not valid UTF-8; "
                                     "scenario files must be UTF-8 text") from None


def load_documents(text: str) -> list[Document]:
    """Parse every document in ``text``.

    Raises:
        YamlProblem: the first syntax error, or a refused construct (tag, alias bomb, duplicate key).
            Several semantic problems are the checker's job; a syntax error ends reading because
            nothing after it can be trusted.
    """
    documents: list[Document] = []
    try:
        for number, node in enumerate(yaml.compose_all(text, Loader=_Loader), start=1):
            if node is None:  # pragma: no cover - compose_all yields only documents with content
                continue
            builder = _Builder()
            data = builder.build(node, ())
            documents.append(Document(number, data, node.start_mark.line + 1, node.start_mark.column + 1,
                                      builder.locs, builder.key_locs))
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc, text) from None
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare (reader errors)
        raise YamlProblem(1, 1, f"YAML error: {exc}") from None
    return documents


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "syntax error"
    lines = text.splitlines()
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = source_line[: len(source_line) - len(source_line.lstrip(" \t"))]
    if "\t" in indent or "tab" in problem:
        message = "tab character in indentation; YAML indents with spaces only"
    else:
        message = f"YAML syntax error: {problem}"
        if exc.context:
            message += f" ({exc.context})"
    return YamlProblem(line, col, message)


class _Builder:
    """Turns a composed node graph into plain values, recording positions."""

    def __init__(self) -> None:
        self.locs: dict[Path, tuple[int, int]] = {}
        self.key_locs: dict[Path, tuple[int, int]] = {}
        self.count = 0
        self._constructor = yaml.SafeLoader("")  # used only for its scalar resolvers
        self._active: set[int] = set()

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> object:
        self.count += 1
        if self.count > MAX_NODES_PER_DOCUMENT:
            # Blame the top-level entry whose value expands, not whichever leaf tipped the count.
            line, col = self.key_locs.get(path[:1]) or self.locs.get(path[:1]) or (1, 1)
            raise YamlProblem(line, col, f"document expands to more than {MAX_NODES_PER_DOCUMENT} nodes "
                                         "(aliases multiply: an alias bomb?)")
        if depth > MAX_DEPTH:
            raise _at(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.locs[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:
            raise _at(node, "an alias refers to a node that contains it (recursive alias)")
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != f"{_TAG}seq":
                    raise _tag_refused(node)
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, depth)
        finally:
            self._active.discard(id(node))
        raise _at(node, "unsupported YAML node")  # pragma: no cover

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict:
        if node.tag != f"{_TAG}map":
            raise _tag_refused(node)
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _at(key_node, "mapping keys must be plain scalars")
            key = self._scalar(key_node)
            if not isinstance(key, (str, int, bool)) or isinstance(key, bool):
                key = str(key_node.value)
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                first_line = self.key_locs[path + (key,)][0]
                raise _at(key_node, f"duplicate key {key!r} (first given at line {first_line})")
            self.key_locs[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, path + (key,), depth + 1)
        return result

    def _scalar(self, node: yaml.ScalarNode) -> object:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            raise _tag_refused(node)
        if tag == f"{_TAG}str" or tag == f"{_TAG}timestamp":
            return node.value  # a date stays the text the author wrote
        if tag == f"{_TAG}null":
            return None
        if tag == f"{_TAG}bool":
            return self._constructor.construct_yaml_bool(node)
        if tag == f"{_TAG}int":
            return self._constructor.construct_yaml_int(node)
        return self._constructor.construct_yaml_float(node)


def _at(node: yaml.Node, message: str) -> YamlProblem:
    return YamlProblem(node.start_mark.line + 1, node.start_mark.column + 1, message)


def _tag_refused(node: yaml.Node) -> YamlProblem:
    shown = node.tag.replace(_TAG, "!!")
    return _at(node, f"tag {shown} is not allowed: scenario files are plain data (no language-specific tags)")
