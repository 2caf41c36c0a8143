"""Links to external identity providers and the one-time codes of OAuth sign-ins."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from staffgraph.models.hydration import FastHydration

if TYPE_CHECKING:
    from staffgraph.models.user import User


class OAuthAccount(FastHydration, Model):
    """An identity at a provider, keyed by (provider, subject), never by email alone."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="oauth_accounts", on_delete=fields.CASCADE
    )
    provider = fields.CharField(max_length=64)
    subject = fields.CharField(max_length=255)
    email = fields.CharField(max_length=254, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: uuid.UUID

    class Meta:
        table = "oauth_accounts"
        indexes = (("user_id",),)
        unique_together = (("provider", "subject"),)


class OAuthLoginCode(FastHydration, Model):
    """The one-time code an OAuth callback hands the frontend, stored only as its SHA-256."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    code_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="oauth_login_codes", on_delete=fields.CASCADE
    )
    provider = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    user_id: uuid.UUID

    class Meta:
        table = "oauth_login_codes"
        indexes = (("user_id",),)
