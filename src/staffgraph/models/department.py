"""Departments."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from staffgraph.models.hydration import FastHydration

if TYPE_CHECKING:
    from staffgraph.models.user import User


class Department(FastHydration, Model):
    """A department: members point at it, and its head is one user."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    name = fields.CharField(max_length=200, unique=True)
    head: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="headed_departments", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    head_id: uuid.UUID | None

    class Meta:
        table = "departments"
        indexes = (("head_id",),)
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
