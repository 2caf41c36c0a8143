"""The Mutation type: every mutation checks its rule before any side effect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from staffgraph.context import Info
from staffgraph.permissions import ANYONE, AUTHENTICATED, Rule, guarded
from staffgraph.permissions import policy as p
from staffgraph.resolvers import oauth, sessions, staff
from staffgraph.schema.inputs import (
    CreateReviewInput,
    CreateUserInput,
    MyProfileInput,
    UpdateUserInput,
    provided,
)
from staffgraph.schema.scalars import parse_id
from staffgraph.schema.types import AuthPayload, Department, Review, Role, User


async def _login(info: Info, email: str, password: str) -> AuthPayload:
    return await sessions.login(info.context, email, password)  # type: ignore[return-value]


async def _refresh_token(info: Info, refresh_token: str) -> AuthPayload:
    return await sessions.refresh(info.context, refresh_token)  # type: ignore[return-value]


async def _exchange_o_auth_code(info: Info, code: str) -> AuthPayload:
    return await oauth.exchange_oauth_code(info.context, code)  # type: ignore[return-value]


async def _logout(info: Info) -> bool:
    return await sessions.logout(info.context)


async def _logout_all(info: Info) -> int:
    return await sessions.logout_all(info.context)


async def _revoke_session(info: Info, id: strawberry.ID) -> bool:
    return await sessions.revoke_session(info.context, parse_id(id, "id"))


async def _change_password(info: Info, current_password: str, new_password: str) -> bool:
    return await sessions.change_password(info.context, current_password, new_password)


async def _update_my_profile(info: Info, input: MyProfileInput) -> User:
    return await staff.update_my_profile(info.context, provided(input))  # type: ignore[return-value]


async def _create_user(info: Info, input: CreateUserInput) -> User:
    return await staff.create_user_from_input(info.context, input)  # type: ignore[return-value]


async def _update_user(info: Info, id: strawberry.ID, input: UpdateUserInput) -> User:
    changes = provided(input)
    return await staff.update_user(info.context, parse_id(id, "id"), changes)  # type: ignore[return-value]


async def _set_salary(info: Info, user_id: strawberry.ID, salary: int) -> User:
    return await staff.set_salary(info.context, parse_id(user_id, "userId"), salary)  # type: ignore[return-value]


async def _set_roles(info: Info, user_id: strawberry.ID, roles: list[Role]) -> User:
    return await staff.set_roles(info.context, parse_id(user_id, "userId"), roles)  # type: ignore[return-value]


async def _deactivate_user(info: Info, user_id: strawberry.ID) -> User:
    return await staff.deactivate_user(info.context, parse_id(user_id, "userId"))  # type: ignore[return-value]


async def _create_department(
    info: Info, name: str, head_id: strawberry.ID | None = None
) -> Department:
    head = parse_id(head_id, "headId") if head_id else None
    return await staff.create_department(info.context, name, head)  # type: ignore[return-value]


async def _create_review(info: Info, input: CreateReviewInput) -> Review:
    return await staff.create_review(info.context, input)  # type: ignore[return-value]


async def _share_review(info: Info, id: strawberry.ID) -> Review:
    return await staff.share_review(info.context, parse_id(id, "id"))  # type: ignore[return-value]


def _mutation(
    rule: Rule,
    description: str,
    resolver: Callable[..., Any],
    audit: bool = True,
    on_target: bool = False,
) -> Any:
    return guarded(
        rule, description, resolver=resolver, audit=audit, mutation=True, on_target=on_target
    )


@strawberry.type(description="Changing the directory and signing in and out.")
class Mutation:
    login: AuthPayload = _mutation(
        ANYONE, "Sign in with email and password; rate limited.", _login, audit=False
    )
    refresh_token: AuthPayload = _mutation(
        ANYONE,
        "Exchange a refresh token for new tokens; the old one is spent.",
        _refresh_token,
        audit=False,
    )
    exchange_o_auth_code: AuthPayload = _mutation(
        ANYONE,
        "Exchange the one-time code of an OAuth sign-in.",
        _exchange_o_auth_code,
        audit=False,
    )
    logout: bool = _mutation(AUTHENTICATED, "End the current session.", _logout, audit=False)
    logout_all: int = _mutation(
        AUTHENTICATED,
        "End every session of the viewer; returns how many.",
        _logout_all,
        audit=False,
    )
    revoke_session: bool = _mutation(
        p.REVOKE_SESSION, "End one session.", _revoke_session, on_target=True
    )
    change_password: bool = _mutation(
        AUTHENTICATED,
        "Change the viewer's password; ends their other sessions.",
        _change_password,
        audit=False,
    )
    update_my_profile: User = _mutation(
        p.UPDATE_MY_PROFILE,
        "Change the viewer's display name, phone and home address.",
        _update_my_profile,
        audit=False,
    )
    create_user: User = _mutation(
        p.MANAGE_USERS,
        "Create a user. HR may grant EMPLOYEE and MANAGER; granting HR or ADMIN takes an ADMIN.",
        _create_user,
    )
    update_user: User = _mutation(
        p.UPDATE_USER, "Change a user's work and private details.", _update_user
    )
    set_salary: User = _mutation(
        p.SET_SALARY, "Set a user's yearly salary, never one's own.", _set_salary, on_target=True
    )
    set_roles: User = _mutation(
        p.SET_ROLES,
        "Replace a user's roles (at least one) and end their sessions; the last active ADMIN "
        "keeps the role.",
        _set_roles,
    )
    deactivate_user: User = _mutation(
        p.DEACTIVATE_USER,
        "Deactivate a user (never oneself) and end their sessions; their direct reports move "
        "to their own manager, and departments they headed lose their head. The last active "
        "ADMIN cannot be deactivated.",
        _deactivate_user,
        on_target=True,
    )
    create_department: Department = _mutation(
        p.CREATE_DEPARTMENT, "Create a department (names are unique, any case).", _create_department
    )
    create_review: Review = _mutation(
        p.WRITE_REVIEW,
        "Write a review of someone the viewer manages.",
        _create_review,
        on_target=True,
    )
    share_review: Review = _mutation(
        p.SHARE_REVIEW, "Share a review with its subject.", _share_review, on_target=True
    )
