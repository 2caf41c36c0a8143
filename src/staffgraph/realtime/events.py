"""What is published: changes to users and the audit trail, as ids only.

An event never carries data: each subscriber reads the row again at delivery, through the same
field rules as a query, so what one may not read never travels to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from staffgraph.models import AuditAction


class DirectoryEventKind(StrEnum):
    """How a user changed."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DEACTIVATED = "DEACTIVATED"


class SessionEndReason(StrEnum):
    """Why a session ended, as ``sessionEnded`` tells it."""

    LOGOUT = "LOGOUT"
    REVOKED = "REVOKED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    ROLES_CHANGED = "ROLES_CHANGED"
    DEACTIVATED = "DEACTIVATED"
    EXPIRED = "EXPIRED"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"


#: the audit actions that say a user changed, and how
USER_CHANGES: dict[AuditAction, DirectoryEventKind] = {
    AuditAction.USER_CREATED: DirectoryEventKind.CREATED,
    AuditAction.USER_UPDATED: DirectoryEventKind.UPDATED,
    AuditAction.SALARY_CHANGED: DirectoryEventKind.UPDATED,
    AuditAction.ROLES_CHANGED: DirectoryEventKind.UPDATED,
    AuditAction.USER_DEACTIVATED: DirectoryEventKind.DEACTIVATED,
}

#: ``sessions.revoke_reason`` -> what ``sessionEnded`` says
SESSION_END_REASONS: dict[str, SessionEndReason] = {
    "logout": SessionEndReason.LOGOUT,
    "logout_all": SessionEndReason.LOGOUT,
    "revoked": SessionEndReason.REVOKED,
    "password_changed": SessionEndReason.PASSWORD_CHANGED,
    "roles_changed": SessionEndReason.ROLES_CHANGED,
    "deactivated": SessionEndReason.DEACTIVATED,
    "refresh_token_reused": SessionEndReason.REFRESH_TOKEN_REUSED,
}


@dataclass(frozen=True, slots=True)
class UserChanged:
    """A user was created, updated or deactivated."""

    user_id: uuid.UUID
    kind: DirectoryEventKind
    topic = "users"

    def to_json(self) -> dict[str, Any]:
        """The message sent to other instances."""
        return {"topic": self.topic, "user_id": str(self.user_id), "kind": self.kind.value}


@dataclass(frozen=True, slots=True)
class AuditEventAdded:
    """An audit event was written."""

    event_id: uuid.UUID
    action: AuditAction
    topic = "audit"

    def to_json(self) -> dict[str, Any]:
        """The message sent to other instances."""
        return {"topic": self.topic, "event_id": str(self.event_id), "action": self.action.value}


Event = UserChanged | AuditEventAdded


def event_from_json(data: Any) -> Event | None:
    """An event received from another instance, or None when it is not one of ours."""
    try:
        if data["topic"] == UserChanged.topic:
            return UserChanged(uuid.UUID(data["user_id"]), DirectoryEventKind(data["kind"]))
        if data["topic"] == AuditEventAdded.topic:
            return AuditEventAdded(uuid.UUID(data["event_id"]), AuditAction(data["action"]))
    except (KeyError, TypeError, ValueError):
        return None
    return None
