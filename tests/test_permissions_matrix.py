"""The field matrix of API.md §4: viewer x guarded field x target, through HTTP.

The organisation (tests/permissions_org.py) is built once for this module and every
(target, viewer) pair is asked once for every field; each parametrized case then checks one
field of one answer: the exact value, or null with an error at its path.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from graphql import parse
from tortoise.context import TortoiseContext
from tortoise.contrib.test import truncate_all_models

from staffgraph.app import create_app
from staffgraph.db import tortoise_config
from staffgraph.permissions import policy as p
from staffgraph.schema import build_schema
from tests.conftest import ON_POSTGRES, gql
from tests.conftest import test_settings as settings_for
from tests.permissions_org import Org, build_org

pytestmark = pytest.mark.asyncio(loop_scope="module")

RULES = {
    "roles": p.READ_ROLES,
    "isActive": p.READ_IS_ACTIVE,
    "phone": p.READ_PHONE,
    "homeAddress": p.READ_HOME_ADDRESS,
    "dateOfBirth": p.READ_DATE_OF_BIRTH,
    "salary": p.READ_SALARY,
    "lastLoginAt": p.READ_LAST_LOGIN,
    "reviews": p.READ_REVIEWS,
    "sessions": p.READ_SESSIONS,
}
GUARDED = tuple(RULES)
COLLEAGUE_FIELDS = (
    "id",
    "displayName",
    "email",
    "jobTitle",
    "createdAt",
    "department",
    "manager",
    "reports",
)

ALL = frozenset(GUARDED)
HR_READS = frozenset(
    {"roles", "isActive", "phone", "homeAddress", "dateOfBirth", "salary", "reviews"}
)
ADMIN_READS = frozenset({"roles", "isActive", "lastLoginAt", "sessions"})
SELF_READS = ALL - {"isActive"}  # an EMPLOYEE or MANAGER does not see their own isActive
CHAIN_WITH_MANAGER_ROLE = frozenset({"phone", "salary", "reviews"})
CHAIN_WITHOUT_MANAGER_ROLE = frozenset({"phone", "reviews"})
NOTHING: frozenset[str] = frozenset()

#: target -> viewer -> the guarded fields that viewer reads ("self": the target's own token)
READABLE: dict[str, dict[str, frozenset[str]]] = {
    "target": {
        "self": SELF_READS,
        "colleague": NOTHING,
        "manager": CHAIN_WITH_MANAGER_ROLE,  # direct manager
        "director": CHAIN_WITH_MANAGER_ROLE,  # indirect manager with MANAGER
        "skip": CHAIN_WITHOUT_MANAGER_ROLE,  # indirect manager without MANAGER
        "hr": HR_READS,
        "admin": ADMIN_READS,  # ADMIN alone may not read salary
    },
    "manager": {
        "self": SELF_READS,
        "director": CHAIN_WITH_MANAGER_ROLE,
        "skip": CHAIN_WITHOUT_MANAGER_ROLE,
        "target": NOTHING,  # a report reading up the chain
        "hr": HR_READS,
        "admin": ADMIN_READS,
    },
    "hr": {
        "self": ALL,
        "skip": CHAIN_WITHOUT_MANAGER_ROLE,  # direct manager without MANAGER
        "director": NOTHING,  # a MANAGER outside the chain
        "colleague": NOTHING,
        "admin": ADMIN_READS,
    },
    "admin": {
        "self": ALL,
        "hr": HR_READS,
        "manager": NOTHING,
    },
}

QUERY = """
query Matrix($id: ID!) {
  user(id: $id) {
    id displayName email jobTitle createdAt
    department { name } manager { id } reports { id }
    roles isActive phone homeAddress dateOfBirth salary lastLoginAt
    reviews { id shared } sessions { id }
    viewerCan { read }
  }
}
"""


@dataclass
class Matrix:
    org: Org
    answers: dict[tuple[str, str], dict[str, Any]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(
    _migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Matrix]:
    """Build the organisation once and ask every (target, viewer) pair."""
    if ON_POSTGRES:
        url = _migrated_database
    else:
        path = tmp_path_factory.mktemp("matrix") / "matrix.db"
        shutil.copyfile(_migrated_database.removeprefix("sqlite://"), path)
        url = f"sqlite://{path}"
    orm = TortoiseContext()
    async with orm:
        await orm.init(config=tortoise_config(url))
        if ON_POSTGRES:
            await truncate_all_models()
        app = create_app(settings_for(database_url=url), manage_orm=False)
        await app.state.services.start()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            org = await build_org(app)
            answers = {}
            for target, viewers in READABLE.items():
                for viewer in [*viewers, "anonymous"]:
                    token = org.token(target if viewer == "self" else viewer)
                    variables = {"id": org.id(target)}
                    answers[(target, viewer)] = await gql(client, QUERY, variables, token)
        await app.state.services.stop()
        yield Matrix(org, answers)


def expected(org: Org, target: str, viewer: str, field: str) -> Any:
    """What ``viewer`` reads in ``field`` of ``target`` when allowed."""
    user = org.users[target]
    reviews = [r for r in (org.shared_review, org.private_review) if r is not None]
    values: dict[str, Any] = {
        "id": org.id(target),
        "displayName": user.display_name,
        "email": user.email,
        "jobTitle": user.job_title,
        "createdAt": user.created_at,
        "department": {"name": "Engineering"},
        "manager": {"id": str(user.manager_id)} if user.manager_id else None,
        "reports": sorted(str(u.id) for u in org.users.values() if u.manager_id == user.id),
        "roles": org.roles[target],
        "isActive": True,
        "phone": user.phone,
        "homeAddress": user.home_address,
        "dateOfBirth": user.date_of_birth.isoformat() if user.date_of_birth else None,
        "salary": user.salary,
        "lastLoginAt": user.last_login_at,
        "reviews": sorted(
            (
                {"id": str(r.id), "shared": r.shared}
                for r in reviews
                if r.subject_id == user.id and (viewer != "self" or r.shared)
            ),
            key=lambda r: r["id"],
        ),
        "sessions": [{"id": str(org.sessions[target])}],
    }
    return values[field]


def normalise(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in ("createdAt", "lastLoginAt"):
        return datetime.fromisoformat(value)
    if field == "reports":
        return sorted(r["id"] for r in value)
    if field == "reviews":
        return sorted(value, key=lambda r: r["id"])
    return value


CASES = [
    (target, viewer, field)
    for target, viewers in READABLE.items()
    for viewer in [*viewers, "anonymous"]
    for field in (*GUARDED, *COLLEAGUE_FIELDS)
]


@pytest.mark.parametrize(("target", "viewer", "field"), CASES)
async def test_field(matrix: Matrix, target: str, viewer: str, field: str) -> None:
    body = matrix.answers[(target, viewer)]
    if viewer == "anonymous":
        # nothing about a user is readable anonymously: `user` itself needs a signed-in viewer
        assert body["data"] == {"user": None}
        assert [(e["extensions"]["code"], e["path"]) for e in body["errors"]] == [
            ("UNAUTHENTICATED", ["user"])
        ]
        return
    user = body["data"]["user"]
    at_field = [e for e in body.get("errors", []) if e["path"] == ["user", field]]
    readable = field in COLLEAGUE_FIELDS or field in READABLE[target][viewer]
    if readable:
        assert at_field == []
        assert normalise(field, user[field]) == expected(matrix.org, target, viewer, field)
        return
    assert user[field] is None
    assert len(at_field) == 1
    error = at_field[0]
    rule = RULES[field].label
    assert error["extensions"] == {"code": "FORBIDDEN", "rule": rule}
    assert error["message"] == f"Not allowed: {field} requires {rule}"
    secret = expected(matrix.org, target, viewer, field)
    if isinstance(secret, str | int) and not isinstance(secret, bool):
        assert str(secret) not in str(body["errors"])


@pytest.mark.parametrize(
    ("target", "viewer"),
    [(t, v) for t, viewers in READABLE.items() for v in viewers],
)
async def test_only_denied_fields_have_errors(matrix: Matrix, target: str, viewer: str) -> None:
    body = matrix.answers[(target, viewer)]
    denied = sorted(set(GUARDED) - READABLE[target][viewer])
    assert sorted(e["path"][1] for e in body.get("errors", [])) == denied
    assert all(len(e["path"]) == 2 for e in body.get("errors", []))


async def test_the_matrix_asks_for_every_field_of_user() -> None:
    [operation] = parse(QUERY).definitions
    [user] = operation.selection_set.selections
    selected = {field.name.value for field in user.selection_set.selections}
    assert selected == set(build_schema()._schema.type_map["User"].fields)


@pytest.mark.parametrize(
    ("target", "viewer"),
    [(t, v) for t, viewers in READABLE.items() for v in viewers],
)
async def test_viewer_can_read_names_exactly_the_fields_that_came_back(
    matrix: Matrix, target: str, viewer: str
) -> None:
    body = matrix.answers[(target, viewer)]
    user = body["data"]["user"]
    denied = {e["path"][1] for e in body.get("errors", [])}
    came_back = set(user) - denied
    assert set(user["viewerCan"]["read"]) == came_back
    assert came_back == {*COLLEAGUE_FIELDS, *READABLE[target][viewer], "viewerCan"}
