"""The audit trail."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from staffgraph.models.hydration import FastHydration

if TYPE_CHECKING:
    from staffgraph.models.user import User


class AuditAction(StrEnum):
    """Every action the audit trail records (API.md §4)."""

    LOGIN_SUCCEEDED = "LOGIN_SUCCEEDED"
    LOGIN_FAILED = "LOGIN_FAILED"
    TOKEN_REFRESHED = "TOKEN_REFRESHED"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    LOGOUT = "LOGOUT"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    ROLES_CHANGED = "ROLES_CHANGED"
    USER_CREATED = "USER_CREATED"
    USER_UPDATED = "USER_UPDATED"
    USER_DEACTIVATED = "USER_DEACTIVATED"
    SALARY_CHANGED = "SALARY_CHANGED"
    ACCESS_DENIED = "ACCESS_DENIED"
    OAUTH_LINKED = "OAUTH_LINKED"


class AuditEvent(FastHydration, Model):
    """One audited action. Users are deactivated, never deleted, so the actor stays."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    action = fields.CharEnumField(AuditAction, max_length=32, db_index=True)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="audit_events", null=True, on_delete=fields.RESTRICT
    )
    target_id = fields.UUIDField(null=True, db_index=True)
    ip_address = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=500, null=True)
    detail = fields.CharField(max_length=1000, null=True)

    actor_id: uuid.UUID | None

    class Meta:
        table = "audit_events"
        indexes = (("actor_id",),)
        ordering = ["-at", "-id"]
