"""Login sessions and their rotating refresh tokens."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from staffgraph.models.hydration import FastHydration

if TYPE_CHECKING:
    from staffgraph.models.user import User


class Session(FastHydration, Model):
    """One signed-in device: the ``sid`` of its access tokens, with an absolute expiry."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(db_index=True)
    revoked_at = fields.DatetimeField(null=True, db_index=True)
    revoke_reason = fields.CharField(max_length=32, null=True)
    user_agent = fields.CharField(max_length=500, null=True)
    ip_address = fields.CharField(max_length=45, null=True)

    user_id: uuid.UUID

    class Meta:
        table = "sessions"
        indexes = (("user_id", "created_at"),)
        ordering = ["-created_at"]


class RefreshToken(FastHydration, Model):
    """A refresh token, stored only as its SHA-256, single use, rotated on every refresh."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.ForeignKeyRelation[Session] = fields.ForeignKeyField(
        "models.Session", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # set when the token is exchanged; presenting it again after the reuse interval is theft
    used_at = fields.DatetimeField(null=True)

    session_id: uuid.UUID

    class Meta:
        table = "refresh_tokens"
        indexes = (("session_id",),)
