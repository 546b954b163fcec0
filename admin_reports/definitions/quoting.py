"""
What YAML did to an unquoted value, and how to quote it.

    problem = yaml_problem(exc, file)     # a PyYAML syntax error, explained
    hint = comment_hint(container, key)   # a value a ' #' cut, quoted whole

An expression is plain text to YAML, and a few of its characters mean something else
there: ': ' and ' #' inside a value, a comma inside a flow mapping {...}, a quote,
'!', '%', '@', '|', '>' or a backtick at its start. PyYAML then says what it expected
("mapping values are not allowed here"); these say what happened to the value and
give it back quoted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

from .problems import ERROR_CHARS, Mark, Problem, cut

KEY = re.compile(r"([A-Za-z_][\w.]*):[ \t]+")  # a key and its ': ' on a line
RESERVED = {"@": "'@'", "`": "a backtick", "%": "'%'"}


def quote(value: str) -> str:
    """`value` as YAML reads it back: in double quotes, or in single ones with '' for '."""
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _quoted(text: str) -> str:
    """`text` quoted for a hint; a long one by its start (a hint shows, it does not carry)."""
    return quote(cut(text, ERROR_CHARS))


def _value_at(line: str, column: int) -> tuple[str, str, bool, int] | None:
    """(key, its value's text, in a flow mapping, where the value starts) of the
    `key: value` that `column` is in."""
    # the colon at `column` itself is the one YAML could not take as a key's
    found = [match for match in KEY.finditer(line) if match.end(1) < column]
    if not found:
        return None
    match = found[-1]
    flow = "{" in line[: match.start()]
    text = line[match.end() :].rstrip()
    if flow and text.endswith("}"):
        text = text[:-1].rstrip()
    return cut(match.group(1), 40), text, flow, match.end()


def _unquoted(text: str) -> str:
    """The value a quoted `text` meant: 'a'b'c' meant a'b'c."""
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _explain(problem: str, line: str, column: int) -> tuple[str, str, str] | None:
    """(id, message, hint) for a syntax error at `column` of `line`, when it is a quoting trap."""
    found = _value_at(line, column)
    if found is None:
        return None
    key, text, flow, start = found
    fix = f"Quote the value: {key}: "
    if text[:1] and text[0] in "'\"" and "'<scalar>'" in problem:
        return (
            "E001",
            f"Invalid YAML: the value of {key!r} starts with a quote, so YAML read the quoted"
            " part as the whole value and then found more text after it.",
            f"Quote the whole value with the other quote (inside single quotes, write ' as"
            f" ''): {key}: {_quoted(_unquoted(text))}.",
        )
    if flow and "," in line[start : column + 1]:
        return (
            "E056",
            f"The value of {key!r} was cut at a comma: in a flow mapping {{...}} a comma ends"
            f" a value, and YAML could not read what followed ({problem}).",
            fix + _quoted(text) + ".",
        )
    if "mapping values are not allowed" in problem:
        return (
            "E001",
            f"Invalid YAML: the unquoted value of {key!r} contains ': ', which YAML reads as"
            " the colon of a key.",
            fix + _quoted(text) + ".",
        )
    first = text[:1]
    if first in RESERVED and "cannot start any token" in problem:
        what = RESERVED[first]
        message = f"Invalid YAML: YAML reserves {what}: an unquoted value cannot start with it."
        return "E001", message, fix + _quoted(text) + "."
    if first == "!" and text[1:2] != "!" and "tag" in problem:  # '!!python/...' is meant
        message = "Invalid YAML: YAML reads a value that starts with '!' as a tag."
        return "E001", message, fix + _quoted(text) + "."
    if first and first in "|>" and "block scalar" in problem:
        message = (
            f"Invalid YAML: YAML reads a value that starts with {first!r} as a block of text."
        )
        return "E001", message, fix + _quoted(text) + "."
    return None


def yaml_problem(exc: yaml.MarkedYAMLError, file: Path | None) -> Problem:
    """The problem a YAML syntax error is, saying how to quote when quoting fixes it."""
    place = exc.problem_mark or exc.context_mark
    mark = Mark(file, place.line + 1, place.column + 1) if place else Mark(file)
    # PyYAML quotes what it could not read (a tag, a character) whole.
    problem = cut(": ".join(part for part in (exc.context, exc.problem) if part), ERROR_CHARS)
    buffer = getattr(place, "buffer", None)
    if place is not None and isinstance(buffer, str):
        line = buffer.split("\n")[place.line] if place.line < buffer.count("\n") + 1 else ""
        explained = _explain(problem, line.rstrip("\0"), place.column)
        if explained is not None:
            check_id, message, hint = explained
            return Problem(check_id, message, mark, hint=hint)
    return Problem("E001", f"Invalid YAML: {problem}.", mark)


def _parses(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def comment_hint(container: Any, key: Any) -> str | None:
    """For a value that does not parse: how to quote it, when a ' #' on its line cut it
    (the value with the comment put back parses)."""
    comment = getattr(container, "comments", {}).get(key)
    if comment is None:
        return None
    whole = f"{container[key]} #{comment}".strip()
    if _parses(str(container[key])) or not _parses(whole):
        return None
    name = f"{key}: " if isinstance(key, str) else ""
    return (
        f"YAML ended the value at ' #', which starts a comment: quote it, {name}{_quoted(whole)}."
    )
