"""One small organisation for the permission tests, built by direct model creation.

::

    skip (EMPLOYEE: an indirect manager without the MANAGER role)
     +- director (MANAGER)            indirect manager of target, with MANAGER
     |   +- manager (MANAGER)         direct manager of target
     |       +- target (EMPLOYEE)
     |       +- colleague (EMPLOYEE)  a peer: not in target's chain
     +- hr (HR)
    admin (ADMIN, not HR, no manager)

Everyone has private data, a last login and one open session (the one of their token).
``manager`` wrote two reviews of ``target``: one shared with them, one not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from staffgraph.models import AuditAction, AuditEvent, Department, Review, Role, User
from tests.conftest import make_user, token_for

VIEWERS = ("anonymous", "self", "colleague", "manager", "director", "skip", "hr", "admin")

_PEOPLE: list[tuple[str, tuple[Role, ...], str | None]] = [
    ("skip", (Role.EMPLOYEE,), None),
    ("director", (Role.EMPLOYEE, Role.MANAGER), "skip"),
    ("manager", (Role.EMPLOYEE, Role.MANAGER), "director"),
    ("target", (Role.EMPLOYEE,), "manager"),
    ("colleague", (Role.EMPLOYEE,), "manager"),
    ("hr", (Role.EMPLOYEE, Role.HR), "skip"),
    ("admin", (Role.EMPLOYEE, Role.ADMIN), None),
]


@dataclass
class Org:
    """The people, their tokens and sessions, the department and the reviews."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, uuid.UUID] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    department: Department | None = None
    shared_review: Review | None = None
    private_review: Review | None = None

    def id(self, name: str) -> str:
        """The GraphQL id of a person."""
        return str(self.users[name].id)

    def token(self, viewer: str) -> str | None:
        """The token of a viewer name (None for anonymous)."""
        return self.tokens.get(viewer)


async def build_org(app: Any) -> Org:
    """Create the organisation of this module's docstring."""
    org = Org()
    org.department = await Department.create(name="Engineering")
    for index, (name, roles, manager) in enumerate(_PEOPLE):
        org.users[name] = await make_user(
            f"{name}@example.com",
            roles,
            password=None,
            display_name=name.title(),
            job_title=f"{name} title",
            department=org.department,
            manager=org.users[manager] if manager else None,
            phone=f"+44 20 7946 00{index:02d}",
            home_address=f"{index} {name.title()} Street",
            date_of_birth=date(1980 + index, 1 + index, 10 + index),
            salary=50_000 + index * 1_000,
            last_login_at=datetime(2026, 1, 1 + index, 9, 30, tzinfo=UTC),
        )
        org.roles[name] = sorted(r.value for r in roles)
    services = app.state.services
    for name, user in org.users.items():
        org.tokens[name] = await token_for(app, user)
        org.sessions[name] = services.tokens.verify(org.tokens[name]).session_id
    org.shared_review = await Review.create(
        subject=org.users["target"],
        reviewer=org.users["manager"],
        period="2025-H2",
        rating=4,
        summary="Shared summary",
        shared=True,
    )
    org.private_review = await Review.create(
        subject=org.users["target"],
        reviewer=org.users["manager"],
        period="2026-H1",
        rating=3,
        summary="Private summary",
    )
    return org


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a response whose data is null."""
    assert body["data"] is None, body
    [only] = body["errors"]
    return only


async def audit_events(action: AuditAction) -> list[AuditEvent]:
    """Every audit event of ``action``, oldest first."""
    return list(await AuditEvent.filter(action=action).order_by("at", "id"))
