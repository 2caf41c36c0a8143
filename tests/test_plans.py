"""Compiled plans answer exactly as graphql-core: data, errors, paths, and what the operation
leaves behind (audit events, the operation's name for the log and metrics).

A document runs by its plan from its second request on (the first makes it known). Every query
of the executor's corpus, and more without variables, runs for every viewer of the permission
organisation through graphql-core (strawberry's own executor, no plans) and twice through the
schema with plans; the three answers must be identical. A small schema of its own then covers
what the directory cannot produce: nulls and denials on non-null fields, propagating to the
nearest nullable parent, from resolvers that answer at once and from ones that wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import parse
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from staffgraph.context import Context, Viewer
from staffgraph.loaders import Loaders
from staffgraph.models import AuditAction, AuditEvent
from staffgraph.permissions import ANYONE, guarded
from staffgraph.permissions import policy as p
from staffgraph.permissions.install import install_guards
from staffgraph.plans.compiler import Plan, compile_plan
from staffgraph.plans.runner import run_plan
from staffgraph.schema import build_schema, extensions, planned
from tests.conftest import gql
from tests.permissions_org import VIEWERS, build_org
from tests.test_execution import QUERIES, HolderRow, _answer, _run

PLANNED: list[str] = [
    "{ me { id displayName email jobTitle } }",
    "{ a: me { id } b: me { email salary } me { __typename id } }",
    """{ users(first: 50) { edges { node { id displayName email jobTitle createdAt phone salary
         manager { id displayName } department { id name } } } } }""",
    """query Page { users(first: 5) { totalCount pageInfo { hasNextPage endCursor }
         edges { cursor node { ...F manager { ...F } } } } }
       fragment F on User { id email salary phone homeAddress }""",
    """{ users(first: 3) { edges { node { id
         a: email @skip(if: true) b: email @include(if: true) c: phone @include(if: false)
         ... on User @skip(if: false) { roles lastLoginAt } } } } }""",
    """{ users(last: 2) { edges { node { id reports { id salary reports { salary } } } } }
         departments { id name head { phone } members(first: 2) { totalCount
           edges { node { email salary } } } } }""",
    """{ users(first: 10) { edges { node { id viewerCan { read update setSalary setRoles }
         reviews { id rating summary viewerCanShare subject { salary } reviewer { phone } }
         sessions { id current viewerCanRevoke } } } } }""",
    "{ auditEvents(first: 5) { edges { node { id action detail actor { email salary } } } } }",
]


#: documents with variables, each with several sets of values (the plan must depend on none)
WITH_VARIABLES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        """query P($n: Int, $after: String) { users(first: $n, after: $after) { totalCount
             pageInfo { hasNextPage endCursor }
             edges { cursor node { id salary phone manager { id salary } } } } }""",
        [{"n": 2}, {"n": 5}, {"n": 3, "after": None}, {}, {"n": -1}, {"n": "x"}, {"m": 1}],
    ),
    (
        """query D($first: Int!) { departments { id members(first: $first) { totalCount
             edges { node { email salary homeAddress } } } } }""",
        [{"first": 1}, {"first": 3}, {}],
    ),
    (
        "query U($id: ID!) { user(id: $id) { id email salary homeAddress manager { phone } } }",
        [{"id": "TARGET"}, {"id": "MANAGER"}, {"id": "not-an-id"}, {"id": None}],
    ),
]


@pytest.fixture
async def org(app):
    return await build_org(app)


def _with_ids(variables: dict[str, Any], org: Any) -> dict[str, Any]:
    names = {"TARGET": "target", "MANAGER": "manager"}
    return {k: org.id(names[v]) if v in names else v for k, v in variables.items()}


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_planned_queries_answer_as_graphql_core_for_every_viewer(
    app, org, viewer, monkeypatch
):
    services = app.state.services
    runs: list[str] = []

    async def counted(plan: Any, *args: Any) -> Any:
        runs.append(plan.operation.name.value if plan.operation.name else "-")
        return await run_plan(plan, *args)

    monkeypatch.setattr(planned, "run_plan", counted)
    plain = build_schema(plans=False, execution_context_class=StrawberryGraphQLCoreExecutionContext)
    fast = build_schema()
    token = org.tokens.get(viewer)
    corpus = [*QUERIES, *((query, {}) for query in PLANNED)]
    for query, variables in corpus:
        expected = await _run(plain, services, token, query, variables)
        first = await _run(fast, services, token, query, variables)
        second = await _run(fast, services, token, query, variables)
        assert first == expected, query
        assert second == expected, query
    for query, sets in WITH_VARIABLES:
        for values in sets:
            variables = _with_ids(values, org)
            expected = await _run(plain, services, token, query, variables)
            for _ in range(2):
                assert await _run(fast, services, token, query, variables) == expected, (
                    query,
                    variables,
                )
    assert fast.plans is not None
    compiled = [query for query in PLANNED if fast.plans.compiled(query, None)]
    assert compiled == PLANNED, "every query of PLANNED has a plan"
    # and ran by it from its second request on, with every set of variables they accept
    # (P: all but {"n": "x"}; D: but {}; U: but {"id": None})
    assert runs.count("Page") == 1
    assert runs.count("P") == 11
    assert runs.count("D") == 3
    assert runs.count("U") == 5


def _page_alone(query: str) -> bool:
    operation = parse(query).definitions[0]
    return [field.name.value for field in operation.selection_set.selections] == ["users"]


async def _denials() -> list[tuple[Any, ...]]:
    events = await AuditEvent.filter(action=AuditAction.ACCESS_DENIED)
    return sorted((str(e.actor_id), str(e.target_id), e.detail) for e in events)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_a_page_reading_the_subtree_itself_answers_as_the_subtree_read_first(
    app, org, viewer, monkeypatch
):
    # where reads wait for a server (PostgreSQL) a page of users alone reads the viewer's
    # management subtree in its own statement; everything it answers and audits must be what
    # the subtree read before the page gives (on SQLite both runs read it first)
    services = app.state.services
    schemas = [
        build_schema(),
        build_schema(plans=False, execution_context_class=StrawberryGraphQLCoreExecutionContext),
    ]
    token = org.tokens.get(viewer)
    pages = [(q, v) for q, v in QUERIES if _page_alone(q)]
    pages += [(q, {}) for q in PLANNED if _page_alone(q)]
    pages += [(q, _with_ids(v, org)) for q, sets in WITH_VARIABLES if _page_alone(q) for v in sets]
    assert len(pages) >= 8

    async def answers() -> list[Any]:
        found = []
        for schema in schemas:
            for query, variables in pages:
                for _ in range(2):  # the second by the plan
                    before = await _denials()
                    answer = await _run(schema, services, token, query, variables)
                    after = await _denials()
                    found.append((query, variables, answer, len(after) - len(before)))
        return found

    with_page = await answers()
    denials_with_page = await _denials()
    for module in (planned, extensions):
        monkeypatch.setattr(module, "subtree_read_with_page", lambda operation: False)
    first = await answers()
    assert with_page == first
    assert await _denials() == sorted(denials_with_page * 2)


@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        ("query Q($s: Boolean!) { me { id email @skip(if: $s) } }", None),
        ("query Q($s: Boolean!) { me { ...F @include(if: $s) } } fragment F on User { id }", None),
        ("mutation { logout }", None),
        ("subscription { userUpdated { id } }", None),
        ("{ __schema { queryType { name } } }", None),
        ('{ me { id } __type(name: "User") { name } }', None),
        ('{ nodes(ids: ["x"]) { id } }', None),
        ("query A { me { id } } query B { me { email } }", "C"),
    ],
)
async def test_what_a_plan_does_not_cover_stays_with_graphql_core(app, query, operation_name):
    schema = build_schema()
    assert compile_plan(schema._schema, parse(query), operation_name) is None


async def test_a_plan_of_one_named_operation_among_several(app, org):
    schema = build_schema()
    document = "query A { me { id } } query B { me { email salary } }"
    plan = compile_plan(schema._schema, parse(document), "B")
    assert plan is not None
    assert plan.operation.name is not None
    assert plan.operation.name.value == "B"
    assert plan.selected == {"me", "email", "salary"}


async def test_a_planned_denial_writes_its_audit_events_once(client, org):
    query = "{ users(first: 10) { edges { node { id salary homeAddress } } } }"
    counts, bodies = [], []
    for _ in range(3):  # the first by graphql-core, then by the plan
        bodies.append(await gql(client, query, token=org.token("colleague")))
        counts.append(await AuditEvent.filter(action=AuditAction.ACCESS_DENIED).count())
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["errors"], "the colleague is denied salaries and addresses"
    per_request = counts[0]
    assert per_request > 0
    assert counts == [per_request, 2 * per_request, 3 * per_request]


async def test_a_planned_operation_is_named_in_the_access_log(client, org, caplog):
    caplog.set_level(logging.INFO, logger="staffgraph.access")
    query = "query WhoAmI { me { id } }"
    for _ in range(2):
        await gql(client, query, token=org.token("hr"))
    operations = [
        getattr(record, "operation", None)
        for record in caplog.records
        if record.name == "staffgraph.access"
    ]
    assert operations[-2:] == ["WhoAmI", "WhoAmI"]


#: request bodies the view's own path must answer (answer_planned declines them)
DECLINED: list[bytes] = [
    b'{"query": "{ me { id } }", "extensions": {"persistedQuery": {"version": 1}}}',
    b'{"query": "{ me { id } }", "documentId": "sha256:00"}',
    b'{"query": "{ me { id } }", "unknown": 1}',
    b'[{"query": "{ me { id } }"}]',
    b'{"query": 1}',
    b'{"query": "{ me { id } }", "variables": []}',
    b'{"query": "{ me { id } }", "operationName": 7}',
    b'{"query": "{ me { id } }", "variables": {"n": NaN}}',
    b'{"query": "{ me { id } }"',
    b'"{ me { id } }"',
    b'{"query": "mutation { revokeSession(id: \\"00000000-0000-0000-0000-000000000000\\") }"}',
    b'{"query": "{ __schema { queryType { name } } }"}',
    b'{"query": "query A { me { id } } query B { me { email } }"}',
]


def _http_answer(response: Any) -> tuple[int, str, Any]:
    return response.status_code, response.headers["content-type"], response.json()


@pytest.mark.parametrize("viewer", ["hr", "manager", "colleague", None])
@pytest.mark.parametrize("accept", [None, "application/graphql-response+json"])
async def test_plain_requests_of_known_queries_answer_as_the_view(
    client, org, viewer, accept, monkeypatch
):
    # the view's own path (answer_planned declining everything), then the same request again
    # with answer_planned: status, media type and body identical, and answered by it
    from staffgraph.app import StaffGraphView

    answered: list[bytes] = []
    direct = StaffGraphView.answer_planned

    async def counted(self: StaffGraphView, request: Any) -> Any:
        response = await direct(self, request)
        if response is not None:
            answered.append(await request.body())
        return response

    async def declined(self: StaffGraphView, request: Any) -> None:
        return None

    headers = {"content-type": "application/json"}
    if accept:
        headers["accept"] = accept
    token = org.tokens.get(viewer) if viewer else None
    if token:
        headers["authorization"] = f"Bearer {token}"
    bodies = [json.dumps({"query": query}).encode() for query in PLANNED]
    refused = []  # what the variables coercion refuses: P with {"n": "x"}, D with {}, U with null
    for query, sets in WITH_VARIABLES:
        for values in sets:
            body = json.dumps({"query": query, "variables": _with_ids(values, org)}).encode()
            bodies.append(body)
            if values in ({"n": "x"}, {}, {"id": None}) and (values or "$first" in query):
                refused.append(body)
    bodies.append(
        b'{"query": "query A { me { id } } query B { me { email } }", '
        b'"operationName": "B", "variables": null, "extensions": {}}'
    )
    for body in [*bodies, *DECLINED]:
        monkeypatch.setattr(StaffGraphView, "answer_planned", declined)
        expected = _http_answer(await client.post("/graphql", content=body, headers=headers))
        monkeypatch.setattr(StaffGraphView, "answer_planned", counted)
        for _ in range(2):
            got = _http_answer(await client.post("/graphql", content=body, headers=headers))
            assert got == expected, body
    # every plain body of a query the plans cover, but what the coercion refuses
    assert len(refused) == 3
    assert set(answered) == set(bodies) - set(refused)


# A schema of its own, for nulls and denials on non-null fields, at once and after a wait.


async def _later(value: Any) -> Any:
    await asyncio.sleep(0)  # really waits: the plan must keep its place and come back
    if isinstance(value, Exception):
        raise value
    return value


#: the strawberry ``Info`` of every call of ``Thing.label``'s business resolver
LABEL_INFOS: list[Any] = []


def _label(root: Any, info: strawberry.Info) -> str | None:
    LABEL_INFOS.append(info)
    return root.secret  # type: ignore[no-any-return]


@strawberry.type
class Thing:
    name: str = guarded(ANYONE, "Non-null, sometimes null.", attr="name")
    label: str | None = guarded(p.HR, "A guarded resolver.", resolver=_label)
    secret: str = guarded(p.HR, "Non-null and guarded.", attr="secret")
    maybe: str | None = guarded(p.HR, "Nullable and guarded.", attr="secret")

    @strawberry.field
    async def slow_name(self) -> str:
        return await _later(self.name)  # type: ignore[attr-defined,no-any-return]

    @strawberry.field
    async def slow_maybe(self) -> str | None:
        return await _later(self.secret)  # type: ignore[attr-defined,no-any-return]

    @strawberry.field
    async def fails(self) -> str | None:
        return await _later(RuntimeError("the backend failed"))  # type: ignore[no-any-return]

    @strawberry.field
    def count(self) -> int:
        return len(self.name or "")  # type: ignore[attr-defined]


@strawberry.type
class Holder:
    thing: Thing | None = guarded(ANYONE, "A thing.", attr="thing")
    things: list[Thing | None] = guarded(ANYONE, "Things.", attr="things")
    strict: list[Thing] | None = guarded(ANYONE, "Non-null things.", attr="things")

    @strawberry.field
    async def slow_things(self) -> list[Thing | None]:
        return await _later(self.things)  # type: ignore[attr-defined,no-any-return]

    @strawberry.field
    def waiting_things(self) -> list[Thing] | None:
        # a list of awaitables: each item waits on its own
        return [_later(thing) for thing in self.things]  # type: ignore[attr-defined,misc]


class CountedRow:
    """A row met at several places of one answer, counting the reads of its name."""

    def __init__(self, name: str | None, secret: str | None) -> None:
        self._name = name
        self.secret = secret
        self.reads = 0

    @property
    def name(self) -> str | None:
        self.reads += 1
        return self._name


#: the rows ``repeated`` answers, each at several places
REPEATED = {"a": CountedRow("a", "s"), "b": CountedRow(None, "t")}


@strawberry.type
class ThingQuery:
    @strawberry.field
    def holder(self) -> Holder | None:
        return HolderRow()  # type: ignore[return-value]

    @strawberry.field
    def repeated(self) -> list[Thing | None]:
        a, b = REPEATED["a"], REPEATED["b"]
        return [a, b, a, b, a]  # type: ignore[list-item]

    @strawberry.field
    def strict_holder(self) -> Holder:
        return HolderRow()  # type: ignore[return-value]

    @strawberry.field
    def numbers(self) -> list[list[int | None]]:
        return [[1, None], [], [3]]

    @strawberry.field
    def broken(self) -> list[int] | None:
        return 7  # type: ignore[return-value]


SMALL_QUERIES = [
    "{ holder { thing { name } } }",
    "{ holder { thing { maybe secret } things { name maybe } } }",
    "{ holder { things { maybe secret name } strict { name } } }",
    "{ holder { strict { maybe } things { secret } } }",
    "{ a: holder { things { maybe } } b: holder { thing { maybe } } }",
    "{ holder { thing { slowName } things { slowMaybe count } } }",
    "{ holder { things { slowName fails } strict { slowName } } }",
    "{ holder { slowThings { name slowName secret } } numbers }",
    "{ holder { waitingThings { name count } } strictHolder { things { fails } } }",
    "{ holder { waitingThings { slowName } slowThings { maybe } } }",
    "{ strictHolder { strict { slowName } } numbers }",
    "{ strictHolder { thing { name } } }",
    "{ broken holder { thing { __typename maybe } } }",
    "{ holder { things { label } thing { label name } } }",
    "{ repeated { name maybe __typename } holder { things { name } } }",
    "{ repeated { name label } }",
]


def _guarded_things(query: str) -> tuple[strawberry.Schema, Plan]:
    """The small schema with its guards installed (run by graphql-core), and ``query``'s plan
    on it."""
    schema = strawberry.Schema(
        query=ThingQuery, execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    install_guards(schema)
    plan = compile_plan(schema._schema, parse(query), None)
    assert plan is not None
    return schema, plan


@pytest.mark.parametrize("roles", [frozenset(), frozenset({p.Role.HR})])
@pytest.mark.parametrize("query", SMALL_QUERIES)
async def test_nulls_and_denials_propagate_as_in_graphql_core(app, roles, query):
    schema, plan = _guarded_things(query)
    viewer = Viewer(uuid.UUID(int=1), uuid.UUID(int=2), roles)

    def context() -> Context:
        return Context(services=app.state.services, loaders=Loaders(), viewer=viewer)

    expected = _answer(await schema.execute(query, context_value=context()))
    data, errors = await run_plan(plan, context())
    assert _answer(SimpleNamespace(data=data, errors=errors)) == expected
    if not roles:
        assert expected["errors"], "each query meets a denial or a null"


async def test_an_allowed_resolver_is_called_with_one_info_per_field_and_request(app):
    """Where the roles settle a guarded resolver's rule, the plan calls the business resolver
    itself, with one ``Info`` for every object of a field; where they do not, the guard runs
    and denies as ever, and the resolver is never called."""
    query = "{ holder { things { label } strict { label } } }"
    schema, plan = _guarded_things(query)
    for roles in (frozenset({p.Role.HR}), frozenset({p.Role.MANAGER})):
        viewer = Viewer(uuid.UUID(int=1), uuid.UUID(int=2), roles)

        def context(viewer: Viewer = viewer) -> Context:
            return Context(services=app.state.services, loaders=Loaders(), viewer=viewer)

        LABEL_INFOS.clear()
        expected = _answer(await schema.execute(query, context_value=context()))
        # graphql-core: an info for every call
        assert len({id(info) for info in LABEL_INFOS}) == len(LABEL_INFOS)
        LABEL_INFOS.clear()
        data, errors = await run_plan(plan, context())
        assert _answer(SimpleNamespace(data=data, errors=errors)) == expected
        if p.Role.HR in roles:
            assert data == {
                "holder": {
                    "things": [{"label": v} for v in ("s", "t", None)],
                    "strict": [{"label": v} for v in ("s", "t", None)],
                }
            }
            assert len(LABEL_INFOS) == 6
            assert len({id(info) for info in LABEL_INFOS}) == 2
            assert all(info.context is LABEL_INFOS[0].context for info in LABEL_INFOS)
        else:
            assert LABEL_INFOS == []
            assert {e["message"] for e in expected["errors"]} == {"Not allowed: label requires HR"}
            assert len(expected["errors"]) == 6


@pytest.mark.parametrize("roles", [frozenset(), frozenset({p.Role.HR})])
async def test_an_object_met_again_is_answered_once_unless_it_failed(app, roles):
    """An object met at several places of one answer (the manager of fifty people), under a
    selection whose fields the viewer's roles let the plan read directly, is read once per
    request; one whose answer had an error is answered again at each place, with its error at
    each path, and where a rule must be checked on the object it is checked every time."""
    query = "{ repeated { name maybe } }"
    schema, plan = _guarded_things(query)
    viewer = Viewer(uuid.UUID(int=1), uuid.UUID(int=2), roles)

    def context() -> Context:
        return Context(services=app.state.services, loaders=Loaders(), viewer=viewer)

    for row in REPEATED.values():
        row.reads = 0
    expected = _answer(await schema.execute(query, context_value=context()))
    assert [REPEATED["a"].reads, REPEATED["b"].reads] == [3, 2]  # graphql-core: every place
    for row in REPEATED.values():
        row.reads = 0
    data, errors = await run_plan(plan, context())
    assert _answer(SimpleNamespace(data=data, errors=errors)) == expected
    # the second row's name is null on a non-null field: its error at both of its places
    assert [e["path"] for e in expected["errors"] if "non-nullable" in e["message"]] == [
        ["repeated", 1, "name"],
        ["repeated", 3, "name"],
    ]
    assert REPEATED["b"].reads == 2
    if p.Role.HR in roles:
        assert expected["data"]["repeated"][0] == {"name": "a", "maybe": "s"}
        assert REPEATED["a"].reads == 1
    else:
        # ``maybe`` is denied: its guard runs and reports at each of the three places
        denials = [e["path"] for e in expected["errors"] if e["message"].startswith("Not allowed")]
        assert denials == [["repeated", i, "maybe"] for i in (0, 2, 4)]
        assert REPEATED["a"].reads == 3
