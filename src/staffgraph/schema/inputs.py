"""Input types of API.md §4."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from staffgraph.schema.types import Role


@strawberry.input(description="Narrows `users`; every given condition must hold.")
class UserFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the name, email or job title, any case."
    )
    department_id: strawberry.ID | None = None
    manager_id: strawberry.ID | None = None
    is_active: bool | None = strawberry.field(
        default=None, description="HR and ADMIN only; others see active users alone."
    )


@strawberry.input(description="What a user may change about themselves.")
class MyProfileInput:
    display_name: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    home_address: str | None = strawberry.UNSET


@strawberry.input(description="A new user.")
class CreateUserInput:
    email: str
    display_name: str
    password: str
    job_title: str | None = None
    department_id: strawberry.ID | None = None
    manager_id: strawberry.ID | None = None
    roles: list[Role] | None = strawberry.field(
        default=None,
        description="Defaults to [EMPLOYEE]; at least one. HR may grant EMPLOYEE and MANAGER, "
        "only ADMIN may grant HR or ADMIN.",
    )


@strawberry.input(description="HR's changes to a user; omitted fields stay, null clears.")
class UpdateUserInput:
    job_title: str | None = strawberry.UNSET
    department_id: strawberry.ID | None = strawberry.UNSET
    manager_id: strawberry.ID | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    home_address: str | None = strawberry.UNSET
    date_of_birth: date | None = strawberry.UNSET


@strawberry.input(description="A new performance review.")
class CreateReviewInput:
    subject_id: strawberry.ID
    period: str
    rating: int
    summary: str


def provided(data: object) -> dict[str, Any]:
    """The fields of an input object the client gave (null included), by Python name.

    An omitted field is UNSET and stays as it is; an explicit null clears it.
    """
    return {name: value for name, value in vars(data).items() if value is not strawberry.UNSET}
