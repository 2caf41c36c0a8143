"""Users and their roles."""

from __future__ import annotations

import secrets
import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from staffgraph.models.hydration import FastHydration

if TYPE_CHECKING:
    from staffgraph.models.department import Department


class Role(StrEnum):
    """The role vocabulary of the whole API (API.md §4)."""

    EMPLOYEE = "EMPLOYEE"
    MANAGER = "MANAGER"
    HR = "HR"
    ADMIN = "ADMIN"


def new_security_stamp() -> str:
    """A fresh credentials stamp: 128 random bits, hex."""
    return secrets.token_hex(16)


class User(FastHydration, Model):
    """A member of staff. Email is stored lowercased, so uniqueness is case-insensitive.

    ``security_stamp`` changes with every credential change (password, roles, activation): a
    sign-in opens its session only if the stamp it checked is still the stored one.
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    email = fields.CharField(max_length=254, unique=True)
    display_name = fields.CharField(max_length=200)
    # null for accounts that only sign in through an OAuth provider
    password_hash = fields.CharField(max_length=128, null=True)
    job_title = fields.CharField(max_length=200, null=True)
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="members", null=True, on_delete=fields.RESTRICT
    )
    manager: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="reports", null=True, on_delete=fields.RESTRICT
    )
    phone = fields.CharField(max_length=50, null=True)
    home_address = fields.CharField(max_length=500, null=True)
    date_of_birth = fields.DateField(null=True)
    salary = fields.IntField(null=True)
    is_active = fields.BooleanField(default=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_login_at = fields.DatetimeField(null=True)
    # the database default only lets the migration add the column to existing rows (it then
    # stamps each); the ORM always writes a fresh stamp
    security_stamp = fields.CharField(max_length=32, default=new_security_stamp, db_default="")

    department_id: uuid.UUID | None
    manager_id: uuid.UUID | None
    roles: fields.ReverseRelation[UserRole]

    class Meta:
        table = "users"
        # the directory's pages in storage order (created_at, id), everyone's and the active
        # people's: read from the index as far as the page goes, never a sort of every match
        indexes = (
            ("manager_id",),
            ("department_id",),
            ("created_at", "id"),
            ("is_active", "created_at", "id"),
        )
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.email


class UserRole(FastHydration, Model):
    """One role held by one user."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="roles", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=16, db_index=True)

    user_id: uuid.UUID

    class Meta:
        table = "user_roles"
        unique_together = (("user", "role"),)
