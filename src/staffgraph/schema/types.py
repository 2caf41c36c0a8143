"""The object types of API.md §4. Their roots are Tortoise model instances."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from staffgraph import models
from staffgraph.context import Info
from staffgraph.permissions import allows, guarded
from staffgraph.permissions import policy as p
from staffgraph.permissions.capabilities import readable_fields
from staffgraph.resolvers import directory, reviews
from staffgraph.resolvers.pagination import page_request
from staffgraph.schema.connections import After, Before, First20, Last
from staffgraph.schema.scalars import to_id

# The model enums are the GraphQL enums: one vocabulary in one place.
strawberry.enum(models.Role, description="The role vocabulary.")
strawberry.enum(models.AuditAction, description="What an audit event records.")
Role = models.Role
AuditAction = models.AuditAction


@strawberry.interface(
    description="An object `node(id:)` fetches again by its id (Relay's Global Object "
    "Identification). Ids are UUIDs, unique over every type."
)
class Node:
    id: strawberry.ID = guarded(p.COLLEAGUE, "Opaque id (UUID).", attr="id", convert=to_id)


def _model_check(model: type) -> Any:
    """``is_type_of`` for a type whose roots are ``model`` rows (strawberry's default looks
    for instances of the strawberry class, which the roots are not)."""

    def is_type_of(cls: type, obj: Any, info: Any) -> bool:
        return isinstance(obj, model)

    return classmethod(is_type_of)


@strawberry.type(description="A member of staff.")
class User(Node):
    is_type_of = _model_check(models.User)

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

    # answered at once when loaded already (a page loads them first): no task per field
    @staticmethod
    def _department(root: models.User, info: Info) -> Department | None:
        if root.department_id is None:
            return None
        loader = info.context.loaders.department
        return directory.now_or_later(loader, root.department_id)  # type: ignore[arg-type,return-value]

    @staticmethod
    def _manager(root: models.User, info: Info) -> User | None:
        if root.manager_id is None:
            return None
        return directory.user_now_or_later(info.context, root.manager_id)  # type: ignore[return-value]

    @staticmethod
    async def _reports(root: models.User, info: Info) -> list[User]:
        return await directory.get_reports(info.context, root.id)  # type: ignore[return-value]

    @staticmethod
    async def _roles(root: models.User, info: Info) -> list[Role] | None:
        return await info.context.loaders.roles.load(root.id)

    @staticmethod
    async def _reviews(root: models.User, info: Info) -> list[Review] | None:
        found = await info.context.loaders.reviews.load(root.id)
        return reviews.shown(info.context, root.id, found)  # type: ignore[return-value]

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

    @staticmethod
    def _viewer_can(root: models.User, info: Info) -> UserCapabilities:
        return root  # type: ignore[return-value]

    viewer_can: UserCapabilities = guarded(
        p.COLLEAGUE,
        "What the viewer may do with this user, as the rules of the fields and mutations "
        "answer it.",
        resolver=_viewer_can,
    )


#: the rule of each mutation ``UserCapabilities`` tells about: the rule objects the mutations
#: themselves are guarded with
USER_ACTIONS = {
    "update": ("updateUser", p.UPDATE_USER),
    "setSalary": ("setSalary", p.SET_SALARY),
    "setRoles": ("setRoles", p.SET_ROLES),
    "deactivate": ("deactivateUser", p.DEACTIVATE_USER),
    "review": ("createReview", p.WRITE_REVIEW),
}


@strawberry.type(
    description="What the viewer may do with a user. Each answer is the rule the field or "
    "mutation checks, for this viewer and this user; a mutation may still refuse for what "
    "its rule does not cover (invalid input, the last active ADMIN)."
)
class UserCapabilities:
    """Its root is the user (a ``models.User``) the capabilities are about."""

    @staticmethod
    async def _read(root: models.User, info: Info) -> list[str]:
        rules = info.schema.field_rules["User"]  # type: ignore[attr-defined]
        return await readable_fields(info.context, rules, root)

    @staticmethod
    async def _update(root: models.User, info: Info) -> bool:
        return await allows(info.context, USER_ACTIONS["update"][1], root)

    @staticmethod
    async def _set_salary(root: models.User, info: Info) -> bool:
        return await allows(info.context, USER_ACTIONS["setSalary"][1], root)

    @staticmethod
    async def _set_roles(root: models.User, info: Info) -> bool:
        return await allows(info.context, USER_ACTIONS["setRoles"][1], root)

    @staticmethod
    async def _deactivate(root: models.User, info: Info) -> bool:
        return await allows(info.context, USER_ACTIONS["deactivate"][1], root)

    @staticmethod
    async def _review(root: models.User, info: Info) -> bool:
        return await allows(info.context, USER_ACTIONS["review"][1], root)

    read: list[str] = guarded(
        p.VIA_PARENT,
        "Names of this user's fields (as the schema spells them) the viewer may read: "
        "exactly those a query gets without a denial.",
        resolver=_read,
    )
    update: bool = guarded(p.VIA_PARENT, "Whether `updateUser` is allowed.", resolver=_update)
    set_salary: bool = guarded(
        p.VIA_PARENT, "Whether `setSalary` is allowed.", resolver=_set_salary
    )
    set_roles: bool = guarded(p.VIA_PARENT, "Whether `setRoles` is allowed.", resolver=_set_roles)
    deactivate: bool = guarded(
        p.VIA_PARENT, "Whether `deactivateUser` is allowed.", resolver=_deactivate
    )
    review: bool = guarded(
        p.VIA_PARENT, "Whether `createReview` of this user is allowed.", resolver=_review
    )


@strawberry.type(description="A department.")
class Department(Node):
    is_type_of = _model_check(models.Department)

    id: strawberry.ID = guarded(p.COLLEAGUE, "Opaque id (UUID).", attr="id", convert=to_id)
    name: str = guarded(p.COLLEAGUE, "Name.", attr="name")

    @staticmethod
    async def _head(root: models.Department, info: Info) -> User | None:
        if root.head_id is None:
            return None
        return await directory.get_user(info.context, root.head_id)  # type: ignore[return-value]

    @staticmethod
    async def _members(
        root: models.Department,
        info: Info,
        first: First20 = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> UserConnection:
        page = page_request(first, after, last, before, default=20)
        return await directory.list_members(info.context, root.id, page)  # type: ignore[return-value]

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
class Review(Node):
    is_type_of = _model_check(models.Review)

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

    @staticmethod
    async def _viewer_can_share(root: models.Review, info: Info) -> bool:
        return await allows(info.context, p.SHARE_REVIEW, root)

    viewer_can_share: bool = guarded(
        p.VIA_PARENT, "Whether `shareReview` is allowed on it.", resolver=_viewer_can_share
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

    @staticmethod
    async def _viewer_can_revoke(root: models.Session, info: Info) -> bool:
        return await allows(info.context, p.REVOKE_SESSION, root)

    viewer_can_revoke: bool = guarded(
        p.VIA_PARENT, "Whether `revokeSession` is allowed on it.", resolver=_viewer_can_revoke
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


@strawberry.type(
    description="Where a page starts and ends (Relay cursor connections). Paging forward "
    "(`first`), `hasNextPage` is exact and `hasPreviousPage` true when the `after` item still "
    "precedes the page; paging backward (`last`), `hasPreviousPage` is exact and `hasNextPage` "
    "true when the `before` item still follows it."
)
class PageInfo:
    has_next_page: bool = guarded(p.VIA_PARENT, "Whether more items follow.")
    has_previous_page: bool = guarded(p.VIA_PARENT, "Whether more items precede.")
    start_cursor: str | None = guarded(
        p.VIA_PARENT, "Pass as `before` for the previous page; null when the page is empty."
    )
    end_cursor: str | None = guarded(
        p.VIA_PARENT, "Pass as `after` for the next page; null when the page is empty."
    )


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
    "Node",
    "PageInfo",
    "Review",
    "Role",
    "Session",
    "User",
    "UserCapabilities",
    "UserConnection",
    "UserEdge",
]
