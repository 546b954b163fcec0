"""
Safe YAML loading that remembers where every key and value was.

    data, problems = load_yaml(text, Path("report_defs/daily.yaml"))
    data.mark_of("columns")        # Mark of the value of 'columns'
    data["columns"].mark_of(2)     # Mark of the third column

Mappings load as MarkedDict and sequences as MarkedList; scalars are plain
Python values. A key given twice is a problem (PyYAML would keep the last).

A definition is small, and a hostile one must not take a worker down: files over
MAX_FILE_BYTES, YAML aliases (a few hundred bytes of them expand to gigabytes),
nesting deeper than MAX_DEPTH and values longer than MAX_VALUE_CHARS are refused
before anything is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .problems import ERROR_CHARS, Mark, Problem, cut, shown
from .quoting import yaml_problem

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 16
MAX_VALUE_CHARS = 4000


class LimitExceeded(Exception):
    """A definition over one of the loader's limits: the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class MarkedDict(dict):
    """A mapping from YAML with the marks of its keys and values."""

    mark: Mark
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]
    quoted: dict[Any, bool]
    comments: dict[Any, str]  # the comment after an unquoted value on its line
    flow: bool = False  # written {key: value, ...}: a comma ends a value there

    def mark_of(self, key: Any) -> Mark:
        return self.value_marks.get(key, self.mark)

    def key_mark_of(self, key: Any) -> Mark:
        return self.key_marks.get(key, self.mark)


class MarkedList(list):
    """A sequence from YAML with the marks of its items."""

    mark: Mark
    item_marks: list[Mark]
    quoted: list[bool]
    comments: dict[int, str]  # the comment after an unquoted item on its line

    def mark_of(self, index: int) -> Mark:
        if 0 <= index < len(self.item_marks):
            return self.item_marks[index]
        return self.mark


def _mark(file: Path | None, node: yaml.Node) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _is_quoted(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style in {"'", '"'}


def _comment_after(node: yaml.Node) -> str | None:
    """The comment after an unquoted value on its line: it may have cut the value."""
    end = node.end_mark
    if not isinstance(node, yaml.ScalarNode) or node.style or not isinstance(end.buffer, str):
        return None
    rest = end.buffer[end.pointer : end.buffer.find("\n", end.pointer)]
    match = re.match(r"[ \t]+#(.*)", rest)
    return match.group(1) if match else None


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds MarkedDict/MarkedList, reports duplicate keys, and
    refuses aliases, deep nesting and long values."""

    file: Path | None = None
    problems: list[Problem]
    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise LimitExceeded(
                Problem(
                    "E031",
                    f"The definition uses the YAML alias '*{cut(str(event.anchor), 40)}': aliases"
                    " are not allowed in definitions.",
                    Mark(self.file, event.start_mark.line + 1, event.start_mark.column + 1),
                    hint="Write the value out where it is needed (a value that starts with"
                    " '*' is quoted: '*...').",
                )
            )
        anchor = getattr(self.peek_event(), "anchor", None)
        if anchor is not None:
            # An anchor alone is harmless to YAML, but `value: &x > 1` silently loses '&x'.
            mark = self.peek_event().start_mark
            raise LimitExceeded(
                Problem(
                    "E031",
                    f"The definition uses the YAML anchor '&{cut(str(anchor), 40)}': anchors"
                    " and aliases are not allowed in definitions.",
                    Mark(self.file, mark.line + 1, mark.column + 1),
                    hint="A value that starts with '&' is quoted: '&...'.",
                )
            )
        if self.check_event(yaml.ScalarEvent):
            event = self.peek_event()
            if len(event.value) > MAX_VALUE_CHARS:
                raise LimitExceeded(
                    Problem(
                        "E034",
                        f"A value is {len(event.value):,} characters long; a definition's"
                        f" values may be at most {MAX_VALUE_CHARS:,}.",
                        Mark(self.file, event.start_mark.line + 1, event.start_mark.column + 1),
                    )
                )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise LimitExceeded(
                    Problem(
                        "E032",
                        f"The definition nests deeper than {MAX_DEPTH} levels.",
                        Mark(self.file, mark.line + 1, mark.column + 1),
                    )
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_yaml_map(self, node):
        data = MarkedDict()
        data.mark = _mark(self.file, node)
        data.key_marks, data.value_marks, data.quoted, data.comments = {}, {}, {}, {}
        data.flow = bool(node.flow_style)
        yield data
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found an unhashable key",
                    key_node.start_mark,
                )
            if key in data:
                self.problems.append(
                    Problem(
                        "E005",
                        f"The key {shown(key)} appears twice in the same mapping.",
                        _mark(self.file, key_node),
                        hint=f"It was first given on line {data.key_marks[key].line}.",
                    )
                )
                continue
            data[key] = self.construct_object(value_node, deep=True)
            data.key_marks[key] = _mark(self.file, key_node)
            data.value_marks[key] = _mark(self.file, value_node)
            data.quoted[key] = _is_quoted(value_node)
            if (comment := _comment_after(value_node)) is not None:
                data.comments[key] = comment

    def construct_yaml_seq(self, node):
        data = MarkedList()
        data.mark = _mark(self.file, node)
        data.item_marks = [_mark(self.file, item) for item in node.value]
        data.quoted = [_is_quoted(item) for item in node.value]
        data.comments = {
            index: comment
            for index, item in enumerate(node.value)
            if (comment := _comment_after(item)) is not None
        }
        yield data
        data.extend(self.construct_object(item, deep=True) for item in node.value)


# YAML 1.2 booleans: only true and false. yes/no/on/off stay strings ("no" is a label,
# "NO" is Norway), as a definition's author means them.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
# YAML 1.2 numbers (its core schema): no base 60, no underscores, no octal from a
# leading zero. Unquoted, `12:30` stays text, as it reads (YAML 1.1 made it the integer
# 750), `1_2` is text (not 12) and `010` is ten (not eight).
_NUMBERS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _NUMBERS]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9]+[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A date or datetime; one that does not exist (2026-02-30) stays text, for the
    value's own check to refuse at its line, as it refuses it quoted."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)


def too_large(size: int, file: Path | None) -> Problem:
    return Problem(
        "E030",
        f"The file is {size:,} bytes; a definition may be at most {MAX_FILE_BYTES:,}.",
        Mark(file),
    )


def load_yaml(text: str, file: Path | None = None) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; a syntax error is returned as a problem, not raised."""
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_FILE_BYTES:
        return None, [too_large(size, file)]
    loader = _Loader(text)
    loader.file = file
    loader.problems = []
    try:
        return loader.get_single_data(), loader.problems
    except LimitExceeded as exc:
        return None, [exc.problem]
    except yaml.MarkedYAMLError as exc:
        return None, [yaml_problem(exc, file)]
    except yaml.YAMLError as exc:
        return None, [Problem("E001", f"Invalid YAML: {cut(str(exc), ERROR_CHARS)}.", Mark(file))]
    finally:
        loader.dispose()
