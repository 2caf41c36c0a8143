"""A page of users costs a fixed number of SQL statements, whatever its size.

Statements are counted where they are sent: every execute method of the database client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from tortoise import connections

from staffgraph.models import Department, Role, User
from tests.conftest import ON_POSTGRES, gql, make_user, token_for

PAGE = """
query($first: Int, $last: Int, $before: String) {
  users(first: $first, last: $last, before: $before) {
    edges { node { id displayName phone salary manager { id displayName } department { name } } }
  }
}"""
_EXECUTE = (
    "execute_query",
    "execute_query_dict",
    "execute_insert",
    "execute_many",
    "execute_script",
)


@contextlib.contextmanager
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    sent: list[str] = []
    client_class = type(connections.get("default"))
    with monkeypatch.context() as patch:
        for name in _EXECUTE:
            original = getattr(client_class, name)

            def counting(self: Any, query: str, *args: Any, _original: Any = original) -> Any:
                sent.append(query)
                return _original(self, query, *args)

            patch.setattr(client_class, name, counting)
        yield sent


class Company:
    def __init__(self) -> None:
        self.boss: User | None = None
        self.tokens: dict[str, str] = {}


@pytest.fixture
async def company(app: Any) -> Company:
    """A boss (MANAGER) over 3 team leads over 60 people in 4 departments, and HR."""
    found = Company()
    departments = [await Department.create(name=f"Dept {i}") for i in range(4)]
    found.boss = await make_user(
        "boss@example.com", (Role.MANAGER,), password=None, salary=200_000, phone="+1 555 0100"
    )
    leads = [
        await make_user(
            f"lead{i}@example.com",
            (Role.MANAGER,),
            password=None,
            manager=found.boss,
            department=departments[i],
            salary=120_000,
        )
        for i in range(3)
    ]
    for i in range(60):
        await make_user(
            f"person{i:02d}@example.com",
            password=None,
            manager=leads[i % 3],
            department=departments[i % 4],
            salary=50_000 + i,
            phone=f"+1 555 01{i:02d}",
        )
    hr = await make_user("hr@example.com", (Role.HR,), password=None)
    found.tokens = {"hr": await token_for(app, hr), "boss": await token_for(app, found.boss)}
    return found


@pytest.mark.parametrize("viewer", ["hr", "boss"])
@pytest.mark.parametrize("size", [10, 50])
@pytest.mark.parametrize("direction", ["first", "last"])
async def test_a_page_costs_at_most_four_statements(
    client, company, monkeypatch, viewer, size, direction
):
    variables: dict[str, Any] = {direction: size}
    if direction == "last":
        # backward from the HR account, the newest: the page holds the boss's people only
        newest = await gql(
            client, "{ users(last: 1) { edges { cursor } } }", token=company.tokens["hr"]
        )
        variables["before"] = newest["data"]["users"]["edges"][0]["cursor"]
    # the viewer's management subtree and the page both start cold in every request
    with statements(monkeypatch) as sent:
        body = await gql(client, PAGE, variables, company.tokens[viewer])
    assert "errors" not in body, body["errors"][:2]
    nodes = [e["node"] for e in body["data"]["users"]["edges"]]
    assert len(nodes) == size
    # everyone on the page is readable: the boss manages them all, HR reads every salary
    assert all(n["salary"] is not None for n in nodes)
    assert len(sent) <= 4, sent
    recursive = [s for s in sent if "WITH RECURSIVE" in s.upper()]
    assert len(recursive) == (1 if viewer == "boss" else 0)


@pytest.mark.parametrize("size", [10, 50])
async def test_a_managers_page_costs_hrs_statements_where_reads_wait_for_a_server(
    client, company, monkeypatch, size
):
    # the boss's management subtree: on PostgreSQL read by the page's own statement, on
    # SQLite (reads on the event loop's thread, no round trip to save) by its own before it
    sent: dict[str, list[str]] = {}
    for viewer in ("hr", "boss"):
        with statements(monkeypatch) as sent[viewer]:
            body = await gql(client, PAGE, {"first": size}, company.tokens[viewer])
        assert "errors" not in body, body["errors"][:2]
        assert all(e["node"]["salary"] is not None for e in body["data"]["users"]["edges"])
    assert len(sent["boss"]) == len(sent["hr"]) + (0 if ON_POSTGRES else 1), sent["boss"]
    assert sum("WITH RECURSIVE" in s.upper() for s in sent["boss"]) == 1


@pytest.mark.parametrize("viewer", ["hr", "boss"])
async def test_the_count_does_not_grow_with_the_page(client, company, monkeypatch, viewer):
    counts = []
    for size in (10, 50):
        with statements(monkeypatch) as sent:
            await gql(client, PAGE, {"first": size}, company.tokens[viewer])
        counts.append(len(sent))
    assert counts[0] == counts[1]


async def test_nested_chains_resolve_in_one_recursive_query(client, company, monkeypatch):
    query = """
    { users(first: 20) { edges { node {
        phone reviews { id } reports { phone salary manager { salary } }
    } } } }"""
    with statements(monkeypatch) as sent:
        body = await gql(client, query, token=company.tokens["boss"])
    assert "errors" not in body
    assert sum("WITH RECURSIVE" in s.upper() for s in sent) == 1
    # page, subtree, reviews, reports (whose managers are on the page or cached)
    assert len(sent) <= 5, sent


async def test_total_count_runs_only_when_selected(client, company, monkeypatch):
    with statements(monkeypatch) as without:
        await gql(
            client, "{ users(first: 5) { edges { node { id } } } }", token=company.tokens["hr"]
        )
    with statements(monkeypatch) as with_count:
        await gql(
            client,
            "{ users(first: 5) { totalCount edges { node { id } } } }",
            token=company.tokens["hr"],
        )
    assert len(with_count) == len(without) + 1
    assert any("COUNT" in s.upper() for s in with_count)
