"""Changing the directory: users, salaries, roles, departments and reviews.

Every mutation checks its rule before any side effect (the schema's guard, then
:func:`~staffgraph.permissions.require` on the loaded target), validates its input, and writes
inside one transaction together with its audit event.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from staffgraph.errors import BadUserInput, Forbidden, NotFound
from staffgraph.models import AuditAction, Department, Review, Role, User, UserRole
from staffgraph.models.user import new_security_stamp
from staffgraph.permissions import policy as p
from staffgraph.permissions import require
from staffgraph.permissions.guard import queue_denial
from staffgraph.resolvers.audit import record
from staffgraph.resolvers.hierarchy import lock_tree, would_create_cycle
from staffgraph.resolvers.locks import hold_lock
from staffgraph.resolvers.sessions import change_credentials, end_sessions
from staffgraph.resolvers.validation import (
    check_date_of_birth,
    check_range,
    clean_email,
    clean_phone,
    clean_text,
    fields_under,
    parse_id,
    parse_optional_id,
)

if TYPE_CHECKING:
    from staffgraph.auth.passwords import PasswordHasher
    from staffgraph.context import Context

#: the highest yearly salary accepted; anything above is a typing mistake
MAX_SALARY = 10_000_000
_PERIOD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")


class EmailTaken(BadUserInput):
    """A user with this email exists already."""

    def __init__(self, email: str) -> None:
        super().__init__(f"A user with email {email} already exists", field="email")


def _role_list(roles: Iterable[Role]) -> str:
    return ", ".join(sorted(r.value for r in roles)) or "none"


async def create_user(
    passwords: PasswordHasher,
    *,
    email: str,
    display_name: str,
    password: str | None,
    roles: Iterable[Role] = (Role.EMPLOYEE,),
    job_title: str | None = None,
    department_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    ctx: Context | None = None,
) -> User:
    """Validate and create a user with its roles, in one transaction, USER_CREATED audited.

    Shared by the ``createUser`` mutation, ``staffgraph create-user`` and ``seed``.
    """
    from staffgraph.auth.password_policy import check_new_password

    email = clean_email(email)
    name = clean_text(display_name, "displayName", max_length=200, required=True)
    title = clean_text(job_title, "jobTitle", max_length=200)
    granted = set(roles)
    if not granted:
        raise BadUserInput("roles must name at least one role", field="roles")
    if password is not None:
        await asyncio.to_thread(
            check_new_password, password, email=email, name=name, field="password"
        )
    if department_id is not None and not await Department.exists(id=department_id):
        raise NotFound("No department with this id", field="departmentId")
    if manager_id is not None and not await User.exists(id=manager_id, is_active=True):
        raise NotFound("No active user with this id", field="managerId")
    if await User.exists(email=email):
        raise EmailTaken(email)
    password_hash = await passwords.hash(password) if password is not None else None
    try:
        async with in_transaction():
            user = await User.create(
                email=email,
                display_name=name,
                password_hash=password_hash,
                job_title=title,
                department_id=department_id,
                manager_id=manager_id,
            )
            await UserRole.bulk_create([UserRole(user=user, role=r) for r in granted])
            await record(
                ctx,
                AuditAction.USER_CREATED,
                actor_id=actor_id,
                target_id=user.id,
                detail=f"roles: {_role_list(granted)}",
            )
    except IntegrityError:
        # two requests racing for one email: the unique index decides
        raise EmailTaken(email) from None
    return user


async def _user(user_id: uuid.UUID, field: str) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("No user with this id", field=field)
    return user


async def create_user_from_input(ctx: Context, data: Any) -> User:
    """The ``createUser`` mutation: HR or ADMIN; only ADMIN grants HR or ADMIN."""
    roles = [Role.EMPLOYEE] if data.roles is None else [Role(r) for r in data.roles]
    if p.PRIVILEGED_ROLES.intersection(roles):
        await require(ctx, p.GRANT_PRIVILEGED_ROLES, None, "granting HR or ADMIN")
    with fields_under("input"):
        user = await create_user(
            ctx.services.passwords,
            email=data.email,
            display_name=data.display_name,
            password=data.password,
            roles=roles,
            job_title=data.job_title,
            department_id=parse_optional_id(data.department_id, "departmentId"),
            manager_id=parse_optional_id(data.manager_id, "managerId"),
            actor_id=ctx.viewer_id,
            ctx=ctx,
        )
    ctx.loaders.prime_users([user])
    return user


def _clean_profile(changes: dict[str, Any]) -> dict[str, Any]:
    """Validated model values for the profile fields present in ``changes``."""
    values: dict[str, Any] = {}
    if "display_name" in changes:
        values["display_name"] = clean_text(
            changes["display_name"], "displayName", max_length=200, required=True
        )
    if "job_title" in changes:
        values["job_title"] = clean_text(changes["job_title"], "jobTitle", max_length=200)
    if "phone" in changes:
        values["phone"] = clean_phone(changes["phone"])
    if "home_address" in changes:
        values["home_address"] = clean_text(
            changes["home_address"], "homeAddress", max_length=500, multiline=True
        )
    if "date_of_birth" in changes:
        values["date_of_birth"] = check_date_of_birth(changes["date_of_birth"])
    return values


_FIELD_NAMES = {
    "display_name": "displayName",
    "job_title": "jobTitle",
    "department_id": "departmentId",
    "manager_id": "managerId",
    "phone": "phone",
    "home_address": "homeAddress",
    "date_of_birth": "dateOfBirth",
}


async def _apply(ctx: Context, user: User, values: dict[str, Any]) -> None:
    """Write the values that differ, USER_UPDATED audited with the field names only."""
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    if not changed:
        return
    for name in changed:
        setattr(user, name, values[name])
    await user.save(update_fields=[*changed, "updated_at"])
    detail = "changed " + ", ".join(_FIELD_NAMES[name] for name in changed)
    await record(ctx, AuditAction.USER_UPDATED, target_id=user.id, detail=detail)


async def _clean_work_details(user: User, changes: dict[str, Any]) -> dict[str, Any]:
    """Validated model values for ``updateUser``: the profile plus department and manager."""
    values = _clean_profile(changes)
    if "department_id" in changes:
        department_id = parse_optional_id(changes["department_id"], "departmentId")
        if department_id is not None and not await Department.exists(id=department_id):
            raise NotFound("No department with this id", field="departmentId")
        values["department_id"] = department_id
    if "manager_id" in changes:
        manager_id = parse_optional_id(changes["manager_id"], "managerId")
        if manager_id == user.id:
            raise BadUserInput("A user cannot be their own manager", field="managerId")
        if manager_id is not None and not await User.exists(id=manager_id, is_active=True):
            raise NotFound("No active user with this id", field="managerId")
        values["manager_id"] = manager_id
    return values


async def update_my_profile(ctx: Context, changes: dict[str, Any]) -> User:
    """The ``updateMyProfile`` mutation: the viewer's display name, phone and home address."""
    assert ctx.viewer is not None  # the guard let only a signed-in viewer through
    allowed = {k: v for k, v in changes.items() if k in {"display_name", "phone", "home_address"}}
    with fields_under("input"):
        values = _clean_profile(allowed)
    user = await User.get_or_none(id=ctx.viewer.user_id, is_active=True)
    if user is None:
        raise NotFound("No active user with this id", field="id")
    async with in_transaction():
        await _apply(ctx, user, values)
    ctx.loaders.user.prime(user.id, user, force=True)
    return user


async def update_user(ctx: Context, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    """The ``updateUser`` mutation: HR changes work and private details.

    An omitted field stays, null clears it. A new manager must be active and must not be the
    user or anyone below them (no management cycles).
    """
    user = await _user(user_id, "id")
    with fields_under("input"):
        values = await _clean_work_details(user, changes)
        async with in_transaction():
            manager_id = values.get("manager_id")
            if manager_id is not None and manager_id != user.manager_id:
                await lock_tree()
                if await would_create_cycle(user.id, manager_id):
                    raise BadUserInput(
                        "The new manager reports to this user: that would be a cycle",
                        field="managerId",
                    )
            await _apply(ctx, user, values)
    ctx.loaders.forget_people()
    return user


async def set_salary(ctx: Context, user_id: uuid.UUID, salary: int) -> User:
    """The ``setSalary`` mutation: HR, never on their own salary; SALARY_CHANGED audited."""
    user = await _user(user_id, "userId")
    await require(ctx, p.SET_SALARY, user, "setSalary")
    check_range(salary, "salary", 0, MAX_SALARY)
    if user.salary != salary:
        async with in_transaction():
            await User.filter(id=user.id).update(salary=salary, updated_at=datetime.now(UTC))
            # the audit trail says that the salary changed, never what it is
            await record(ctx, AuditAction.SALARY_CHANGED, target_id=user.id)
        user.salary = salary
    ctx.loaders.user.prime(user.id, user, force=True)
    return user


async def _keep_an_admin(ctx: Context, user: User, action: str) -> None:
    """Refuse ``action`` when ``user`` is the last active ADMIN. Call inside a transaction.

    Every ADMIN grant is locked first (``FOR UPDATE`` on PostgreSQL; SQLite runs one write
    transaction at a time), so two demotions or deactivations racing each other queue here and
    the second one counts what the first left.
    """
    # (a model query: Tortoise drops FOR UPDATE from values_list queries)
    await UserRole.filter(role=Role.ADMIN).select_for_update().only("id")
    others = (
        await UserRole.filter(role=Role.ADMIN, user__is_active=True)
        .exclude(user_id=user.id)
        .count()
    )
    if not others:
        queue_denial(ctx, action, "another active ADMIN", user.id)
        raise Forbidden(f"Not allowed: {action} would leave no active ADMIN", reason="last_admin")


async def set_roles(ctx: Context, user_id: uuid.UUID, roles: list[Role]) -> User:
    """The ``setRoles`` mutation: ADMIN replaces a user's roles and ends their sessions.

    The list must name at least one role (``[EMPLOYEE]`` takes every privilege away); the last
    active ADMIN keeps the role. Unchanged roles change nothing.
    """
    user = await _user(user_id, "userId")
    wanted = {Role(r) for r in roles}
    if not wanted:
        raise BadUserInput("roles must name at least one role", field="roles")
    async with in_transaction():
        rows = await UserRole.filter(user_id=user.id).only("role")
        held = {Role(row.role) for row in rows}
        if held == wanted:
            return user
        if Role.ADMIN in held and Role.ADMIN not in wanted and user.is_active:
            await _keep_an_admin(ctx, user, "setRoles")
        # before the roles change and the sessions end: a sign-in racing this one either
        # committed its session already (ended below) or finds the stamp changed
        await change_credentials(user.id, updated_at=datetime.now(UTC))
        if held - wanted:
            await UserRole.filter(user_id=user.id, role__in=list(held - wanted)).delete()
        await UserRole.bulk_create([UserRole(user_id=user.id, role=r) for r in wanted - held])
        await record(
            ctx,
            AuditAction.ROLES_CHANGED,
            target_id=user.id,
            detail=f"{_role_list(held)} -> {_role_list(wanted)}",
        )
        # tokens carry roles: the old ones must stop working at once
        await end_sessions(ctx.services, user.id, "roles_changed")
    ctx.loaders.forget_user(user.id)
    return user


async def deactivate_user(ctx: Context, user_id: uuid.UUID) -> User:
    """The ``deactivateUser`` mutation: HR or ADMIN, never on oneself.

    The user's sessions end at once. Their direct reports move to the user's own manager (or
    to no manager), so nobody reports to an inactive account; departments they headed lose
    their head. The last active ADMIN cannot be deactivated. Deactivating an inactive user
    changes nothing.
    """
    user = await _user(user_id, "userId")
    await require(ctx, p.DEACTIVATE_USER, user, "deactivateUser")
    if not user.is_active:
        return user
    async with in_transaction():
        if await UserRole.exists(user_id=user.id, role=Role.ADMIN):
            await _keep_an_admin(ctx, user, "deactivateUser")
        await lock_tree()
        # conditional: of two requests racing, only the one that flips the flag goes on
        flipped = await User.filter(id=user.id, is_active=True).update(
            is_active=False, security_stamp=new_security_stamp(), updated_at=datetime.now(UTC)
        )
        if flipped:
            manager_id = await User.filter(id=user.id).first().values_list("manager_id", flat=True)
            moved = await User.filter(manager_id=user.id).update(manager_id=manager_id)
            unheaded = await Department.filter(head_id=user.id).update(head_id=None)
            detail = f"{moved} direct reports moved to {manager_id or 'no manager'}"
            if unheaded:
                detail += f"; head of {unheaded} departments no more"
            await record(ctx, AuditAction.USER_DEACTIVATED, target_id=user.id, detail=detail)
            await end_sessions(ctx.services, user.id, "deactivated")
    await user.refresh_from_db()
    ctx.loaders.forget_people()
    ctx.loaders.prime_users([user])
    return user


async def create_department(ctx: Context, name: str, head_id: uuid.UUID | None) -> Department:
    """The ``createDepartment`` mutation: HR or ADMIN; names are unique whatever their case."""
    clean = clean_text(name, "name", max_length=200, required=True)
    assert clean is not None
    if head_id is not None and not await User.exists(id=head_id, is_active=True):
        raise NotFound("No active user with this id", field="headId")
    key = clean.casefold()
    try:
        async with in_transaction():
            # the unique index is case-sensitive: serialise creations of one folded name
            await hold_lock(f"staffgraph.department:{key}")
            names = await Department.all().values_list("name", flat=True)
            if any(str(existing).casefold() == key for existing in names):
                raise BadUserInput(f"A department named {clean} exists already", field="name")
            department = await Department.create(name=clean, head_id=head_id)
    except IntegrityError:
        raise BadUserInput(f"A department named {clean} exists already", field="name") from None
    ctx.loaders.department.prime(department.id, department)
    return department


async def create_review(ctx: Context, data: Any) -> Review:
    """The ``createReview`` mutation: a MANAGER reviews someone below them.

    The guard checked MANAGER; the subject is loaded, then the whole rule is checked on it.
    One review per subject, reviewer and period.
    """
    with fields_under("input"):
        subject_id = parse_id(data.subject_id, "subjectId")
        subject = await User.get_or_none(id=subject_id, is_active=True)
        if subject is None:
            raise NotFound("No active user with this id", field="subjectId")
    await require(ctx, p.WRITE_REVIEW, subject, "createReview")
    assert ctx.viewer is not None
    with fields_under("input"):
        period = clean_text(data.period, "period", max_length=32, required=True)
        assert period is not None
        if not _PERIOD_RE.match(period):
            raise BadUserInput(
                "period may hold letters, digits, spaces and . _ / -", field="period"
            )
        rating = check_range(data.rating, "rating", 1, 5)
        summary = clean_text(
            data.summary, "summary", max_length=10_000, required=True, multiline=True
        )
    taken = BadUserInput("This subject has a review of yours for this period", field="input.period")
    try:
        async with in_transaction():
            if await Review.exists(
                subject_id=subject.id, reviewer_id=ctx.viewer.user_id, period=period
            ):
                raise taken
            review = await Review.create(
                subject_id=subject.id,
                reviewer_id=ctx.viewer.user_id,
                period=period,
                rating=rating,
                summary=summary,
            )
    except IntegrityError:
        raise taken from None
    ctx.loaders.forget_user(subject.id)
    return review


@dataclass(frozen=True, slots=True)
class _NoSuchReview:
    """Stands for an absent review in the permission check: nobody wrote it."""

    id: uuid.UUID
    reviewer_id: None = None
    subject_id: None = None


async def share_review(ctx: Context, review_id: uuid.UUID) -> Review:
    """The ``shareReview`` mutation: the reviewer lets the subject read the review.

    To a viewer who may not read every review, a review that does not exist is refused exactly
    like someone else's (FORBIDDEN), so review ids cannot be probed; HR, who reads them all,
    gets NOT_FOUND.
    """
    review = await Review.get_or_none(id=review_id)
    if review is None:
        viewer = ctx.viewer
        if viewer is not None and viewer.has_role(Role.HR):
            raise NotFound("No review with this id", field="id")
        await require(ctx, p.SHARE_REVIEW, _NoSuchReview(review_id), "shareReview")
        raise NotFound("No review with this id", field="id")  # unreachable: nobody wrote it
    await require(ctx, p.SHARE_REVIEW, review, "shareReview")
    if not review.shared:
        await Review.filter(id=review.id).update(shared=True)
        review.shared = True
    ctx.loaders.forget_user(review.subject_id)
    return review
