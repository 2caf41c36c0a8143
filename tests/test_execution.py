"""The schema's executor answers exactly as strawberry's own: data, errors, paths, order.

:class:`~staffgraph.schema.execution.StaffExecutor` resolves plain leaves inline and does not
await rows. Every query below runs through it and through strawberry's executor, for every
viewer of the permission organisation, and the results must be identical: denials at guarded
fields, nulls, fragments, aliases, ``@skip``/``@include`` with variables, abstract types,
lists of lists (errors compared in a canonical order: see ``_answer``). A small schema of its
own then covers what the directory cannot produce: a null and a denial on non-null fields,
propagating to the nearest nullable parent.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from staffgraph.app import authenticate
from staffgraph.context import Context, Viewer
from staffgraph.loaders import Loaders
from staffgraph.permissions import ANYONE, guarded
from staffgraph.permissions import policy as p
from staffgraph.permissions.install import install_guards
from staffgraph.schema import build_schema
from staffgraph.schema.execution import StaffExecutor
from tests.permissions_org import VIEWERS, build_org

PEOPLE = "id displayName email jobTitle createdAt phone salary homeAddress dateOfBirth isActive"
QUERIES: list[tuple[str, dict[str, Any]]] = [
    (f"{{ me {{ {PEOPLE} lastLoginAt roles }} }}", {}),
    (
        f"{{ users(first: 50) {{ totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor "
        f"endCursor }} edges {{ cursor node {{ {PEOPLE} manager {{ id email salary }} "
        f"department {{ id name }} }} }} }} }}",
        {},
    ),
    (
        """query Q($skip: Boolean!, $inc: Boolean!, $n: Int) {
          users(first: $n) { edges { node {
            ...F a: email b: email @skip(if: $skip) c: phone @include(if: $inc)
            manager { ...F m: salary @include(if: $inc) }
            ... on User @skip(if: $skip) { lastLoginAt roles }
          } } }
        }
        fragment F on User { id displayName salary dateOfBirth __typename }""",
        {"skip": False, "inc": True, "n": 10},
    ),
    (
        """query Q($skip: Boolean!, $inc: Boolean!) {
          users { edges { node { ...F b: email @skip(if: $skip) c: phone @include(if: $inc) } } }
        }
        fragment F on User { id salary homeAddress }""",
        {"skip": True, "inc": False},
    ),
    (
        """{ departments { id name head { email phone salary }
             members(first: 3) { totalCount edges { node { email salary isActive } } } } }""",
        {},
    ),
    (
        """{ users(first: 20) { edges { node { id
             reviews { id period rating summary shared createdAt viewerCanShare
                       subject { email salary } reviewer { phone } }
             reports { phone salary reports { salary } }
             sessions { id current createdAt expiresAt userAgent ipAddress viewerCanRevoke }
             viewerCan { read update setSalary setRoles deactivate review }
        } } } }""",
        {},
    ),
    (
        """{ auditEvents(first: 10) { edges { node { id at action ipAddress detail targetId
             actor { email salary } } } } }""",
        {},
    ),
    ("{ __typename me { __typename id } }", {}),
]


@pytest.fixture
async def org(app):
    return await build_org(app)


def _answer(result: Any) -> dict[str, Any]:
    # errors in a canonical order: graphql-core lists them as fields complete, which for
    # awaited fields is the event loop's order (the spec leaves the order of errors open)
    errors = [error.formatted for error in result.errors or ()]
    return {
        "data": result.data,
        "errors": sorted(errors, key=lambda e: (repr(e.get("path")), e["message"])),
    }


async def _run(schema: Any, services: Any, token: str | None, query: str, variables: Any) -> Any:
    viewer, reason = authenticate(services, f"Bearer {token}" if token else None)
    context = Context(
        services=services, loaders=Loaders(), viewer=viewer, auth_error=reason, client_ip="::1"
    )
    return _answer(await schema.execute(query, variable_values=variables, context_value=context))


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_every_query_answers_alike_for_every_viewer(app, org, viewer):
    services = app.state.services
    fast = build_schema()
    plain = build_schema(execution_context_class=StrawberryGraphQLCoreExecutionContext)
    token = org.tokens.get(viewer)
    # the org's ids, for nodes(ids:) over every type
    ids = [str(u.id) for u in org.users.values()]
    ids += [str(org.department.id), str(org.shared_review.id), str(org.private_review.id)]
    corpus = [
        *QUERIES,
        (
            """query N($ids: [ID!]!) { nodes(ids: $ids) { __typename id
                 ... on User { email salary phone manager { salary } }
                 ... on Department { name members { edges { node { salary } } } }
                 ... on Review { rating summary subject { homeAddress } } } }""",
            {"ids": ids},
        ),
    ]
    answers = []
    for query, variables in corpus:
        expected = await _run(plain, services, token, query, variables)
        got = await _run(fast, services, token, query, variables)
        assert got == expected, query
        answers.append(got)
    # the corpus reaches denials for everyone (HR and ADMIN too: lastLoginAt, sessions...)
    assert any(answer["errors"] for answer in answers)


# A schema of its own, for nulls and denials on non-null leaves.


class Row:
    def __init__(self, name: str | None, secret: str | None) -> None:
        self.id = "1"
        self.name = name
        self.secret = secret


@strawberry.type
class Thing:
    name: str = guarded(ANYONE, "Non-null, sometimes null.", attr="name")
    secret: str = guarded(p.HR, "Non-null and guarded.", attr="secret")
    maybe: str | None = guarded(p.HR, "Nullable and guarded.", attr="secret")


@strawberry.type
class Holder:
    thing: Thing | None = guarded(ANYONE, "A thing.", attr="thing")
    things: list[Thing | None] = guarded(ANYONE, "Things.", attr="things")
    strict: list[Thing] | None = guarded(ANYONE, "Non-null things.", attr="things")


class HolderRow:
    def __init__(self) -> None:
        self.thing = Row(None, "x")
        self.things = [Row("a", "s"), Row(None, "t"), Row("c", None)]


@strawberry.type
class ThingQuery:
    @strawberry.field
    def holder(self) -> Holder | None:
        return HolderRow()  # type: ignore[return-value]


@pytest.mark.parametrize("roles", [frozenset(), frozenset({p.Role.HR})])
@pytest.mark.parametrize(
    "query",
    [
        "{ holder { thing { name } } }",
        "{ holder { thing { maybe secret } things { name maybe } } }",
        "{ holder { things { maybe secret name } strict { name } } }",
        "{ holder { strict { maybe } things { secret } } }",
        "{ a: holder { things { maybe } } b: holder { thing { maybe } } }",
    ],
)
async def test_nulls_and_denials_propagate_alike(app, roles, query):
    results = []
    viewer = Viewer(uuid.uuid4(), uuid.uuid4(), roles)
    for executor in (StaffExecutor, StrawberryGraphQLCoreExecutionContext):
        schema = strawberry.Schema(query=ThingQuery, execution_context_class=executor)
        install_guards(schema)
        context = Context(services=app.state.services, loaders=Loaders(), viewer=viewer)
        results.append(_answer(await schema.execute(query, context_value=context)))
    assert results[0] == results[1]
    if not roles:
        assert results[0]["errors"], "each query meets a denial"
