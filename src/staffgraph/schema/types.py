"""The object types of API.md §4. Their roots are Tortoise model instances."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from staffgraph import models
from staffgraph.context import Info
from staffgraph.permissions import guarded
from staffgraph.permissions import policy as p
from staffgraph.resolvers import directory
from staffgraph.schema.scalars import to_id

# The model enums are the GraphQL enums: one vocabulary in one place.
strawberry.enum(models.Role, description="The role vocabulary.")
strawberry.enum(models.AuditAction, description="What an audit event records.")
Role = models.Role
AuditAction = models.AuditAction


@strawberry.type(description="A member of staff.")
class User:
    id: strawberry.ID = guarded(p.COLLEAGUE, "Opaque id (UUID).", attr="id", convert=to_id)
    display_name: str = guarded(p.COLLEAGUE, "Name shown to colleagues.", attr="display_name")
    email: str = guarded(p.COLLEAGUE, "Work email.", attr="email")
    job_title: str | None = guarded(p.COLLEAGUE, "Job title.", attr="job_title")
    created_at: datetime = guarded(p.COLLEAGUE, "When the account was created.", attr="created_at")
    is_active: bool | None = guarded(p.READ_IS_ACTIVE, "False once deactivated.", attr="is_active")
    phone: str | None = guarded(p.READ_PHONE, "Phone number.", attr="phone", audit=True)
    home_address: str | None = guarded(
        p.READ_HOME_ADDRESS, "Home address.", attr="home_address", audit=True
    )
    date_of_birth: date | None = guarded(
        p.READ_DATE_OF_BIRTH, "Date of birth.", attr="date_of_birth", audit=True
    )
    salary: int | None = guarded(p.READ_SALARY, "Yearly salary.", attr="salary", audit=True)
    last_login_at: datetime | None = guarded(
        p.READ_LAST_LOGIN, "Last successful sign-in.", attr="last_login_at"
    )

    @staticmethod
    async def _department(root: models.User, info: Info) -> Department | None:
        if root.department_id is None:
            return None
        return await info.context.loaders.department.load(root.department_id)  # type: ignore[return-value]

    @staticmethod
    async def _manager(root: models.User, info: Info) -> User | None:
        if root.manager_id is None:
            return None
        return await directory.get_user(info.context, root.manager_id)  # type: ignore[return-value]

    @staticmethod
    async def _reports(root: models.User, info: Info) -> list[User]:
        return await directory.get_reports(info.context, root.id)  # type: ignore[return-value]

    @staticmethod
    async def _roles(root: models.User, info: Info) -> list[Role] | None:
        return await info.context.loaders.roles.load(root.id)

    @staticmethod
    async def _reviews(root: models.User, info: Info) -> list[Review] | None:
        reviews = await info.context.loaders.reviews.load(root.id)
        if root.id == info.context.viewer_id:
            # the subject sees only what was shared with them, whatever roles they hold
            reviews = [r for r in reviews if r.shared]
        return reviews  # type: ignore[return-value]

    @staticmethod
    async def _sessions(root: models.User, info: Info) -> list[Session] | None:
        return await info.context.loaders.sessions.load(root.id)  # type: ignore[return-value]

    department: Department | None = guarded(p.COLLEAGUE, "Department.", resolver=_department)
    manager: User | None = guarded(
        p.COLLEAGUE,
        "Direct manager (deactivated: for HR and ADMIN only).",
        resolver=_manager,
    )
    reports: list[User] = guarded(
        p.COLLEAGUE,
        "Direct reports (deactivated ones for HR and ADMIN only).",
        resolver=_reports,
    )
    roles: list[Role] | None = guarded(p.READ_ROLES, "Roles held.", resolver=_roles)
    reviews: list[Review] | None = guarded(
        p.READ_REVIEWS,
        "Performance reviews; the subject sees only shared ones.",
        resolver=_reviews,
        audit=True,
    )
    sessions: list[Session] | None = guarded(
        p.READ_SESSIONS, "Open sign-in sessions.", resolver=_sessions, audit=True
    )


@strawberry.type(description="A department.")
class Department:
    id: strawberry.ID = guarded(p.COLLEAGUE, "Opaque id (UUID).", attr="id", convert=to_id)
    name: str = guarded(p.COLLEAGUE, "Name.", attr="name")

    @staticmethod
    async def _head(root: models.Department, info: Info) -> User | None:
        if root.head_id is None:
            return None
        return await directory.get_user(info.context, root.head_id)  # type: ignore[return-value]

    @staticmethod
    async def _members(
        root: models.Department, info: Info, first: int = 20, after: str | None = None
    ) -> UserConnection:
        return await directory.list_users(info.context, first, after, department_id=root.id)  # type: ignore[return-value]

    head: User | None = guarded(
        p.COLLEAGUE,
        "Head of the department (deactivated: for HR and ADMIN only).",
        resolver=_head,
    )
    members: UserConnection = guarded(
        p.COLLEAGUE,
        "Members, a page at a time (deactivated ones for HR and ADMIN only).",
        resolver=_members,
    )


@strawberry.type(description="A performance review.")
class Review:
    id: strawberry.ID = guarded(p.VIA_PARENT, "Opaque id (UUID).", attr="id", convert=to_id)
    period: str = guarded(p.VIA_PARENT, "Review period, e.g. 2026-H1.", attr="period")
    rating: int = guarded(p.VIA_PARENT, "Rating from 1 to 5.", attr="rating")
    summary: str = guarded(p.VIA_PARENT, "Summary.", attr="summary")
    shared: bool = guarded(p.VIA_PARENT, "Whether the subject may read it.", attr="shared")
    created_at: datetime = guarded(p.VIA_PARENT, "When it was written.", attr="created_at")

    @staticmethod
    async def _subject(root: models.Review, info: Info) -> User | None:
        return await directory.get_user(info.context, root.subject_id)  # type: ignore[return-value]

    @staticmethod
    async def _reviewer(root: models.Review, info: Info) -> User | None:
        return await directory.get_user(info.context, root.reviewer_id)  # type: ignore[return-value]

    subject: User | None = guarded(
        p.VIA_PARENT,
        "Who is reviewed; null once deactivated, except for HR and ADMIN.",
        resolver=_subject,
    )
    reviewer: User | None = guarded(
        p.VIA_PARENT,
        "Who wrote it; null once deactivated, except for HR and ADMIN.",
        resolver=_reviewer,
    )


@strawberry.type(description="A signed-in device.")
class Session:
    id: strawberry.ID = guarded(p.VIA_PARENT, "Opaque id (UUID).", attr="id", convert=to_id)
    created_at: datetime = guarded(p.VIA_PARENT, "Sign-in time.", attr="created_at")
    last_used_at: datetime | None = guarded(
        p.VIA_PARENT, "Last token refresh.", attr="last_used_at"
    )
    expires_at: datetime = guarded(
        p.VIA_PARENT, "End of the session's absolute lifetime.", attr="expires_at"
    )
    user_agent: str | None = guarded(p.VIA_PARENT, "Browser or client.", attr="user_agent")
    ip_address: str | None = guarded(p.VIA_PARENT, "Client address.", attr="ip_address")

    @staticmethod
    def _current(root: models.Session, info: Info) -> bool:
        viewer = info.context.viewer
        return viewer is not None and viewer.session_id == root.id

    current: bool = guarded(
        p.VIA_PARENT, "Whether this request is made with it.", resolver=_current
    )


@strawberry.type(description="One audited action.")
class AuditEvent:
    id: strawberry.ID = guarded(p.VIA_PARENT, "Opaque id (UUID).", attr="id", convert=to_id)
    at: datetime = guarded(p.VIA_PARENT, "When.", attr="at")
    action: AuditAction = guarded(p.VIA_PARENT, "What.", attr="action")
    ip_address: str | None = guarded(p.VIA_PARENT, "Client address.", attr="ip_address")
    detail: str | None = guarded(p.VIA_PARENT, "More about it.", attr="detail")
    target_id: strawberry.ID | None = guarded(
        p.VIA_PARENT, "The user or object acted on.", attr="target_id", convert=to_id
    )

    @staticmethod
    async def _actor(root: models.AuditEvent, info: Info) -> User | None:
        if root.actor_id is None:
            return None
        return await directory.get_user(info.context, root.actor_id)  # type: ignore[return-value]

    actor: User | None = guarded(p.VIA_PARENT, "Who acted, if known.", resolver=_actor)


@strawberry.type(description="Where a page ends.")
class PageInfo:
    has_next_page: bool = guarded(p.VIA_PARENT, "Whether more items follow.")
    end_cursor: str | None = guarded(p.VIA_PARENT, "Pass as `after` for the next page.")


@strawberry.type(description="A user in a page.")
class UserEdge:
    node: User = guarded(p.VIA_PARENT, "The user.")
    cursor: str = guarded(p.VIA_PARENT, "Its position.")


@strawberry.type(description="A page of users.")
class UserConnection:
    edges: list[UserEdge] = guarded(p.VIA_PARENT, "The users of this page.")
    page_info: PageInfo = guarded(p.VIA_PARENT, "Where the page ends.")
    total_count: int = guarded(p.VIA_PARENT, "How many users match, over all pages.")


@strawberry.type(description="An audit event in a page.")
class AuditEventEdge:
    node: AuditEvent = guarded(p.VIA_PARENT, "The event.")
    cursor: str = guarded(p.VIA_PARENT, "Its position.")


@strawberry.type(description="A page of audit events, newest first.")
class AuditEventConnection:
    edges: list[AuditEventEdge] = guarded(p.VIA_PARENT, "The events of this page.")
    page_info: PageInfo = guarded(p.VIA_PARENT, "Where the page ends.")
    total_count: int = guarded(p.VIA_PARENT, "How many events match, over all pages.")


@strawberry.type(description="The result of a sign-in or a token refresh.")
class AuthPayload:
    access_token: str = guarded(p.VIA_PARENT, "Bearer token for `Authorization`.")
    refresh_token: str = guarded(p.VIA_PARENT, "Single-use token for `refreshToken`.")
    token_type: str = guarded(p.VIA_PARENT, "Always `Bearer`.")
    expires_in: int = guarded(p.VIA_PARENT, "Seconds until the access token expires.")
    user: User = guarded(p.VIA_PARENT, "Who signed in.")


__all__ = [
    "AuditAction",
    "AuditEvent",
    "AuditEventConnection",
    "AuditEventEdge",
    "AuthPayload",
    "Department",
    "PageInfo",
    "Review",
    "Role",
    "Session",
    "User",
    "UserConnection",
    "UserEdge",
]
