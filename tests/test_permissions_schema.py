"""Deny by default: every field of the schema carries an explicit rule, shown and enforced.

These tests read the rules metadata that :func:`staffgraph.permissions.guarded` attaches, so
a field added without it, or whose directive, description and resolver disagree, fails here.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    parse,
    print_ast,
)

from staffgraph.context import Context, Viewer
from staffgraph.errors import Forbidden, Unauthenticated
from staffgraph.loaders import Loaders
from staffgraph.permissions.guard import GUARD_KEY, Guard
from staffgraph.permissions.install import guard_of, guarded_fields
from staffgraph.schema import build_schema, schema_sdl

SCHEMA = build_schema()
FIELDS = guarded_fields(SCHEMA)
IDS = [f"{type_name}.{field_name}" for type_name, field_name, _, _ in FIELDS]


def directive_rule(graphql_field: Any) -> str | None:
    definition = graphql_field.extensions["strawberry-definition"]
    for directive in definition.directives:
        if type(directive).__name__ == "Requires":
            return str(directive.rule)
    return None


def test_the_walk_covers_the_whole_schema():
    names = {type_name for type_name, *_ in FIELDS}
    assert {"Query", "Mutation", "User", "Department", "Review", "Session", "AuditEvent"} <= names
    assert len(FIELDS) > 70


@pytest.mark.parametrize(("type_name", "field_name", "graphql_field", "guard"), FIELDS, ids=IDS)
def test_every_field_has_a_rule(type_name, field_name, graphql_field, guard):
    assert isinstance(guard, Guard), (
        f"{type_name}.{field_name} has no rule: build it with guarded()"
    )


INTERFACE_FIELDS = [
    (type_name, field_name, graphql_field)
    for type_name, graphql_type in SCHEMA._schema.type_map.items()
    if isinstance(graphql_type, GraphQLInterfaceType)
    for field_name, graphql_field in graphql_type.fields.items()
]


def test_interface_fields_have_a_rule_and_state_it():
    assert ("Node", "id") in {(t, f) for t, f, _ in INTERFACE_FIELDS}
    for type_name, field_name, graphql_field in INTERFACE_FIELDS:
        guard = guard_of(graphql_field)
        assert isinstance(guard, Guard), f"{type_name}.{field_name} has no rule"
        assert directive_rule(graphql_field) == guard.rule.label
        assert (graphql_field.description or "").endswith(f"Readable by: {guard.rule.label}.")


@pytest.mark.parametrize(("type_name", "field_name", "graphql_field", "guard"), FIELDS, ids=IDS)
def test_directive_and_description_state_the_enforced_rule(
    type_name, field_name, graphql_field, guard
):
    assert directive_rule(graphql_field) == guard.rule.label
    description = graphql_field.description or ""
    if guard.rule.label == "parent":
        assert description.endswith("Readable by whoever may read the field that returned it.")
    else:
        verb = "Allowed for" if type_name == "Mutation" else "Readable by"
        assert description.endswith(f"{verb}: {guard.rule.label}.")


@pytest.mark.parametrize(("type_name", "field_name", "graphql_field", "guard"), FIELDS, ids=IDS)
def test_denial_messages_name_the_field(type_name, field_name, graphql_field, guard):
    if guard.resolve is not None:
        assert guard.field == field_name


@pytest.mark.parametrize(("type_name", "field_name", "graphql_field", "guard"), FIELDS, ids=IDS)
def test_a_rule_that_can_deny_is_checked_by_the_resolver_graphql_runs(
    type_name, field_name, graphql_field, guard
):
    if guard.rule.always_allows:
        return
    assert guard.resolve is not None
    if graphql_field.args or graphql_field.subscribe is not None:
        # strawberry's own path converts the arguments (or opens the event stream of a
        # subscription), then calls the guard
        definition = graphql_field.extensions["strawberry-definition"]
        assert definition.base_resolver.wrapped_func is guard.resolve
    else:
        # installed straight into graphql-core by install_guards
        assert graphql_field.resolve.__dict__.get(GUARD_KEY) is guard


def _request(viewer: Viewer | None) -> Any:
    ctx = Context(services=None, loaders=Loaders(), viewer=viewer)  # type: ignore[arg-type]
    ctx._subordinates = frozenset()  # manages nobody
    return SimpleNamespace(context=ctx)


def _root() -> Any:
    other = uuid.uuid4()
    return SimpleNamespace(
        id=other, user_id=other, reviewer_id=other, subject_id=other, manager_id=None
    )


async def _run(graphql_field: Any, guard: Guard, info: Any) -> Any:
    """Call the resolver graphql-core runs for this field (the guard for fields with
    arguments, which strawberry calls once it has converted them)."""
    assert guard.resolve is not None
    if graphql_field.subscribe is not None:
        result = guard.resolve(info=info)  # a Subscription field's stream has no parent
    elif not graphql_field.args:
        result = graphql_field.resolve(_root(), info)
    elif guard.attr is not None:
        result = guard.resolve(_root(), info)
    else:
        result = guard.resolve(root=_root(), info=info)
    return await result if hasattr(result, "__await__") else result


DENYING = [f for f in FIELDS if f[3] is not None and not f[3].rule.always_allows]


@pytest.mark.parametrize(
    ("type_name", "field_name", "graphql_field", "guard"),
    DENYING,
    ids=[f"{t}.{f}" for t, f, _, _ in DENYING],
)
async def test_the_resolver_refuses_an_anonymous_viewer(
    type_name, field_name, graphql_field, guard
):
    with pytest.raises(Unauthenticated):
        await _run(graphql_field, guard, _request(None))


@pytest.mark.parametrize(
    ("type_name", "field_name", "graphql_field", "guard"),
    DENYING,
    ids=[f"{t}.{f}" for t, f, _, _ in DENYING],
)
async def test_the_resolver_enforces_the_rule_it_prints(
    type_name, field_name, graphql_field, guard
):
    # a signed-in viewer with no role, who is nobody's self, manager or reviewer
    first = guard.checked_first
    if first.label == "authenticated":
        return  # only the target can decide: covered by the mutation tests
    nobody = Viewer(uuid.uuid4(), uuid.uuid4(), frozenset())
    with pytest.raises(Forbidden) as denied:
        await _run(graphql_field, guard, _request(nobody))
    assert denied.value.extensions["rule"] == directive_rule(graphql_field)
    assert f"{field_name} requires {guard.rule.label}" in denied.value.message


def _named(graphql_type: Any) -> Any:
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        graphql_type = graphql_type.of_type
    return graphql_type


def test_types_readable_via_parent_are_only_reached_through_a_rule():
    """A type whose fields say "parent" must be returned only by fields that have a rule of
    their own, or by "parent" fields of a type that is itself reached that way."""
    parent_only = {
        type_name
        for type_name, _, _, guard in FIELDS
        if guard is not None and guard.rule.label == "parent"
    }
    returned_by: dict[str, list[tuple[str, Guard | None]]] = {}
    for type_name, _, graphql_field, guard in FIELDS:
        named = _named(graphql_field.type)
        # a field returning an interface (`node`) reaches every type implementing it
        reached = (
            SCHEMA._schema.get_possible_types(named)
            if isinstance(named, GraphQLInterfaceType)
            else [named]
        )
        for object_type in reached:
            if isinstance(object_type, GraphQLObjectType):
                returned_by.setdefault(object_type.name, []).append((type_name, guard))

    def reached_through_rule(name: str, seen: frozenset[str]) -> bool:
        for owner, guard in returned_by.get(name, []):
            if guard is None:
                return False
            if guard.rule.label == "parent" and (
                owner in seen or not reached_through_rule(owner, seen | {owner})
            ):
                return False
        return bool(returned_by.get(name))

    for name in parent_only:
        assert reached_through_rule(name, frozenset({name})), name


def test_every_mutation_checks_something_before_running():
    mutations = [f for f in FIELDS if f[0] == "Mutation"]
    assert len(mutations) >= 16
    open_to_all = {"login", "refreshToken", "exchangeOAuthCode"}
    for _, field_name, _, guard in mutations:
        assert guard is not None
        if field_name not in open_to_all:
            assert not guard.rule.always_allows, field_name


def test_the_printed_schema_carries_every_directive():
    printed: dict[tuple[str, str], list[str]] = {}
    for definition in parse(schema_sdl()).definitions:
        if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            for field in definition.fields or ():
                printed[(definition.name.value, field.name.value)] = [
                    print_ast(directive) for directive in field.directives or ()
                ]
    for type_name, field_name, _, guard in FIELDS:
        assert guard is not None
        expected = f'@requires(rule: "{guard.rule.label}")'
        assert expected in printed[(type_name, field_name)], (
            f"{type_name}.{field_name} prints without {expected}"
        )
    # interface fields carry a rule of their own too
    assert printed[("Node", "id")] == ['@requires(rule: "authenticated")']
