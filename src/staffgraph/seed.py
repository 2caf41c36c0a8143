"""``staffgraph seed``: a small demo organisation with printed credentials."""

from __future__ import annotations

import secrets

from tortoise.transactions import in_transaction

from staffgraph.auth.password_policy import strength_refusal
from staffgraph.auth.passwords import PasswordHasher
from staffgraph.models import Department, Role, User
from staffgraph.resolvers.staff import create_user
from staffgraph.settings import Settings

DEMO_DOMAIN = "example.com"

# (key, name, title, department, manager key, roles, salary)
_PEOPLE = [
    (
        "ada",
        "Ada Lovelace",
        "Chief Executive",
        "Leadership",
        None,
        [Role.ADMIN, Role.MANAGER],
        250_000,
    ),
    ("grace", "Grace Hopper", "VP Engineering", "Engineering", "ada", [Role.MANAGER], 190_000),
    ("alan", "Alan Turing", "Engineering Manager", "Engineering", "grace", [Role.MANAGER], 150_000),
    ("katherine", "Katherine Johnson", "Engineer", "Engineering", "alan", [Role.EMPLOYEE], 120_000),
    ("dennis", "Dennis Ritchie", "Engineer", "Engineering", "alan", [Role.EMPLOYEE], 118_000),
    ("frances", "Frances Allen", "HR Partner", "People", "ada", [Role.HR], 110_000),
]


async def seed(settings: Settings) -> list[str]:
    """Create the demo organisation unless it exists; return the lines to print."""
    first_email = f"{_PEOPLE[0][0]}@{DEMO_DOMAIN}"
    if await User.exists(email=first_email):
        return [f"demo organisation exists already ({first_email}); nothing changed"]
    hasher = PasswordHasher(settings.bcrypt_rounds)
    try:
        async with in_transaction():  # all of it or nothing: a failed seed can simply rerun
            credentials = await _create_people(hasher)
    finally:
        hasher.close()
    return ["demo organisation created; sign in with:", *credentials]


def _new_password(email: str, name: str) -> str:
    """A random password the policy accepts (a random draw may, rarely, look like a pattern)."""
    while True:
        password = secrets.token_urlsafe(12)
        if strength_refusal(password, email=email, name=name) is None:
            return password


async def _create_people(hasher: PasswordHasher) -> list[str]:
    """Create the people, their departments and heads; one credentials line per person."""
    lines: list[str] = []
    created: dict[str, User] = {}
    for key, name, title, dept_name, manager_key, roles, salary in _PEOPLE:
        department, _ = await Department.get_or_create(name=dept_name)
        password = _new_password(f"{key}@{DEMO_DOMAIN}", name)
        user = await create_user(
            hasher,
            email=f"{key}@{DEMO_DOMAIN}",
            display_name=name,
            password=password,
            roles=[Role.EMPLOYEE, *roles],
            job_title=title,
            department_id=department.id,
            manager_id=created[manager_key].id if manager_key else None,
        )
        user.salary = salary
        user.phone = f"+44 20 7946 0{len(created):03d}"
        user.home_address = f"{len(created) + 1} Demo Street, London"
        await user.save(update_fields=["salary", "phone", "home_address"])
        created[key] = user
        lines.append(f"  {user.email:<28} {password}  ({', '.join(r.value for r in roles)})")
    for dept_name, head_key in (
        ("Leadership", "ada"),
        ("Engineering", "grace"),
        ("People", "frances"),
    ):
        await Department.filter(name=dept_name).update(head_id=created[head_key].id)
    return lines
