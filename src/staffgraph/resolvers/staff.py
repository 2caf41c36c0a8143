"""Changing the directory: users, salaries, roles, departments and reviews."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from staffgraph.errors import BadUserInput, NotFound
from staffgraph.models import AuditAction, Department, Role, User, UserRole
from staffgraph.resolvers.audit import record
from staffgraph.resolvers.validation import clean_email, clean_text

if TYPE_CHECKING:
    from staffgraph.auth.passwords import PasswordHasher
    from staffgraph.context import Context


class EmailTaken(BadUserInput):
    """A user with this email exists already."""

    def __init__(self, email: str) -> None:
        super().__init__(f"A user with email {email} already exists", field="email")


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
    from staffgraph.auth.policy import check_new_password

    email = clean_email(email)
    name = clean_text(display_name, "displayName", max_length=200, required=True)
    title = clean_text(job_title, "jobTitle", max_length=200)
    if password is not None:
        check_new_password(password, email=email, field="password")
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
            await UserRole.bulk_create([UserRole(user=user, role=r) for r in set(roles)])
            await record(ctx, AuditAction.USER_CREATED, actor_id=actor_id, target_id=user.id)
    except IntegrityError:
        # two requests racing for one email: the unique index decides
        raise EmailTaken(email) from None
    return user


async def create_user_from_input(ctx: Context, data: Any) -> User:
    """The ``createUser`` mutation."""
    raise NotImplementedError


async def update_my_profile(ctx: Context, data: Any) -> User:
    """The ``updateMyProfile`` mutation."""
    raise NotImplementedError


async def update_user(ctx: Context, user_id: uuid.UUID, data: Any) -> User:
    """The ``updateUser`` mutation."""
    raise NotImplementedError


async def set_salary(ctx: Context, user_id: uuid.UUID, salary: int) -> User:
    """The ``setSalary`` mutation."""
    raise NotImplementedError


async def set_roles(ctx: Context, user_id: uuid.UUID, roles: list[Role]) -> User:
    """The ``setRoles`` mutation."""
    raise NotImplementedError


async def deactivate_user(ctx: Context, user_id: uuid.UUID) -> User:
    """The ``deactivateUser`` mutation."""
    raise NotImplementedError


async def create_department(ctx: Context, name: str, head_id: uuid.UUID | None) -> Department:
    """The ``createDepartment`` mutation."""
    raise NotImplementedError


async def create_review(ctx: Context, data: Any) -> Any:
    """The ``createReview`` mutation."""
    raise NotImplementedError


async def share_review(ctx: Context, review_id: uuid.UUID) -> Any:
    """The ``shareReview`` mutation."""
    raise NotImplementedError
