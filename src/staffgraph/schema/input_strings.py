"""One check of every string the client sends, before any resolver runs.

PostgreSQL refuses NUL in text and no database stores a lone surrogate, so such a string would
otherwise surface as a 500 wherever a resolver forgot to clean it (``login(email:)``,
``user(id:)``, ``filter.search``...). Literals in the document and variable values are both
checked; the error names the argument path in ``extensions.field``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    ListValueNode,
    Node,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)

from staffgraph.errors import BadUserInput

#: no single input string needs more; per-field limits stay with the resolvers
MAX_INPUT_STRING_LENGTH = 10_000


def string_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted, or None."""
    if len(value) > MAX_INPUT_STRING_LENGTH:
        return f"is longer than {MAX_INPUT_STRING_LENGTH} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an invalid Unicode character (a lone surrogate)"
    return None


def check_input_strings(
    document: DocumentNode, variables: Mapping[str, Any] | None
) -> GraphQLError | None:
    """BAD_USER_INPUT for the first unacceptable string in the arguments or variables."""
    usages: dict[str, str] = {}
    for path, value in _literal_values(document, usages):
        problem = string_problem(value)
        if problem:
            return BadUserInput(f"{path} {problem}", field=path)
    for name, value in (variables or {}).items():
        for path, text in _strings(value, usages.get(name, name)):
            problem = string_problem(text)
            if problem:
                return BadUserInput(f"{path} {problem}", field=path)
    return None


def _literal_values(document: DocumentNode, usages: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(argument path, string) of every string literal; records where variables are used."""
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, ArgumentNode):
            yield from _value_strings(item.value, item.name.value, usages)
        elif isinstance(item, Node):
            stack.extend(getattr(item, key, None) for key in item.keys)
        elif isinstance(item, tuple | list):
            stack.extend(item)


def _value_strings(node: ValueNode, path: str, usages: dict[str, str]) -> Iterator[tuple[str, str]]:
    if isinstance(node, StringValueNode):
        yield path, node.value
    elif isinstance(node, VariableNode):
        usages.setdefault(node.name.value, path)
    elif isinstance(node, ListValueNode):
        for item in node.values:
            yield from _value_strings(item, path, usages)
    elif isinstance(node, ObjectValueNode):
        for field in node.fields:
            yield from _value_strings(field.value, f"{path}.{field.name.value}", usages)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) of every string inside a decoded JSON variable value."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, Mapping):
            stack.extend((f"{where}.{key}", inner) for key, inner in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((where, inner) for inner in item)
