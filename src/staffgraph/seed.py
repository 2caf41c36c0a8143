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
    """Create whichever demo people are missing (keyed by email); return the lines to print.

    People who exist already, whoever made them, are left exactly as they are; the new ones
    get their departments, managers and random passwords, printed once.
    """
    hasher = PasswordHasher(settings.bcrypt_rounds)
    try:
        async with in_transaction():  # all of it or nothing: a failed seed can simply rerun
            credentials, kept = await _create_people(hasher)
    finally:
        hasher.close()
    if not credentials:
        return [f"demo organisation exists already ({len(kept)} people); nothing changed"]
    lines = ["demo people created; sign in with:", *credentials]
    if kept:
        lines.append(f"already there, left unchanged: {', '.join(kept)}")
    return lines


def _new_password(email: str, name: str) -> str:
    """A random password the policy accepts (a random draw may, rarely, look like a pattern)."""
    while True:
        password = secrets.token_urlsafe(12)
        if strength_refusal(password, email=email, name=name) is None:
            return password


async def _create_people(hasher: PasswordHasher) -> tuple[list[str], list[str]]:
    """Create the missing people, their departments and heads.

    Returns one credentials line per person created, and the emails of those kept.
    """
    lines: list[str] = []
    kept: list[str] = []
    people: dict[str, User] = {}
    for index, (key, name, title, dept_name, manager_key, roles, salary) in enumerate(_PEOPLE):
        email = f"{key}@{DEMO_DOMAIN}"
        existing = await User.get_or_none(email=email)
        if existing is not None:
            people[key] = existing
            kept.append(email)
            continue
        department, _ = await Department.get_or_create(name=dept_name)
        password = _new_password(f"{key}@{DEMO_DOMAIN}", name)
        user = await create_user(
            hasher,
            email=email,
            display_name=name,
            password=password,
            roles=[Role.EMPLOYEE, *roles],
            job_title=title,
            department_id=department.id,
            manager_id=people[manager_key].id if manager_key else None,
        )
        user.salary = salary
        user.phone = f"+44 20 7946 0{index:03d}"
        user.home_address = f"{index + 1} Demo Street, London"
        await user.save(update_fields=["salary", "phone", "home_address"])
        people[key] = user
        lines.append(f"  {user.email:<28} {password}  ({', '.join(r.value for r in roles)})")
    for dept_name, head_key in (
        ("Leadership", "ada"),
        ("Engineering", "grace"),
        ("People", "frances"),
    ):
        # a department someone already leads keeps its head
        await Department.filter(name=dept_name, head_id__isnull=True).update(
            head_id=people[head_key].id
        )
    return lines, kept
