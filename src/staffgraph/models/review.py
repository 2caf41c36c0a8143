"""Performance reviews."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from staffgraph.models.hydration import FastHydration

if TYPE_CHECKING:
    from staffgraph.models.user import User


class Review(FastHydration, Model):
    """A review of ``subject`` written by ``reviewer``: the subject sees it once it is shared."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    subject: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="reviews", on_delete=fields.RESTRICT
    )
    reviewer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="written_reviews", on_delete=fields.RESTRICT
    )
    period = fields.CharField(max_length=32)
    rating = fields.SmallIntField()
    summary = fields.TextField()
    shared = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    subject_id: uuid.UUID
    reviewer_id: uuid.UUID

    class Meta:
        table = "reviews"
        indexes = (("reviewer_id",),)
        ordering = ["-created_at"]
        unique_together = (("subject", "reviewer", "period"),)
