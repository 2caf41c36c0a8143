"""The schema keeps API.md §4's names, and no field ships without a rule.

The names are introspected from the running app over HTTP, as a client tool would see them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
)

from staffgraph.schema import build_schema, schema_sdl

ROOT = Path(__file__).resolve().parent.parent

# API.md §4: type -> field -> argument names
OBJECT_FIELDS: dict[str, dict[str, set[str]]] = {
    "Query": {
        "me": set(),
        "user": {"id"},
        "users": {"first", "after", "last", "before", "filter"},
        "department": {"id"},
        "departments": set(),
        "auditEvents": {"first", "after", "last", "before", "action"},
        "node": {"id"},
        "nodes": {"ids"},
    },
    "User": {
        name: set()
        for name in [
            "id",
            "displayName",
            "email",
            "jobTitle",
            "department",
            "manager",
            "reports",
            "createdAt",
            "roles",
            "isActive",
            "phone",
            "homeAddress",
            "dateOfBirth",
            "salary",
            "lastLoginAt",
            "reviews",
            "sessions",
            "viewerCan",
        ]
    },
    "UserCapabilities": {
        n: set() for n in ["read", "update", "setSalary", "setRoles", "deactivate", "review"]
    },
    "Department": {
        "id": set(),
        "name": set(),
        "head": set(),
        "members": {"first", "after", "last", "before"},
    },
    "Review": {
        n: set()
        for n in [
            "id",
            "subject",
            "reviewer",
            "period",
            "rating",
            "summary",
            "shared",
            "createdAt",
            "viewerCanShare",
        ]
    },
    "Session": {
        n: set()
        for n in [
            "id",
            "createdAt",
            "lastUsedAt",
            "expiresAt",
            "userAgent",
            "ipAddress",
            "current",
            "viewerCanRevoke",
        ]
    },
    "AuditEvent": {
        n: set() for n in ["id", "at", "action", "actor", "targetId", "ipAddress", "detail"]
    },
    "UserConnection": {"edges": set(), "pageInfo": set(), "totalCount": set()},
    "UserEdge": {"node": set(), "cursor": set()},
    "AuditEventConnection": {"edges": set(), "pageInfo": set(), "totalCount": set()},
    "AuditEventEdge": {"node": set(), "cursor": set()},
    "PageInfo": {
        "hasNextPage": set(),
        "hasPreviousPage": set(),
        "startCursor": set(),
        "endCursor": set(),
    },
    "AuthPayload": {
        n: set() for n in ["accessToken", "refreshToken", "tokenType", "expiresIn", "user"]
    },
    "Mutation": {
        "login": {"email", "password"},
        "refreshToken": {"refreshToken"},
        "exchangeOAuthCode": {"code"},
        "logout": set(),
        "logoutAll": set(),
        "revokeSession": {"id"},
        "changePassword": {"currentPassword", "newPassword"},
        "updateMyProfile": {"input"},
        "createUser": {"input"},
        "updateUser": {"id", "input"},
        "setSalary": {"userId", "salary"},
        "setRoles": {"userId", "roles"},
        "deactivateUser": {"userId"},
        "createDepartment": {"name", "headId"},
        "createReview": {"input"},
        "shareReview": {"id"},
    },
}
INPUT_FIELDS: dict[str, set[str]] = {
    "UserFilter": {"search", "departmentId", "managerId", "isActive"},
    "MyProfileInput": {"displayName", "phone", "homeAddress"},
    "CreateUserInput": {
        "email",
        "displayName",
        "password",
        "jobTitle",
        "departmentId",
        "managerId",
    },
    "UpdateUserInput": {
        "jobTitle",
        "departmentId",
        "managerId",
        "phone",
        "homeAddress",
        "dateOfBirth",
    },
    "CreateReviewInput": {"subjectId", "period", "rating", "summary"},
}
ENUM_VALUES: dict[str, set[str]] = {
    "Role": {"EMPLOYEE", "MANAGER", "HR", "ADMIN"},
    "AuditAction": set(
        [
            "LOGIN_SUCCEEDED",
            "LOGIN_FAILED",
            "TOKEN_REFRESHED",
            "REFRESH_TOKEN_REUSED",
            "LOGOUT",
            "PASSWORD_CHANGED",
            "ROLES_CHANGED",
            "USER_CREATED",
            "USER_UPDATED",
            "USER_DEACTIVATED",
            "SALARY_CHANGED",
            "ACCESS_DENIED",
            "OAUTH_LINKED",
        ]
    ),
}
# API.md §4's rule comments, as the names each field's rule mentions
RULE_NAMES: dict[tuple[str, str], set[str]] = {
    ("Query", "me"): {"anyone"},
    ("Query", "user"): {"authenticated"},
    ("Query", "users"): {"authenticated"},
    ("Query", "department"): {"authenticated"},
    ("Query", "departments"): {"authenticated"},
    ("Query", "auditEvents"): {"ADMIN"},
    ("Query", "node"): {"authenticated"},
    ("Query", "nodes"): {"authenticated"},
    ("User", "viewerCan"): {"authenticated"},
    **{
        ("User", f): {"authenticated"}
        for f in [
            "id",
            "displayName",
            "email",
            "jobTitle",
            "department",
            "manager",
            "reports",
            "createdAt",
        ]
    },
    ("User", "roles"): {"self", "HR", "ADMIN"},
    ("User", "isActive"): {"HR", "ADMIN"},
    ("User", "phone"): {"self", "management chain", "HR"},
    ("User", "homeAddress"): {"self", "HR"},
    ("User", "dateOfBirth"): {"self", "HR"},
    ("User", "salary"): {"self", "HR", "MANAGER", "management chain"},
    ("User", "lastLoginAt"): {"self", "ADMIN"},
    ("User", "reviews"): {"self", "management chain", "HR"},
    ("User", "sessions"): {"self", "ADMIN"},
    ("Mutation", "login"): {"anyone"},
    ("Mutation", "refreshToken"): {"anyone"},
    ("Mutation", "exchangeOAuthCode"): {"anyone"},
    ("Mutation", "logout"): {"authenticated"},
    ("Mutation", "logoutAll"): {"authenticated"},
    ("Mutation", "changePassword"): {"authenticated"},
    ("Mutation", "updateMyProfile"): {"authenticated"},
    ("Mutation", "createUser"): {"HR", "ADMIN"},
    ("Mutation", "updateUser"): {"HR"},
    ("Mutation", "setSalary"): {"HR"},
    ("Mutation", "setRoles"): {"ADMIN"},
    ("Mutation", "deactivateUser"): {"HR", "ADMIN"},
    ("Mutation", "createDepartment"): {"HR", "ADMIN"},
    ("Mutation", "createReview"): {"MANAGER", "management chain"},
}


@pytest.fixture
async def client_schema(client) -> GraphQLSchema:
    """The schema as GraphiQL or a code generator sees it, introspected over HTTP."""
    response = await client.post("/graphql", json={"query": get_introspection_query()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return build_client_schema(body["data"])


def user_type(schema: GraphQLSchema, name: str = "User") -> Any:
    """An object type of the introspected schema."""
    found = schema.get_type(name)
    assert isinstance(found, GraphQLObjectType), name
    return found


def rule_names(rule: str) -> set[str]:
    """The names a rule expression grants through: ``self | HR | (MANAGER & management chain)``.

    Restrictions (``HR & not self``) only narrow a rule, so they are left out.
    """
    parts = {part.strip() for part in re.split(r"[|&()]", rule) if part.strip()}
    return {part for part in parts if not part.startswith("not ")}


def _guarded_fields() -> list[tuple[str, Any]]:
    """(type name, strawberry field) of every object type's field, the roots included."""
    schema = build_schema()
    fields = []
    for name, entry in schema.schema_converter.type_map.items():
        definition = entry.definition
        if getattr(definition, "is_input", True) or name.startswith("__"):
            continue
        fields += [(name, f) for f in definition.fields]
    return fields


def _requires(field: Any) -> str | None:
    rules = [d.rule for d in field.directives if type(d).__name__ == "Requires"]
    assert len(rules) <= 1
    return rules[0] if rules else None


@pytest.mark.parametrize("type_name", sorted(OBJECT_FIELDS))
async def test_object_types_have_the_contract_fields_and_arguments(client_schema, type_name):
    graphql_type = client_schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType), type_name
    for field_name, arguments in OBJECT_FIELDS[type_name].items():
        assert field_name in graphql_type.fields, f"{type_name}.{field_name}"
        assert arguments <= set(graphql_type.fields[field_name].args), f"{type_name}.{field_name}"


@pytest.mark.parametrize("type_name", sorted(INPUT_FIELDS))
async def test_input_types_have_the_contract_fields(client_schema, type_name):
    graphql_type = client_schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLInputObjectType), type_name
    assert INPUT_FIELDS[type_name] <= set(graphql_type.fields)


@pytest.mark.parametrize("type_name", sorted(ENUM_VALUES))
async def test_enums_have_the_contract_values(client_schema, type_name):
    graphql_type = client_schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLEnumType), type_name
    assert ENUM_VALUES[type_name] <= set(graphql_type.values)


async def test_contract_types_and_nullability(client_schema):
    """A few shapes clients depend on: non-null lists, nullable guarded fields, defaults."""
    query = client_schema.query_type
    assert str(query.fields["me"].type) == "User"
    assert str(query.fields["users"].type) == "UserConnection!"
    assert str(query.fields["departments"].type) == "[Department!]!"
    # Relay connections: `last` alone pages backward, so `first` has no schema default; the
    # default page size of API.md §4 is the one used when neither is given
    for connection, default in (
        (query.fields["users"], 20),
        (query.fields["auditEvents"], 50),
        (client_schema.get_type("Department").fields["members"], 20),
    ):
        for name in ("first", "last"):
            assert str(connection.args[name].type) == "Int"
            assert not isinstance(connection.args[name].default_value, int)
        assert f"{default} when neither `first` nor `last` is given" in (
            connection.args["first"].description or ""
        )
    node = client_schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    assert {t.name for t in client_schema.get_possible_types(node)} == {
        "User",
        "Department",
        "Review",
    }
    assert str(query.fields["node"].type) == "Node"
    assert str(query.fields["nodes"].type) == "[Node]!"
    assert str(query.fields["nodes"].args["ids"].type) == "[ID!]!"
    page_info = client_schema.get_type("PageInfo")
    assert str(page_info.fields["hasPreviousPage"].type) == "Boolean!"
    assert str(page_info.fields["startCursor"].type) == "String"
    assert str(user_type(client_schema).fields["viewerCan"].type) == "UserCapabilities!"
    assert str(user_type(client_schema, "UserCapabilities").fields["read"].type) == "[String!]!"
    user = client_schema.get_type("User")
    assert str(user.fields["id"].type) == "ID!"
    assert str(user.fields["reports"].type) == "[User!]!"
    for guarded in ("roles", "isActive", "phone", "homeAddress", "salary", "reviews", "sessions"):
        assert not str(user.fields[guarded].type).endswith("!"), guarded  # null when denied
    mutation = client_schema.mutation_type
    assert str(mutation.fields["login"].type) == "AuthPayload!"
    assert str(mutation.fields["logoutAll"].type) == "Int!"
    assert str(mutation.fields["setRoles"].args["roles"].type) == "[Role!]!"


def test_every_object_field_and_mutation_carries_a_rule():
    fields = _guarded_fields()
    assert len(fields) > 60
    unguarded = [f"{t}.{f.graphql_name or f.python_name}" for t, f in fields if not _requires(f)]
    assert unguarded == []


def test_every_rule_is_told_in_the_description():
    for type_name, field in _guarded_fields():
        rule = _requires(field)
        description = field.description or ""
        if rule == "parent":
            sentence = "Readable by whoever may read the field that returned it."
        else:
            verb = "Allowed for" if type_name == "Mutation" else "Readable by"
            sentence = f"{verb}: {rule}."
        assert sentence in description, f"{type_name}.{field.python_name}: {description!r}"


async def test_directives_and_rules_reach_the_client(client_schema):
    """The rules of API.md's table, read from the introspected descriptions."""
    for (type_name, field_name), names in RULE_NAMES.items():
        description = client_schema.get_type(type_name).fields[field_name].description or ""
        match = re.search(r"(?:Readable by|Allowed for): (.+)\.$", description)
        assert match, f"{type_name}.{field_name}: {description!r}"
        assert rule_names(match.group(1)) == names, f"{type_name}.{field_name}"


def test_admin_alone_may_not_read_salaries():
    rules = {(t, f.graphql_name or f.python_name): _requires(f) for t, f in _guarded_fields()}
    salary = rules[("User", "salary")]
    assert "ADMIN" not in rule_names(salary)
    # MANAGER is tied to the chain, never enough on its own
    assert "MANAGER" in salary
    assert "MANAGER &" in salary.replace("(", "")


def test_printed_sdl_shows_the_directive_on_every_field():
    sdl = schema_sdl()
    assert "directive @requires(rule: String!) on FIELD_DEFINITION" in sdl
    assert '  salary: Int @requires(rule: "' in sdl
    assert '  createUser(input: CreateUserInput!): User! @requires(rule: "' in sdl


def test_committed_schema_is_current():
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema_sdl(), "run `staffgraph export-schema > schema.graphql`"
